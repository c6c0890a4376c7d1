use std::fmt;
use std::str::FromStr;

/// A string dimension of an event. An empty string means "not set".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// Event name: `pageview` or a custom name.
    Name,
    /// User / lead id set on the event itself.
    User,
    /// URL host.
    Host,
    /// URL path.
    Path,
    /// URL query string, without the `?`.
    Query,
    /// Full referrer URL.
    Referrer,
    /// Classified referrer source, e.g. `Google`.
    Source,
    /// Channel: `direct`, `search`, `social`, `email`, `referral`, `paid`, …
    Channel,
    /// `utm_source`.
    UtmSource,
    /// `utm_medium`.
    UtmMedium,
    /// `utm_campaign`.
    UtmCampaign,
    /// `utm_term`.
    UtmTerm,
    /// `utm_content`.
    UtmContent,
    /// Device type: `desktop`, `mobile`, `tablet`.
    Device,
    /// Browser family.
    Browser,
    /// Operating system family.
    Os,
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// Screen class.
    Screen,
    /// Language tag.
    Language,
}

impl Dim {
    /// Every dimension, in storage order.
    pub const ALL: [Dim; 19] = [
        Dim::Name,
        Dim::User,
        Dim::Host,
        Dim::Path,
        Dim::Query,
        Dim::Referrer,
        Dim::Source,
        Dim::Channel,
        Dim::UtmSource,
        Dim::UtmMedium,
        Dim::UtmCampaign,
        Dim::UtmTerm,
        Dim::UtmContent,
        Dim::Device,
        Dim::Browser,
        Dim::Os,
        Dim::Country,
        Dim::Screen,
        Dim::Language,
    ];

    /// The field's name in JSON, CSV and Parquet.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Name => "name",
            Dim::User => "user",
            Dim::Host => "host",
            Dim::Path => "path",
            Dim::Query => "query",
            Dim::Referrer => "referrer",
            Dim::Source => "source",
            Dim::Channel => "channel",
            Dim::UtmSource => "utm_source",
            Dim::UtmMedium => "utm_medium",
            Dim::UtmCampaign => "utm_campaign",
            Dim::UtmTerm => "utm_term",
            Dim::UtmContent => "utm_content",
            Dim::Device => "device",
            Dim::Browser => "browser",
            Dim::Os => "os",
            Dim::Country => "country",
            Dim::Screen => "screen",
            Dim::Language => "language",
        }
    }

    /// Position in [`Dim::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether an event's `url` can supply this dimension (host, path, query, UTM fields).
    pub fn comes_from_url(self) -> bool {
        matches!(
            self,
            Dim::Host
                | Dim::Path
                | Dim::Query
                | Dim::UtmSource
                | Dim::UtmMedium
                | Dim::UtmCampaign
                | Dim::UtmTerm
                | Dim::UtmContent
        )
    }

    /// Longest accepted value.
    pub fn max_len(self) -> usize {
        use crate::limits::*;
        match self {
            Dim::Name => NAME_MAX,
            Dim::User => USER_MAX,
            Dim::Host => HOST_MAX,
            Dim::Path | Dim::Query | Dim::Referrer => URL_PART_MAX,
            Dim::UtmSource | Dim::UtmMedium | Dim::UtmCampaign | Dim::UtmTerm | Dim::UtmContent => {
                UTM_MAX
            }
            _ => SHORT_MAX,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown dimension name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dimension `{0}` (known: name, user, host, path, query, referrer, source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, device, browser, os, country, screen, language)"
)]
pub struct UnknownDim(pub String);

impl FromStr for Dim {
    type Err = UnknownDim;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dim::ALL
            .iter()
            .copied()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDim(s.to_string()))
    }
}
