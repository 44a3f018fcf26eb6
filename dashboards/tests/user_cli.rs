//! `dashboards user ...` as an operator runs it: the real binary, a config
//! file, the password on stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(config: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dashboards"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mintmark.toml");
    let data = dir.path().join("dash");
    std::fs::write(
        &config,
        format!(
            "[store]\norigins = [\"https://shop.example.gov\"]\npath_prefixes = [\"/store\"]\n[dashboards]\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let added = run(&config, &["user", "add", "ana", "--roles", "analyst,marketing"], "correct horse battery\n");
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("added ana (analyst,marketing)"));

    let weak = run(&config, &["user", "add", "bob", "--roles", "analyst"], "short\n");
    assert!(!weak.status.success());
    assert!(text(&weak).contains("at least 12 characters"), "{}", text(&weak));
    let bad_role = run(&config, &["user", "add", "bob", "--roles", "root"], "correct horse battery\n");
    assert!(!bad_role.status.success() && text(&bad_role).contains("unknown role"), "{}", text(&bad_role));

    assert!(run(&config, &["user", "disable", "ana"], "").status.success());
    let list = run(&config, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "ana\tanalyst,marketing\tdisabled\n");
    let missing = run(&config, &["user", "set-roles", "nobody", "--roles", "admin"], "");
    assert!(!missing.status.success() && text(&missing).contains("no user named"), "{}", text(&missing));
    assert!(data.join("accounts.sqlite3").exists());
}
