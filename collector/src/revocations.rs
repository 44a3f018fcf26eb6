//! Where opt-outs are written so the edge sees them on the next request.
//!
//! The edge reads a Workers KV namespace bound as `REVOCATIONS`: key = the
//! customer's subject (a keyed hash, which the token carries, so a guessed
//! reference cannot be tested against a key listing), value = revocation
//! time (Unix seconds). An erased customer's revocation stays: their old
//! tokens must keep failing. In production the collector writes it through Cloudflare's API;
//! locally devstack points both sides at one directory (workerd serves the
//! binding from it, one file per key).

use std::path::PathBuf;

use anyhow::Context;

pub enum RevocationStore {
    Directory(PathBuf),
    CloudflareKv { http: reqwest::Client, api_base: String, account_id: String, namespace_id: String, api_token: String },
}

impl RevocationStore {
    pub async fn revoke(&self, subject: &str, at_secs: u64) -> anyhow::Result<()> {
        anyhow::ensure!(mintmark_protocol::subject::is_subject(subject), "a revocation is keyed by a subject");
        let key = subject.to_string();
        match self {
            RevocationStore::Directory(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    let tmp = dir.join(format!(".{key}.tmp"));
                    std::fs::write(&tmp, at_secs.to_string())?;
                    std::fs::rename(&tmp, dir.join(&key))?;
                    Ok(())
                })
                .await?
                .context("writing the revocation file")
            }
            RevocationStore::CloudflareKv { http, api_base, account_id, namespace_id, api_token } => {
                let url = format!("{api_base}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}/values/{key}");
                let resp = http.put(url).bearer_auth(api_token).body(at_secs.to_string()).send().await.context("calling the KV API")?;
                anyhow::ensure!(resp.status().is_success(), "KV API answered {}", resp.status());
                Ok(())
            }
        }
    }
}
