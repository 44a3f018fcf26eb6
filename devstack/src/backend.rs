//! ClickHouse and the collector, with the controls failure tests need:
//! kill either one (SIGKILL, no goodbye) and start it again on the same
//! ports and data.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use mintmark_config::Config;

use crate::layout::Layout;
use crate::local_config::{self, StateDirs};
use crate::process::{wait_for_http, Supervised};
use crate::{clickhouse, Ports};

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Backend {
    pub config: Config,
    pub config_path: PathBuf,
    pub dirs: StateDirs,
    pub ports: Ports,
    pub collector_url: String,
    clickhouse: Option<Supervised>,
    collector: Option<Supervised>,
    layout: Layout,
}

impl Backend {
    /// Writes the config (keeping existing secrets and data) and starts
    /// ClickHouse, then the collector (which applies migrations).
    pub async fn start(state_dir: &std::path::Path, ports: Ports) -> anyhow::Result<Backend> {
        let layout = Layout::discover()?;
        layout.check_built(&["collector"])?;
        let dirs = StateDirs::create(state_dir)?;
        let config_path = local_config::ensure(&dirs, &ports, &layout.root, &local_config::Scale::default())?;
        let config = Config::load(&config_path).with_context(|| format!("loading {}", config_path.display()))?;
        let collector_url = format!("http://{}", config.collector.listen);
        let mut backend = Backend { config, config_path, dirs, ports, collector_url, clickhouse: None, collector: None, layout };
        backend.start_clickhouse().await?;
        backend.start_collector().await?;
        Ok(backend)
    }

    pub async fn start_clickhouse(&mut self) -> anyhow::Result<()> {
        self.clickhouse = Some(clickhouse::start(&self.dirs, &self.ports).await?);
        Ok(())
    }

    pub async fn start_collector(&mut self) -> anyhow::Result<()> {
        self.start_collector_with_env(&[]).await
    }

    /// Starts the collector with config overrides (`MINTMARK_…` variables)
    /// for this one process, e.g. a key ring a test wants it to disagree on.
    pub async fn start_collector_with_env(&mut self, env: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut cmd = Command::new(self.layout.binary("collector"));
        cmd.arg("--config").arg(&self.config_path).arg("serve").envs(env.iter().copied());
        let mut child = Supervised::spawn("collector", &mut cmd, &self.dirs.logs)?;
        wait_for_http(&format!("{}/healthz", self.collector_url), START_TIMEOUT, Some(&mut child)).await?;
        self.collector = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_clickhouse(&mut self) {
        if let Some(mut c) = self.clickhouse.take() {
            c.kill();
        }
    }

    /// SIGKILL: whatever the collector had not made durable is lost to it.
    pub fn kill_collector(&mut self) {
        if let Some(mut c) = self.collector.take() {
            c.kill();
        }
    }

    /// SIGTERM and wait: the collector drains its spool first.
    pub fn stop_collector(&mut self) {
        if let Some(mut c) = self.collector.take() {
            c.stop();
        }
    }

    pub fn clickhouse_pid(&self) -> Option<u32> {
        self.clickhouse.as_ref().map(|c| c.pid())
    }

    pub fn collector_pid(&self) -> Option<u32> {
        self.collector.as_ref().map(|c| c.pid())
    }

    pub fn stop(&mut self) {
        self.stop_collector();
        if let Some(mut c) = self.clickhouse.take() {
            c.stop();
        }
    }

    /// A query over ClickHouse's HTTP interface.
    pub async fn query(&self, sql: &str) -> anyhow::Result<String> {
        clickhouse::query(&self.config.clickhouse.url, sql).await
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}
