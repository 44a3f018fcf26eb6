use super::*;

fn write_example(dir: &Path) -> PathBuf {
    let path = dir.join("mintmark.toml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/mintmark.example.toml"), &path).unwrap();
    assert!(ensure_secrets_file(&dir.join("secrets.toml")).unwrap());
    path
}

#[test]
fn example_config_loads_with_generated_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_example(dir.path());
    let config = Config::load_with_env(&path, Env::prefixed("MMTEST_NONE_"), true).unwrap();
    assert_eq!(config.edge.session_idle_minutes, 30);
    assert_eq!(config.edge_signing_keys().unwrap().signing_key().id(), "edge-1");
    assert_eq!(config.consent_keys().unwrap().signing_key().id(), "consent-1");
    let settings = config.edge_settings();
    assert_eq!(settings.visitor_max_age_secs, 365 * 86_400);
    assert!(settings.scope.contains("https://shop.example.gov/store/cart"));
}

#[test]
fn an_older_secrets_file_gains_the_pseudonym_key_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secrets.toml");
    let old: String = generate_secrets_toml().lines().filter(|l| !l.starts_with("pseudonym")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&p, &old).unwrap();
    assert!(!ensure_secrets_file(&p).unwrap());
    let now = std::fs::read_to_string(&p).unwrap();
    assert!(now.starts_with(&old), "the existing keys are kept");
    let keys: toml::Table = toml::from_str(&now).unwrap();
    assert_eq!(keys["keys"]["pseudonym"].as_str().unwrap().len(), 64);
    ensure_secrets_file(&p).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), now, "added once");
}

#[test]
fn an_older_secrets_file_gains_the_subject_key_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secrets.toml");
    // A file from before subjects: the dashboards' `audit` key, no `subject`.
    let old: String = generate_secrets_toml().lines().map(|l| l.replace("subject =", "audit =")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&p, &old).unwrap();
    ensure_secrets_file(&p).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let keys: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(keys["keys"]["subject"].as_str().unwrap().len(), 64);
    assert!(keys["keys"]["audit"].is_str(), "the old key stays, ignored");
    assert_eq!(keys["keys"]["pseudonym"].as_str().unwrap().len(), 64, "the pseudonym line is not doubled");
}

#[test]
fn an_older_secrets_file_loses_its_all_powerful_backend_key_for_one_per_scope() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secrets.toml");
    let old: String = generate_secrets_toml()
        .lines()
        .map(|l| if l.starts_with("backend") { "consent_api = [{ id = \"store-backend\", secret = \"0123456789abcdef0123\" }]".to_string() } else { l.to_string() })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&p, &old).unwrap();
    ensure_secrets_file(&p).unwrap();
    let now = std::fs::read_to_string(&p).unwrap();
    assert!(!now.contains("consent_api"), "{now}");
    let keys: KeysSection = toml::from_str::<toml::Table>(&now).unwrap()["keys"].clone().try_into().unwrap();
    let scopes: Vec<Vec<BackendScope>> = keys.backend.iter().map(|k| k.scopes.clone()).collect();
    assert_eq!(scopes, [vec![BackendScope::Orders], vec![BackendScope::Consent], vec![BackendScope::Erasure]]);
    assert_eq!(keys.backend_secret(BackendScope::Erasure).map(str::len), Some(64));
}

