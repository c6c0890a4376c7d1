//! Configuration: the limits and settings the server runs with, and the TOML
//! configuration file they are read from (`cairn serve --config`).

use std::net::SocketAddr;
use std::time::Duration;

use cairn_meta::Meta;

use crate::ConnLimits;

/// Limits on what one request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (bytes).
    pub max_body: usize,
    /// Most records in one batch.
    pub max_batch: usize,
    /// Most write requests in flight at once; more are refused with 503.
    pub max_inflight_writes: usize,
    /// Requests per second one client address may send to the open (keyless) endpoints
    /// on average; 0 turns the limit off.
    pub per_ip_rate: f64,
    /// Burst allowed above `per_ip_rate`.
    pub per_ip_burst: f64,
    /// Events per second one site may store on average, on every endpoint; 0 turns the
    /// limit off.
    pub per_site_rate: f64,
    /// Burst allowed above `per_site_rate`.
    pub per_site_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 8 << 20,
            max_batch: 10_000,
            max_inflight_writes: 64,
            per_ip_rate: 50.0,
            per_ip_burst: 500.0,
            per_site_rate: 50_000.0,
            per_site_burst: 200_000.0,
        }
    }
}

/// How the server treats clients, beyond limits.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Request limits.
    pub limits: Limits,
    /// Take the client address from `X-Forwarded-For` / `X-Real-IP` (only behind a
    /// reverse proxy that sets them).
    pub trust_proxy: bool,
    /// A MaxMind-format (`.mmdb`) country or city database, for the `country` field.
    pub geoip: Option<std::path::PathBuf>,
    /// Connection caps and timeouts.
    pub conn: ConnLimits,
    /// The bearer token `/metrics` asks for; without one, `/metrics` answers only
    /// clients on this machine (loopback).
    pub metrics_token: Option<String>,
    /// The ClickHouse backend, when queries are answered there and the store only
    /// holds events until they are shipped ([`crate::ship`]).
    pub clickhouse: Option<ClickHouseBackend>,
}

/// The ClickHouse backend of a running server.
#[derive(Debug, Clone)]
pub struct ClickHouseBackend {
    /// The connection queries go to.
    pub ch: std::sync::Arc<cairn_clickhouse::ClickHouse>,
    /// The shipper's state.
    pub status: std::sync::Arc<crate::ship::ShipStatus>,
    /// Most bytes of events waiting in the store for ClickHouse: beyond it, writes are
    /// refused (`503`) until ClickHouse takes them.
    pub backlog_bytes: u64,
}

/// The server's configuration file (TOML). Every field is optional; command-line flags
/// and environment variables override it.
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// data = "/var/lib/cairn"
/// trust_proxy = true                      # behind nginx, Caddy, a load balancer
/// geoip = "/var/lib/GeoLite2-Country.mmdb"
/// metrics_token = "a-long-random-string"  # /metrics with `Authorization: Bearer …`
/// backend = "clickhouse"                  # or "embedded" (the default)
///
/// [limits]
/// max_body = 8388608
/// max_batch = 10000
/// max_inflight_writes = 64
/// per_ip_rate = 50
/// per_ip_burst = 500
/// per_site_rate = 50000
/// per_site_burst = 200000
///
/// [connections]
/// max = 10000                             # open at once (lowered to fit ulimit -n)
/// max_per_ip = 512
/// header_timeout = 10                     # seconds; also the idle keep-alive timeout
/// body_timeout = 30                       # seconds to send a whole body
/// body_budget = 268435456                 # bytes of bodies in flight, all requests
/// shutdown_timeout = 10                   # seconds for requests in flight at SIGTERM
///
/// [clickhouse]                            # see docs/clickhouse.md
/// url = "http://127.0.0.1:8123"
/// database = "cairn"
///
/// [[sites]]                               # registered (or updated) at start
/// domain = "shop.example"
/// timezone = "Europe/Berlin"
/// identity = "first-party"                # or "cookieless" (the default)
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Data directory.
    pub data: Option<std::path::PathBuf>,
    /// Trust `X-Forwarded-For` / `X-Real-IP`.
    pub trust_proxy: Option<bool>,
    /// MaxMind-format database for countries.
    pub geoip: Option<std::path::PathBuf>,
    /// Bearer token for `/metrics` (without one, only loopback clients may read it).
    pub metrics_token: Option<String>,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Connection caps and timeouts.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Sites to register (or bring up to date) when the server starts.
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    /// Where events are kept and queried: `embedded` (the default) or `clickhouse`.
    pub backend: Option<String>,
    /// The `[clickhouse]` table: the server, database and shipping (docs/clickhouse.md).
    pub clickhouse: Option<cairn_clickhouse::Config>,
}

/// The `[limits]` table.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (bytes).
    pub max_body: Option<usize>,
    /// Most records in one batch.
    pub max_batch: Option<usize>,
    /// Most write requests in flight.
    pub max_inflight_writes: Option<usize>,
    /// Requests per second per client address on the open endpoints (0: off).
    pub per_ip_rate: Option<f64>,
    /// Burst above `per_ip_rate`.
    pub per_ip_burst: Option<f64>,
    /// Events per second per site (0: off).
    pub per_site_rate: Option<f64>,
    /// Burst above `per_site_rate`.
    pub per_site_burst: Option<f64>,
}

