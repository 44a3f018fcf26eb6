//! Child processes that cannot outlive us, and waiting for them to serve.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A child process with its log file; killed on drop.
pub struct Supervised {
    pub name: String,
    child: Child,
    pub log: std::path::PathBuf,
}

impl Supervised {
    /// Spawns `cmd` with stdout and stderr appended to `<logs>/<name>.log`.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command, logs: &Path) -> anyhow::Result<Supervised> {
        let name = name.into();
        let log = logs.join(format!("{name}.log"));
        let out = File::options().create(true).append(true).open(&log).with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            // If we die without cleaning up (SIGKILL, panic=abort), the
            // kernel stops the child too.
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Supervised { name, child, log })
    }

    /// `Some(status)` if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, a grace period, then SIGKILL.
    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ports handed out by [`free_port`]: below Linux's ephemeral range
/// (32768–60999), where outgoing connections take their local ports, so a
/// port picked here and bound a moment later is not taken by a client
/// connection meanwhile (the clean-clone CI once lost a test to that).
const PICK_FROM: std::ops::Range<u16> = 20_000..32_000;

/// A port that was free a moment ago on 127.0.0.1, and is not handed out
/// twice by this process.
pub fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rng();
    for _ in 0..200 {
        let port = rng.random_range(PICK_FROM);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `url` until it answers any HTTP status, the child exits, or the
/// timeout passes; the error carries the child's log tail.
pub async fn wait_for_http(url: &str, timeout: Duration, mut child: Option<&mut Supervised>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        if let Some(c) = child.as_deref_mut() {
            if let Some(status) = c.exited() {
                bail!("{} exited ({status}) before serving {url}:\n{}", c.name, c.log_tail());
            }
        }
        if Instant::now() > deadline {
            let tail = child.map(|c| c.log_tail()).unwrap_or_default();
            bail!("{url} did not answer within {timeout:?}:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
