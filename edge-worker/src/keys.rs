//! The worker's view of its configuration: settings var, key rings, and the
//! optional metrics token.

use mintmark_protocol::keys::{KeyError, KeyRing};
use mintmark_protocol::settings::EdgeSettings;

/// Everything the handler needs that is fixed for the life of an isolate.
#[derive(Debug, Clone)]
pub struct EdgeKeys {
    pub settings: EdgeSettings,
    pub signing: KeyRing,
    pub consent: KeyRing,
    /// Bearer token for the metrics path; `None` disables it.
    pub metrics_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("EDGE_CONFIG is not valid settings JSON: {0}")]
    Settings(String),
    #[error("{name}: {source}")]
    Keys { name: &'static str, source: KeyError },
    #[error("EDGE_CONFIG scope is empty or unusable")]
    Scope,
}

impl EdgeKeys {
    /// Builds from the raw var and secret strings the platform hands us.
    pub fn from_env(
        settings_json: &str,
        signing_list: &str,
        consent_list: &str,
        metrics_token: Option<String>,
    ) -> Result<EdgeKeys, SetupError> {
        use mintmark_protocol::settings::{SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS};
        let settings: EdgeSettings =
            serde_json::from_str(settings_json).map_err(|e| SetupError::Settings(e.to_string()))?;
        if !settings.scope.is_usable() {
            return Err(SetupError::Scope);
        }
        let signing = KeyRing::parse_list(signing_list)
            .map_err(|source| SetupError::Keys { name: SECRET_EDGE_SIGNING_KEYS, source })?;
        let consent = KeyRing::parse_list(consent_list)
            .map_err(|source| SetupError::Keys { name: SECRET_CONSENT_KEYS, source })?;
        let metrics_token = metrics_token.filter(|t| t.len() >= 16);
        Ok(EdgeKeys { settings, signing, consent, metrics_token })
    }

    /// The metrics path: beside the beacon path, e.g. `/store/_mm/metrics`.
    pub fn metrics_path(&self) -> String {
        let dir = self.settings.beacon_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{dir}/metrics")
    }
}