/// The `[connections]` table (times in seconds).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Open connections at once.
    pub max: Option<usize>,
    /// Open connections per client address.
    pub max_per_ip: Option<usize>,
    /// Seconds to send a request's headers (and to start the next on a kept-alive one).
    pub header_timeout: Option<f64>,
    /// Seconds to send a whole request body.
    pub body_timeout: Option<f64>,
    /// Bytes of request bodies in flight.
    pub body_budget: Option<usize>,
    /// Seconds for requests in flight after SIGTERM.
    pub shutdown_timeout: Option<f64>,
}

/// A `[[sites]]` entry.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's domain.
    pub domain: String,
    /// IANA time zone (default UTC for a new site; unchanged for an existing one).
    pub timezone: Option<String>,
    /// `cookieless` (default) or `first-party`.
    pub identity: Option<String>,
}

impl Config {
    /// Reads a configuration; errors name the field (and line).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string().trim().to_string())?;
        let c: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            let msg = msg.trim();
            if path == "." {
                msg.to_string()
            } else {
                format!("{path}: {msg}")
            }
        })?;
        for (i, s) in c.sites.iter().enumerate() {
            if let Some(id) = &s.identity
                && cairn_meta::VisitorIdMode::parse(id).is_none()
            {
                return Err(format!(
                    "sites[{i}].identity: `{id}` is neither `cookieless` nor `first-party`"
                ));
            }
        }
        Ok(c)
    }

    /// The limits, defaults filled in.
    pub fn limits(&self) -> Result<Limits, String> {
        let d = Limits::default();
        let c = &self.limits;
        let l = Limits {
            max_body: c.max_body.unwrap_or(d.max_body),
            max_batch: c.max_batch.unwrap_or(d.max_batch),
            max_inflight_writes: c.max_inflight_writes.unwrap_or(d.max_inflight_writes),
            per_ip_rate: c.per_ip_rate.unwrap_or(d.per_ip_rate),
            per_ip_burst: c.per_ip_burst.unwrap_or(d.per_ip_burst),
            per_site_rate: c.per_site_rate.unwrap_or(d.per_site_rate),
            per_site_burst: c.per_site_burst.unwrap_or(d.per_site_burst),
        };
        if l.max_body == 0 || l.max_batch == 0 || l.max_inflight_writes == 0 {
            return Err(
                "limits: max_body, max_batch and max_inflight_writes must be at least 1".into(),
            );
        }
        for (name, v) in [
            ("per_ip_rate", l.per_ip_rate),
            ("per_ip_burst", l.per_ip_burst),
            ("per_site_rate", l.per_site_rate),
            ("per_site_burst", l.per_site_burst),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("limits.{name}: must be a number ≥ 0"));
            }
        }
        Ok(l)
    }

    /// The connection caps and timeouts, defaults filled in.
    pub fn connections(&self) -> Result<ConnLimits, String> {
        let d = ConnLimits::default();
        let c = &self.connections;
        let secs = |name: &str, v: Option<f64>, default: Duration| -> Result<Duration, String> {
            match v {
                None => Ok(default),
                Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                    Ok(Duration::from_secs_f64(s))
                }
                Some(_) => Err(format!(
                    "connections.{name}: must be a number of seconds above 0 and at most 86400"
                )),
            }
        };
        let l = ConnLimits {
            max: c.max.unwrap_or(d.max),
            max_per_ip: c.max_per_ip.unwrap_or(d.max_per_ip),
            header_timeout: secs("header_timeout", c.header_timeout, d.header_timeout)?,
            body_timeout: secs("body_timeout", c.body_timeout, d.body_timeout)?,
            body_budget: c.body_budget.unwrap_or(d.body_budget),
            shutdown_timeout: secs("shutdown_timeout", c.shutdown_timeout, d.shutdown_timeout)?,
        };
        if l.max == 0 || l.max_per_ip == 0 {
            return Err("connections: max and max_per_ip must be at least 1".into());
        }
        Ok(l)
    }

    /// Registers the `[[sites]]` that are missing and brings the others' time zone and
    /// identity mode up to date. Returns the write keys of the sites it created.
    pub fn apply_sites(&self, meta: &mut Meta) -> Result<Vec<(String, String)>, String> {
        let mut created = Vec::new();
        for s in &self.sites {
            let known = meta.site(&s.domain).map_err(|e| e.to_string())?;
            if known.is_none() {
                let tz = s.timezone.as_deref().unwrap_or("UTC");
                let (_, key) = meta.add_site(&s.domain, tz).map_err(|e| e.to_string())?;
                created.push((s.domain.clone(), key));
            } else if let Some(tz) = &s.timezone {
                meta.set_timezone(&s.domain, tz)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(id) = s
                .identity
                .as_deref()
                .and_then(cairn_meta::VisitorIdMode::parse)
            {
                meta.set_identity(&s.domain, id)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(created)
    }
}
