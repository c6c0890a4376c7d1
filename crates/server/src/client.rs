//! Who sent a request: the client's address (from the connection, or from a trusted
//! proxy's headers) and user agent, and the key of its rate limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::AppState;

/// The longest user agent kept for parsing and hashing.
const UA_MAX: usize = 1024;

/// Who sent a request: the client's address (from the connection, or from the proxy's
/// headers when `trust_proxy` is set) and its `User-Agent`.
pub(crate) struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
    pub accept_language: String,
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                c.0.ip().to_canonical()
            });
        let ip = if st.settings.trust_proxy {
            forwarded_ip(&parts.headers).unwrap_or(peer)
        } else {
            peer
        };
        let text = |h: header::HeaderName| {
            let s = parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            truncate(s, UA_MAX).to_string()
        };
        Ok(Client {
            ip,
            user_agent: text(header::USER_AGENT),
            accept_language: text(header::ACCEPT_LANGUAGE),
        })
    }
}

/// The client address a trusted reverse proxy reports: the last `X-Forwarded-For` entry
/// (the one the proxy itself added), else `X-Real-IP`.
fn forwarded_ip(h: &HeaderMap) -> Option<IpAddr> {
    // The last header line: a proxy that appends its own line (HAProxy) comes after any
    // line the client sent.
    if let Some(v) = h
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        && let Some(last) = v.rsplit(',').next()
        && let Some(ip) = parse_addr(last)
    {
        return Some(ip);
    }
    parse_addr(h.get("x-real-ip")?.to_str().ok()?)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:5000`, `2001:db8::1`,
/// `[2001:db8::1]:5000`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip().to_canonical())
}

/// The key of an address's rate limit: IPv4 addresses alone, IPv6 by their /64 (one
/// subscriber's allocation), so a client cannot dodge the limit by walking its own
/// prefix.
pub(crate) fn rate_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => (u128::from(a) >> 64) | (1 << 127),
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "1.2.3.4".parse().unwrap());
        h.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(
            forwarded_ip(&h),
            Some("198.51.100.1".parse().unwrap()),
            "the proxy's own line"
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("10.0.0.1".parse().unwrap()));
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("2001:db8::1".parse().unwrap()));
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn rate_keys_and_addresses() {
        let key = |s: &str| rate_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(
            parse_addr("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_addr("192.0.2.1:80"),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("héllo", 2), "h");
    }
}
