//! ZooKeeper for a local ClickHouse cluster: Debian's `zookeeper` jars run
//! unprivileged from a config of our own (loopback only, own data dir, no
//! admin server), ready once `stat` says it serves clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::Supervised;

/// Where Debian's `zookeeper` package (and what it pulls in) puts its jars.
const JARS: &str = "/usr/share/java";

/// A running ZooKeeper, stoppable and startable again on the same data.
pub struct ZooKeeper {
    pub port: u16,
    conf: PathBuf,
    logs: PathBuf,
    child: Option<Supervised>,
}

fn classpath(conf: &Path) -> anyhow::Result<String> {
    let mut parts = vec![conf.display().to_string()];
    let mut jars: Vec<PathBuf> = std::fs::read_dir(JARS)
        .with_context(|| format!("reading {JARS} (scripts/bootstrap.sh installs Debian's zookeeper)"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .collect();
    jars.sort();
    if !jars.iter().any(|j| j.file_name().is_some_and(|n| n.to_string_lossy().starts_with("zookeeper-3"))) {
        bail!("no zookeeper jar in {JARS}: install Debian's zookeeper (scripts/bootstrap.sh does)");
    }
    parts.extend(jars.iter().map(|j| j.display().to_string()));
    Ok(parts.join(":"))
}

/// Whether it serves clients: `stat` names its mode. Not `ruok`, which
/// answers `imok` while a restarted ZooKeeper still loads its snapshot and
/// closes every session (a ClickHouse server started then gives up).
fn is_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = String::new();
    s.write_all(b"stat").is_ok() && s.read_to_string(&mut answer).is_ok() && answer.contains("Mode: ")
}

impl ZooKeeper {
    /// Writes the config under `dir` and starts ZooKeeper on `port`.
    pub async fn start(dir: &Path, logs: &Path, port: u16) -> anyhow::Result<ZooKeeper> {
        let conf = std::path::absolute(dir.join("conf"))?;
        let data = std::path::absolute(dir.join("data"))?;
        std::fs::create_dir_all(&conf)?;
        std::fs::create_dir_all(&data)?;
        std::fs::write(
            conf.join("zoo.cfg"),
            format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,stat\nmaxClientCnxns=0\n",
                data.display()
            ),
        )?;
        let mut zk = ZooKeeper { port, conf, logs: logs.to_path_buf(), child: None };
        zk.resume().await?;
        Ok(zk)
    }

    /// Starts it again after [`ZooKeeper::stop`], on the same data.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let mut child = Supervised::spawn(
            "zookeeper",
            Command::new("java")
                .arg("-Xmx256m")
                .arg(format!("-Dzookeeper.log.dir={}", self.logs.display()))
                .arg("-cp")
                .arg(classpath(&self.conf)?)
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(self.conf.join("zoo.cfg")),
            &self.logs,
        )?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !is_ok(self.port) {
            if let Some(status) = child.exited() {
                bail!("zookeeper exited ({status}):\n{}", child.log_tail());
            }
            if Instant::now() > deadline {
                bail!("zookeeper was not serving within 60 s:\n{}", child.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// SIGTERM and wait: clients see it gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop();
        }
    }
}