#[test]
fn backend_keys_need_scopes_and_the_old_key_is_refused_with_directions() {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/mintmark.example.toml")).unwrap();
    let with = |keys: &str| Config::from_toml(&format!("{base}\n[keys]\n{keys}\n"));
    let ok = with(r#"backend = [{ id = "pos", secret = "0123456789abcdef", scopes = ["orders"] }]"#).unwrap();
    assert_eq!(ok.keys.backend[0].scopes, [BackendScope::Orders]);
    let none = with(r#"backend = [{ id = "pos", secret = "0123456789abcdef", scopes = [] }]"#).unwrap_err().to_string();
    assert!(none.contains("at least one scope"), "{none}");
    let unknown = with(r#"backend = [{ id = "pos", secret = "0123456789abcdef", scopes = ["everything"] }]"#).unwrap_err().to_string();
    assert!(unknown.contains("everything"), "{unknown}");
    let old = with(r#"consent_api = [{ id = "store-backend", secret = "0123456789abcdef" }]"#).unwrap_err().to_string();
    assert!(old.contains("replaced by keys.backend"), "{old}");
}

#[test]
fn retention_defaults_and_their_checks() {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/mintmark.example.toml")).unwrap();
    let config = Config::from_toml(&base).unwrap();
    assert_eq!(config.retention, RetentionSection::default(), "the example states the defaults");
    assert_eq!(config.retention.days("t3_orders"), Some(2192));
    for (bad, says) in [
        ("t3_events_days = 0", "t3_events_days must be at least 1"),
        ("consent_ledger_days = 100", "evidence behind every Tier 3 row"),
        ("t2_rollups_days = 30", "built from the raw events"),
        ("purge_log_days = 400", "evidence of every purge"),
        ("purge_every_hours = 0", "purge_every_hours"),
    ] {
        let key = bad.split(' ').next().unwrap();
        let text: String = base.lines().map(|l| if l.starts_with(key) { format!("{bad}\n") } else { format!("{l}\n") }).collect();
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn secrets_are_generated_once_and_differ() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.toml");
    assert!(ensure_secrets_file(&p).unwrap());
    let first = std::fs::read_to_string(&p).unwrap();
    assert!(!ensure_secrets_file(&p).unwrap());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), first, "an existing secrets file is kept");
    assert_ne!(generate_secrets_toml(), generate_secrets_toml());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_example(dir.path());
    std::env::set_var("MMTEST_ENV_COLLECTOR__LISTEN", "127.0.0.1:9999");
    std::env::set_var("MMTEST_ENV_EDGE__SESSION_IDLE_MINUTES", "5");
    let config = Config::load_with_env(&path, Env::prefixed("MMTEST_ENV_").split("__"), true).unwrap();
    assert_eq!(config.collector.listen.port(), 9999);
    assert_eq!(config.edge.session_idle_minutes, 5);
}

#[test]
fn missing_secrets_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mintmark.toml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/mintmark.example.toml"), &path).unwrap();
    let err = Config::load_with_env(&path, Env::prefixed("MMTEST_NONE_"), true).unwrap_err().to_string();
    assert!(err.contains("secrets.toml"), "{err}");
}

#[test]
fn unusable_scope_and_misplaced_beacon_path_are_rejected() {
    let err = Config::from_toml("[store]\norigins = []\npath_prefixes = [\"/store\"]\n").unwrap_err().to_string();
    assert!(err.contains("[store]"), "{err}");
    let err = Config::from_toml(
        "[store]\norigins = [\"https://a.example\"]\npath_prefixes = [\"/store\"]\n[edge]\nbeacon_path = \"/collect\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("beacon_path"), "{err}");
    let err = Config::from_toml("[store]\norigins = [\"https://a.example\"]\npath_prefixes = [\"/store\"]\n[edge]\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus"), "unknown keys are errors, not silently ignored: {err}");
}

#[test]
fn keys_are_required_where_used() {
    let config = Config::from_toml("[store]\norigins = [\"https://a.example\"]\npath_prefixes = [\"/store\"]\n").unwrap();
    assert!(matches!(config.edge_signing_keys(), Err(ConfigError::Keys(KeyError::Empty))));
}

#[test]
fn committed_wrangler_toml_is_what_the_example_config_generates() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/mintmark.example.toml")).unwrap();
    let config = Config::from_toml(&text).unwrap();
    let generated = wrangler_toml(&config, "../target/dist/edge/shim.mjs").unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../edge-worker/wrangler.toml")).unwrap();
    assert_eq!(
        committed, generated,
        "edge-worker/wrangler.toml is stale: regenerate with `cargo run -p mintmark-config -- --config config/mintmark.example.toml wrangler > edge-worker/wrangler.toml`"
    );
    let parsed: toml::Value = toml::from_str(&generated).unwrap();
    assert_eq!(parsed["routes"][0]["pattern"].as_str(), Some("shop.example.gov/store/_mm/*"), "route limited to the beacon path");
    let vars = parsed["vars"]["EDGE_CONFIG"].as_str().unwrap();
    let settings: mintmark_protocol::settings::EdgeSettings = serde_json::from_str(vars).unwrap();
    assert_eq!(settings, config.edge_settings());
    assert!(!generated.contains("secret ="), "no secret values in wrangler.toml");
}

#[test]
fn wrangler_needs_a_kv_namespace() {
    let config = Config::from_toml("[store]\norigins = [\"https://a.example\"]\npath_prefixes = [\"/store\"]\n").unwrap();
    let err = wrangler_toml(&config, "x").unwrap_err().to_string();
    assert!(err.contains("revocations_kv_id"), "{err}");
}
