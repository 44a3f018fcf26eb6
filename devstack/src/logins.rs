//! Demo dashboard logins for `make up`: one user per role, created through
//! the real `dashboards user add` command the first time, with random
//! passwords kept (mode 0600) in the state directory and printed on every
//! start. Never used outside `make up`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use rand::RngCore;

use crate::Layout;

/// `(user, roles)` of the demo accounts.
const DEMO_USERS: [(&str, &str); 4] =
    [("admin", "admin"), ("analyst", "analyst"), ("marketing", "marketing"), ("privacy", "privacy_officer")];

/// The file the logins are kept in.
pub const LOGINS_FILE: &str = "demo-logins.txt";

/// Creates the demo users once; returns `user password` lines.
pub fn ensure(layout: &Layout, state_dir: &Path, config_path: &Path) -> anyhow::Result<Vec<String>> {
    let path = state_dir.join(LOGINS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.lines().map(String::from).collect());
    }
    let mut lines = Vec::new();
    for (name, roles) in DEMO_USERS {
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        let password = hex::encode(bytes);
        let mut child = Command::new(layout.binary("dashboards"))
            .arg("--config")
            .arg(config_path)
            .args(["user", "add", name, "--roles", roles])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running dashboards user add")?;
        child.stdin.take().expect("piped").write_all(format!("{password}\n").as_bytes())?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(out.status.success(), "dashboards user add {name}: {}", String::from_utf8_lossy(&out.stderr));
        lines.push(format!("{name} {password}"));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(&path)?.write_all(format!("{}\n", lines.join("\n")).as_bytes())?;
    Ok(lines)
}

/// The demo's goals, made once through `dashboards goal add` by the demo
/// analyst: a custom event, a pageview pattern and a purchase over a value,
/// so the goals page has something to show on a first `make up`.
pub fn ensure_demo_goals(layout: &Layout, config_path: &Path) -> anyhow::Result<()> {
    let dashboards = || {
        let mut c = Command::new(layout.binary("dashboards"));
        c.arg("--config").arg(config_path);
        c
    };
    let listed = dashboards().args(["goal", "list"]).output().context("running dashboards goal list")?;
    anyhow::ensure!(listed.status.success(), "dashboards goal list: {}", String::from_utf8_lossy(&listed.stderr));
    if !listed.stdout.is_empty() {
        return Ok(());
    }
    let goals: [&[&str]; 3] = [
        &["Newsletter sign-up", "--kind", "event", "--event", "newsletter_signup"],
        &["Viewed a product", "--kind", "pageview", "--pattern", "/store/products/*"],
        &["Order over $100", "--kind", "purchase", "--min-value", "100"],
    ];
    for args in goals {
        let out = dashboards().args(["goal", "add"]).args(args).args(["--by", "analyst"]).output().context("running dashboards goal add")?;
        anyhow::ensure!(out.status.success(), "dashboards goal add {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
