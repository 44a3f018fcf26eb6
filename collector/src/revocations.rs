//! Where opt-outs are written so the edge sees them on the next request.
//!
//! The edge reads a Workers KV namespace bound as `REVOCATIONS`: key =
//! SHA-256 of the customer reference, value = revocation time (Unix
//! seconds). In production the collector writes it through Cloudflare's API;
//! locally devstack points both sides at one directory (workerd serves the
//! binding from it, one file per key).

use std::path::PathBuf;

use anyhow::Context;
use mintmark_protocol::consent::revocation_key;

pub enum RevocationStore {
    Directory(PathBuf),
    CloudflareKv { http: reqwest::Client, api_base: String, account_id: String, namespace_id: String, api_token: String },
}

impl RevocationStore {
    pub async fn revoke(&self, customer_ref: &str, at_secs: u64) -> anyhow::Result<()> {
        let key = revocation_key(customer_ref);
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
