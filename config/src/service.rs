//! What every long-running service shares at its start and stop: the
//! signals that end it gracefully.

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd, Docker and
/// Kubernetes send), so a service drains and flushes either way.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
