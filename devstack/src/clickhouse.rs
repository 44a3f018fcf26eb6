//! A private ClickHouse server: own config, own data dir, loopback only.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::local_config::StateDirs;
use crate::process::{wait_for_http, Supervised};
use crate::Ports;

/// Where Debian's package puts the server.
const SERVER_BINARIES: &[&str] = &["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"];

fn server_binary() -> anyhow::Result<&'static str> {
    SERVER_BINARIES
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
        .context("clickhouse-server is not installed (scripts/bootstrap.sh installs Debian's clickhouse-server)")
}

/// One server's config: its own directory and ports, loopback only, plus
/// `extra` XML (a cluster member's ZooKeeper, macros and peers).
pub fn config_xml(dir: &Path, http: u16, tcp: u16, extra: &str) -> String {
    let d = dir.display();
    format!(
        r#"<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog><console>0</console></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
  <!-- Parts a mutation replaced go after 30 s here (the server's default
       is 8 minutes): an erasure leaves no readable copy for long, and the
       tests that search every file for one need not wait. -->
  <merge_tree><old_parts_lifetime>30</old_parts_lifetime><cleanup_delay_period>5</cleanup_delay_period></merge_tree>
{extra}</yandex>
"#
    )
}

const USERS_XML: &str = r#"<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#;

pub async fn start(dirs: &StateDirs, ports: &Ports) -> anyhow::Result<Supervised> {
    start_server("clickhouse", &dirs.clickhouse, &dirs.logs, ports.clickhouse_http, &config_xml(&dirs.clickhouse, ports.clickhouse_http, ports.clickhouse_tcp, "")).await
}

/// Starts a server from `config` in `dir` (logs to `<logs>/<name>.log`)
/// and waits until it answers `/ping`; the error carries its error log.
pub async fn start_server(name: &str, dir: &Path, logs: &Path, http: u16, config: &str) -> anyhow::Result<Supervised> {
    let path = dir.join("config.xml");
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, config)?;
    std::fs::write(dir.join("users.xml"), USERS_XML)?;
    let mut child = Supervised::spawn(name, Command::new(server_binary()?).arg(format!("--config-file={}", path.display())), logs)?;
    let ping = format!("http://127.0.0.1:{http}/ping");
    if let Err(e) = wait_for_http(&ping, Duration::from_secs(60), Some(&mut child)).await {
        let errors = std::fs::read_to_string(dir.join("log/error.log")).unwrap_or_default();
        let tail: Vec<&str> = errors.lines().rev().take(10).collect();
        bail!("{e}\nclickhouse error.log:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    Ok(child)
}

/// A query over the HTTP interface; errors carry ClickHouse's message.
pub async fn query(url: &str, sql: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::new().post(url).body(sql.to_string()).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("clickhouse {status}: {body}");
    }
    Ok(body)
}
