//! The registered sites as ingestion sees them: cached, so a flood of events does not
//! reach the registry.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use cairn_meta::VisitorIdMode;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// What the server needs to know of a registered site.
#[derive(Debug, Clone)]
pub(crate) struct SiteInfo {
    pub identity: VisitorIdMode,
}

/// The registered sites, cached: a known site is re-read after a minute (so a change
/// of identity mode made with the CLI is seen), an unknown one after five seconds (so a
/// site registered while the server runs is soon accepted, and a flood of events for
/// unknown sites does not reach SQLite).
#[derive(Default)]
pub(crate) struct SiteCache {
    map: RwLock<HashMap<String, (Option<SiteInfo>, Instant)>>,
}

const KNOWN_TTL: Duration = Duration::from_secs(60);
const UNKNOWN_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

impl SiteCache {
    /// The site, if registered. A name that cannot be a site domain is answered
    /// without a lookup and without a cache entry (so a flood of made-up names costs
    /// neither SQLite nor memory).
    pub(crate) async fn get(
        &self,
        st: &AppState,
        domain: &str,
    ) -> Result<Option<SiteInfo>, ApiError> {
        if cairn_meta::check_domain(domain).is_err() {
            return Ok(None);
        }
        let now = Instant::now();
        if let Ok(map) = self.map.read()
            && let Some((info, at)) = map.get(domain)
        {
            let ttl = if info.is_some() {
                KNOWN_TTL
            } else {
                UNKNOWN_TTL
            };
            if now.duration_since(*at) < ttl {
                return Ok(info.clone());
            }
        }
        let d = domain.to_string();
        let found = st
            .meta
            .read(move |m| m.site(&d))
            .await?
            .map_err(|e| ApiError::unavailable("the site registry cannot be read", e))?;
        let info = found.map(|s| SiteInfo {
            identity: s.identity,
        });
        if let Ok(mut map) = self.map.write() {
            if map.len() >= CACHE_MAX {
                map.clear();
            }
            map.insert(domain.to_string(), (info.clone(), now));
        }
        Ok(info)
    }
}

/// The answer for a site that is not registered.
pub(crate) fn unknown_site(domain: &str) -> ApiError {
    ApiError::not_found(format!(
        "no site `{domain}` is registered: add it with `cairn site add {domain}`"
    ))
    .with(json!({ "site": domain }))
}
