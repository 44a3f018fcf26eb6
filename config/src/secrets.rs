//! Demo secrets, generated on first run.
//!
//! Nothing secret is ever committed: local runs and tests get fresh random
//! keys written next to their config, readable only by the owner.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A `[keys]` section with one fresh key per ring.
pub fn generate_secrets_toml() -> String {
    format!(
        "# Generated on first run. Never commit. Rotate by putting a new key first.\n\
         [keys]\n\
         edge_signing = [{{ id = \"edge-1\", secret = \"{}\" }}]\n\
         consent = [{{ id = \"consent-1\", secret = \"{}\" }}]\n\
         edge_metrics_token = \"{}\"\n\
         {}{}{}{}",
        random_hex(),
        random_hex(),
        random_hex(),
        backend_line(),
        late_line("dashboards_metrics_token"),
        late_line("pseudonym"),
        late_line("subject"),
    )
}

/// Keys added after the first release: a file that lacks one gains it.
const LATE_KEYS: [&str; 4] = ["pseudonym", "subject", "backend", "dashboards_metrics_token"];

/// One store-backend key per scope, so each integration gets only the one
/// it needs (the demo store's backend uses all three).
fn backend_line() -> String {
    let keys: Vec<String> = crate::BackendScope::ALL
        .iter()
        .map(|scope| format!("{{ id = \"store-{scope}\", secret = \"{}\", scopes = [\"{scope}\"] }}", random_hex()))
        .collect();
    format!("backend = [{}]\n", keys.join(", "))
}

/// A `[keys] <name> = "<fresh secret>"` line.
fn late_line(name: &str) -> String {
    match name {
        "backend" => backend_line(),
        _ => format!("{name} = \"{}\"\n", random_hex()),
    }
}

/// Whether `line` sets the key `name`.
fn sets(line: &str, name: &str) -> bool {
    line.trim_start().strip_prefix(name).is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// Writes a freshly generated secrets file at `path` unless one exists.
/// Returns true when it wrote one. A file from an older release that lacks
/// a key added since ([`LATE_KEYS`]) gets that key appended, nothing else.
pub fn ensure_secrets_file(path: &Path) -> std::io::Result<bool> {
    if path.exists() {
        let mut text = std::fs::read_to_string(path)?;
        // The all-powerful consent_api key of older releases goes: its
        // successors in `backend` each hold one scope.
        if text.lines().any(|l| sets(l, "consent_api")) {
            text = text.lines().filter(|l| !sets(l, "consent_api")).map(|l| format!("{l}\n")).collect();
            std::fs::write(path, &text)?;
        }
        let missing: String = LATE_KEYS.iter().filter(|k| !text.lines().any(|l| sets(l, k))).map(|k| late_line(k)).collect();
        if !missing.is_empty() {
            let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
            file.write_all(format!("{}{missing}", if text.ends_with('\n') || text.is_empty() { "" } else { "\n" }).as_bytes())?;
            file.sync_all()?;
        }
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(generate_secrets_toml().as_bytes())?;
    file.sync_all()?;
    Ok(true)
}
