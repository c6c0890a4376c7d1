//! Traffic sources: a referrer and the page's UTM fields classified into a source
//! (a display name such as `Google`) and a channel.

/// Every channel [`classify_source`] answers, in no particular order.
pub const CHANNELS: [&str; 6] = ["direct", "search", "social", "referral", "email", "paid"];

/// Where a session came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// A display name (`"Google"`, `"Facebook"`, `"Gmail"`), the campaign's
    /// `utm_source`, the referring host without `www.`, an Android app id, or `""` for
    /// direct traffic.
    pub source: String,
    /// One of [`CHANNELS`]: `"direct"`, `"search"`, `"social"`, `"referral"`, `"email"`,
    /// `"paid"`.
    pub channel: &'static str,
}

impl Source {
    fn new(source: impl Into<String>, channel: &'static str) -> Source {
        Source {
            source: source.into(),
            channel,
        }
    }

    fn direct() -> Source {
        Source::new("", "direct")
    }
}

const SEARCH: &str = "search";
const SOCIAL: &str = "social";
const REFERRAL: &str = "referral";
const EMAIL: &str = "email";
const PAID: &str = "paid";

/// A known place: the name it is shown by and its channel. An empty name means "the
/// host itself" (a known non-search host under a search engine's domain).
type Known = (&'static str, &'static str);

/// Domains matched exactly or as a parent: `t.co` matches `t.co` and `www.t.co`. The
/// longest matching domain wins, and any match here beats [`BRANDS`] (so
/// `mail.google.com` is Gmail, not Google search).
const DOMAINS: &[(&str, Known)] = &[
    // Search engines without a brand of their own in the host.
    ("ask.com", ("Ask", SEARCH)),
    ("kagi.com", ("Kagi", SEARCH)),
    ("search.aol.com", ("AOL", SEARCH)),
    ("search.brave.com", ("Brave Search", SEARCH)),
    ("ya.ru", ("Yandex", SEARCH)),
    // Google's hosts that are not its search.
    ("accounts.google.com", ("", REFERRAL)),
    ("docs.google.com", ("Google Docs", REFERRAL)),
    ("drive.google.com", ("Google Drive", REFERRAL)),
    ("gemini.google.com", ("Gemini", REFERRAL)),
    ("news.google.com", ("Google News", REFERRAL)),
    ("play.google.com", ("Google Play", REFERRAL)),
    ("sites.google.com", ("", REFERRAL)),
    // Ad servers: a click on an ad.
    ("doubleclick.net", ("Google", PAID)),
    ("googleadservices.com", ("Google", PAID)),
    ("googlesyndication.com", ("Google", PAID)),
    // Webmail.
    ("app.fastmail.com", ("Fastmail", EMAIL)),
    ("deref-gmx.com", ("GMX", EMAIL)),
    ("deref-gmx.net", ("GMX", EMAIL)),
    ("deref-web-02.de", ("WEB.DE", EMAIL)),
    ("deref-web.de", ("WEB.DE", EMAIL)),
    ("mail.aol.com", ("AOL Mail", EMAIL)),
    ("mail.google.com", ("Gmail", EMAIL)),
    ("mail.proton.me", ("Proton Mail", EMAIL)),
    ("mail.protonmail.com", ("Proton Mail", EMAIL)),
    ("mail.yahoo.com", ("Yahoo Mail", EMAIL)),
    ("mail.yandex.com", ("Yandex Mail", EMAIL)),
    ("mail.yandex.ru", ("Yandex Mail", EMAIL)),
    ("mail.zoho.com", ("Zoho Mail", EMAIL)),
    ("mail.zoho.eu", ("Zoho Mail", EMAIL)),
    ("navigator.gmx.net", ("GMX", EMAIL)),
    ("navigator.web.de", ("WEB.DE", EMAIL)),
    ("outlook.live.com", ("Outlook", EMAIL)),
    ("outlook.office.com", ("Outlook", EMAIL)),
    ("outlook.office365.com", ("Outlook", EMAIL)),
    // Social networks and messengers (short links included).
    ("bsky.app", ("Bluesky", SOCIAL)),
    ("discord.com", ("Discord", SOCIAL)),
    ("discord.gg", ("Discord", SOCIAL)),
    ("discordapp.com", ("Discord", SOCIAL)),
    ("fb.com", ("Facebook", SOCIAL)),
    ("fb.me", ("Facebook", SOCIAL)),
    ("lnkd.in", ("LinkedIn", SOCIAL)),
    ("m.me", ("Facebook", SOCIAL)),
    ("mastodon.social", ("Mastodon", SOCIAL)),
    ("messenger.com", ("Facebook", SOCIAL)),
    ("pin.it", ("Pinterest", SOCIAL)),
    ("redd.it", ("Reddit", SOCIAL)),
    ("snapchat.com", ("Snapchat", SOCIAL)),
    ("t.co", ("X", SOCIAL)),
    ("t.me", ("Telegram", SOCIAL)),
    ("threads.com", ("Threads", SOCIAL)),
    ("threads.net", ("Threads", SOCIAL)),
    ("vk.com", ("VK", SOCIAL)),
    ("wa.me", ("WhatsApp", SOCIAL)),
    ("web.telegram.org", ("Telegram", SOCIAL)),
    ("weibo.com", ("Weibo", SOCIAL)),
    ("whatsapp.com", ("WhatsApp", SOCIAL)),
    ("x.com", ("X", SOCIAL)),
    ("youtu.be", ("YouTube", SOCIAL)),
    // Referrers with a display name.
    ("chat.openai.com", ("ChatGPT", REFERRAL)),
    ("chatgpt.com", ("ChatGPT", REFERRAL)),
    ("claude.ai", ("Claude", REFERRAL)),
    ("copilot.microsoft.com", ("Copilot", REFERRAL)),
    ("flipboard.com", ("Flipboard", REFERRAL)),
    ("g2.com", ("G2", REFERRAL)),
    ("github.com", ("GitHub", REFERRAL)),
    ("medium.com", ("Medium", REFERRAL)),
    ("news.ycombinator.com", ("Hacker News", REFERRAL)),
    ("perplexity.ai", ("Perplexity", REFERRAL)),
    ("producthunt.com", ("Product Hunt", REFERRAL)),
    ("stackoverflow.com", ("Stack Overflow", REFERRAL)),
];

/// Brands matched by the label before the host's public-suffix-like tail, under any
/// such tail and any subdomain: `google` matches `google.de`, `www.google.co.uk` and
/// `images.google.com`, but not `notgoogle.com` or `google.evil.com`. See [`brand`].
/// Sorted by label.
const BRANDS: &[(&str, Known)] = &[
    ("baidu", ("Baidu", SEARCH)),
    ("bing", ("Bing", SEARCH)),
    ("capterra", ("Capterra", REFERRAL)),
    ("duckduckgo", ("DuckDuckGo", SEARCH)),
    ("ecosia", ("Ecosia", SEARCH)),
    ("facebook", ("Facebook", SOCIAL)),
    ("google", ("Google", SEARCH)),
    ("idealo", ("idealo", REFERRAL)),
    ("instagram", ("Instagram", SOCIAL)),
    ("linkedin", ("LinkedIn", SOCIAL)),
    ("naver", ("Naver", SEARCH)),
    ("pinterest", ("Pinterest", SOCIAL)),
    ("quora", ("Quora", SOCIAL)),
    ("qwant", ("Qwant", SEARCH)),
    ("reddit", ("Reddit", SOCIAL)),
    ("seznam", ("Seznam", SEARCH)),
    ("sogou", ("Sogou", SEARCH)),
    ("startpage", ("Startpage", SEARCH)),
    ("tiktok", ("TikTok", SOCIAL)),
    ("trustpilot", ("Trustpilot", REFERRAL)),
    ("tumblr", ("Tumblr", SOCIAL)),
    ("twitter", ("X", SOCIAL)),
    ("wikipedia", ("Wikipedia", REFERRAL)),
    ("xing", ("Xing", SOCIAL)),
    ("yahoo", ("Yahoo", SEARCH)),
    ("yandex", ("Yandex", SEARCH)),
    ("youtube", ("YouTube", SOCIAL)),
];

/// Second-level labels that, under a two-letter country code, form the public suffix
/// (`co.uk`, `com.br`, `gov.au`, `ne.jp`, `gouv.fr`).
const SECOND_LEVELS: &[&str] = &[
    "ac", "co", "com", "edu", "go", "gob", "gouv", "gov", "mil", "ne", "net", "or", "org",
];

/// Android apps (`android-app://ID/` referrers), by package id.
const APPS: &[(&str, Known)] = &[
    ("com.facebook.katana", ("Facebook", SOCIAL)),
    ("com.facebook.orca", ("Facebook", SOCIAL)),
    ("com.google.android.gm", ("Gmail", EMAIL)),
    (
        "com.google.android.googlequicksearchbox",
        ("Google", SEARCH),
    ),
    ("com.google.android.youtube", ("YouTube", SOCIAL)),
    ("com.instagram.android", ("Instagram", SOCIAL)),
    ("com.linkedin.android", ("LinkedIn", SOCIAL)),
    ("com.microsoft.office.outlook", ("Outlook", EMAIL)),
    ("com.pinterest", ("Pinterest", SOCIAL)),
    ("com.reddit.frontpage", ("Reddit", SOCIAL)),
    ("com.twitter.android", ("X", SOCIAL)),
    ("com.whatsapp", ("WhatsApp", SOCIAL)),
    ("com.zhiliaoapp.musically", ("TikTok", SOCIAL)),
    ("org.telegram.messenger", ("Telegram", SOCIAL)),
];

/// `utm_source` values (lower case) with a display name, besides the labels of
/// [`BRANDS`] (`google`, `facebook`, …) and the hosts of [`DOMAINS`] (`t.co`).
const UTM_SOURCES: &[(&str, Known)] = &[
    ("adwords", ("Google", SEARCH)),
    ("bluesky", ("Bluesky", SOCIAL)),
    ("brevo", ("Brevo", EMAIL)),
    ("chatgpt", ("ChatGPT", REFERRAL)),
    ("discord", ("Discord", SOCIAL)),
    ("fb", ("Facebook", SOCIAL)),
    ("gmail", ("Gmail", EMAIL)),
    ("hackernews", ("Hacker News", REFERRAL)),
    ("hubspot", ("HubSpot", EMAIL)),
    ("ig", ("Instagram", SOCIAL)),
    ("klaviyo", ("Klaviyo", EMAIL)),
    ("mailchimp", ("Mailchimp", EMAIL)),
    ("mastodon", ("Mastodon", SOCIAL)),
    ("newsletter", ("Newsletter", EMAIL)),
    ("outlook", ("Outlook", EMAIL)),
    ("perplexity", ("Perplexity", REFERRAL)),
    ("sendinblue", ("Brevo", EMAIL)),
    ("snapchat", ("Snapchat", SOCIAL)),
    ("telegram", ("Telegram", SOCIAL)),
    ("threads", ("Threads", SOCIAL)),
    ("whatsapp", ("WhatsApp", SOCIAL)),
    ("x", ("X", SOCIAL)),
];

/// `utm_medium` values (compared without regard to case) and their channel. Besides
/// these, any medium starting with `paid` is `paid`.
const MEDIUMS: &[(&str, &str)] = &[
    ("affiliate", REFERRAL),
    ("affiliates", REFERRAL),
    ("banner", PAID),
    ("cpa", PAID),
    ("cpc", PAID),
    ("cpm", PAID),
    ("cpv", PAID),
    ("display", PAID),
    ("e-mail", EMAIL),
    ("e_mail", EMAIL),
    ("email", EMAIL),
    ("mail", EMAIL),
    ("newsletter", EMAIL),
    ("organic", SEARCH),
    ("partner", REFERRAL),
    ("partners", REFERRAL),
    ("ppc", PAID),
    ("referral", REFERRAL),
    ("remarketing", PAID),
    ("retargeting", PAID),
    ("sm", SOCIAL),
    ("social", SOCIAL),
    ("social-media", SOCIAL),
    ("social-network", SOCIAL),
    ("social_media", SOCIAL),
    ("social_network", SOCIAL),
    ("socialmedia", SOCIAL),
];

/// Referrers longer than this are read only this far (the host is near the start).
const MAX_REFERRER_BYTES: usize = 4096;

/// The channel a `utm_medium` names, if it names one.
pub fn medium_channel(utm_medium: &str) -> Option<&'static str> {
    let m = utm_medium.trim();
    if m.len() >= 4 && m.as_bytes()[..4].eq_ignore_ascii_case(b"paid") {
        return Some(PAID);
    }
    MEDIUMS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(m))
        .map(|&(_, channel)| channel)
}

/// Classifies a session's arrival into a source and a channel.
///
/// `referrer`: the full referrer URL (`""` if none). `site_host`: the host of the
/// page being viewed (may include a port). `utm_source`, `utm_medium`: from the page
/// URL, `""` if absent. The rules, in order:
///
/// 1. A `utm_medium` that names a channel decides the channel (see the module docs for
///    the list); the source is then the `utm_source` (its display name when it names a
///    known one, e.g. `google` → `Google`; otherwise as given), else the referrer's
///    source, else `""`.
/// 2. Otherwise a usable referrer decides both: a known search engine, social network,
///    webmail or site by its display name; an Android app by its package id; any other
///    host as `referral` with the host (without `www.` and port) as the source.
/// 3. Otherwise a `utm_source` alone: its display name and channel when it is a known
///    one (`facebook` → `Facebook`, `social`), else the value as given, `referral`.
/// 4. Otherwise `direct` with the source `""`.
///
/// A referrer from the site itself (the same host or a subdomain of it, `www.` and
/// ports ignored) counts as no referrer: a self-referral is direct. So does a referrer
/// that is not an `http(s)://`, `android-app://` or `ios-app://` URL, or whose host is
/// malformed.
pub fn classify_source(
    referrer: &str,
    site_host: &str,
    utm_source: &str,
    utm_medium: &str,
) -> Source {
    let utm_source = utm_source.trim();
    let from_referrer = referrer_source(referrer, site_host);
    if let Some(channel) = medium_channel(utm_medium) {
        let source = if !utm_source.is_empty() {
            match known_utm_source(utm_source) {
                Some((name, _)) if !name.is_empty() => name.to_owned(),
                _ => utm_source.to_owned(),
            }
        } else {
            from_referrer.map(|s| s.source).unwrap_or_default()
        };
        return Source::new(source, channel);
    }
    if let Some(s) = from_referrer {
        return s;
    }
    if !utm_source.is_empty() {
        return match known_utm_source(utm_source) {
            Some((name, channel)) if !name.is_empty() => Source::new(name, channel),
            Some((_, channel)) => Source::new(utm_source, channel),
            None => Source::new(utm_source, REFERRAL),
        };
    }
    Source::direct()
}

/// The source a referrer names, or `None` when it is absent, unusable or the site
/// itself.
fn referrer_source(referrer: &str, site_host: &str) -> Option<Source> {
    let r = crate::client::truncate(referrer.trim(), MAX_REFERRER_BYTES);
    if let Some(rest) =
        strip_prefix_ci(r, "android-app://").or_else(|| strip_prefix_ci(r, "ios-app://"))
    {
        let id = rest.split(['/', '?', '#']).next().unwrap_or("");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        return Some(
            match APPS.iter().find(|(app, _)| app.eq_ignore_ascii_case(id)) {
                Some(&(_, (name, channel))) => Source::new(name, channel),
                None => Source::new(id, REFERRAL),
            },
        );
    }
    let rest = strip_prefix_ci(r, "https://")
        .or_else(|| strip_prefix_ci(r, "http://"))
        .or_else(|| r.strip_prefix("//"))?;
    let host = host_of(rest)?;
    if is_internal(&host, site_host) {
        return None;
    }
    Some(match known_host(&host) {
        Some((name, channel)) if !name.is_empty() => Source::new(name, channel),
        Some((_, channel)) => Source::new(without_www(&host), channel),
        None => Source::new(without_www(&host), REFERRAL),
    })
}

/// The lower-case host of a URL without its scheme (`user@host:port/path…`), without
/// port and trailing dot; `None` when empty or malformed.
fn host_of(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        // An IPv6 literal: `[::1]:8080`.
        &host_port[..host_port.find(']')? + 1]
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('.')
        && !host.contains("..")
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '.' | '_' | '[' | ']' | ':')
                || c.is_alphanumeric()
        });
    ok.then(|| host.to_lowercase())
}

fn without_www(host: &str) -> &str {
    match host.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest,
        _ => host,
    }
}

/// Whether `host` (lower case, no port) is the site `site_host` or a subdomain of it,
/// ignoring `www.` and ports.
fn is_internal(host: &str, site_host: &str) -> bool {
    let site = site_host.trim();
    let site = if site.starts_with('[') {
        site.find(']').map_or(site, |i| &site[..=i])
    } else {
        site.split(':').next().unwrap_or("")
    };
    let site = site.strip_suffix('.').unwrap_or(site);
    let site = without_www(site);
    let host = without_www(host);
    if site.is_empty() {
        return false;
    }
    host.eq_ignore_ascii_case(site) || is_subdomain(host, site)
}

/// Whether `host` ends with `.domain` (ASCII case ignored).
fn is_subdomain(host: &str, domain: &str) -> bool {
    let (h, d) = (host.as_bytes(), domain.as_bytes());
    h.len() > d.len()
        && h[h.len() - d.len()..].eq_ignore_ascii_case(d)
        && h[h.len() - d.len() - 1] == b'.'
}

/// The name and channel of a known host (lower case, no port): the longest matching
/// entry of [`DOMAINS`]; else webmail (`""`, `email`) when the host starts with `mail.`
/// or `webmail.`; else its [`brand`] in [`BRANDS`].
fn known_host(host: &str) -> Option<Known> {
    let mut best: Option<(usize, Known)> = None;
    for &(domain, known) in DOMAINS {
        if (host == domain || is_subdomain(host, domain))
            && best.is_none_or(|(len, _)| domain.len() > len)
        {
            best = Some((domain.len(), known));
        }
    }
    if let Some((_, known)) = best {
        return Some(known);
    }
    if host.starts_with("mail.") || host.starts_with("webmail.") {
        return Some(("", EMAIL));
    }
    brand_of(brand(host)?)
}

fn brand_of(label: &str) -> Option<Known> {
    BRANDS
        .binary_search_by(|(name, _)| name.cmp(&label))
        .ok()
        .map(|i| BRANDS[i].1)
}

/// The label before a host's public-suffix-like tail: the last label is the tail, or
/// the last two when the last is a two-letter country code and the one before it is a
/// generic second level (`co`, `com`, `org`, … as in `co.uk`, `com.br`). `None` for a
/// single-label host. This is a simplification of the Public Suffix List: `google.de`,
/// `google.co.uk` and `google.com.br` all have the brand `google`; `google.evil.com`
/// has `evil`.
pub fn brand(host: &str) -> Option<&str> {
    let mut labels = host.rsplit('.');
    let tld = labels.next()?;
    let second = labels.next()?;
    if tld.len() == 2
        && SECOND_LEVELS.contains(&second)
        && let Some(third) = labels.next()
    {
        return Some(third);
    }
    Some(second)
}

/// The display name and channel of a `utm_source`, when it names a known place: a
/// host (`t.co`, `www.google.com`), a brand (`google`) or one of [`UTM_SOURCES`].
fn known_utm_source(utm_source: &str) -> Option<Known> {
    let s = utm_source.to_ascii_lowercase();
    if s.contains('.') {
        return known_host(&s);
    }
    UTM_SOURCES
        .iter()
        .find(|(name, _)| *name == s)
        .map(|&(_, known)| known)
        .or_else(|| brand_of(&s))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.as_bytes().get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(source: &str, channel: &'static str) -> Source {
        Source::new(source, channel)
    }

    fn by_referrer(referrer: &str) -> Source {
        classify_source(referrer, "shop.example", "", "")
    }

    #[test]
    fn tables_are_well_formed() {
        for (label, (name, channel)) in BRANDS {
            assert!(CHANNELS.contains(channel), "{label}");
            assert!(!name.is_empty() && !label.contains('.'), "{label}");
        }
        assert!(BRANDS.windows(2).all(|w| w[0].0 < w[1].0), "BRANDS sorted");
        for (domain, (_, channel)) in DOMAINS {
            assert!(CHANNELS.contains(channel), "{domain}");
            assert_eq!(domain.to_ascii_lowercase(), *domain);
            assert!(domain.contains('.'), "{domain}");
        }
        let mut d: Vec<_> = DOMAINS.iter().map(|d| d.0).collect();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), DOMAINS.len(), "DOMAINS without duplicates");
        for (_, (_, channel)) in APPS.iter().chain(UTM_SOURCES) {
            assert!(CHANNELS.contains(channel));
        }
        for (_, channel) in MEDIUMS {
            assert!(CHANNELS.contains(channel));
        }
    }

    #[test]
    fn no_referrer_is_direct() {
        assert_eq!(by_referrer(""), src("", "direct"));
        assert_eq!(by_referrer("   "), src("", "direct"));
    }

    #[test]
    fn search_engines() {
        for r in [
            "https://www.google.com/",
            "https://www.google.de/",
            "https://google.co.uk/",
            "https://www.google.com.br/search?q=x",
            "https://images.google.com/",
            "HTTPS://WWW.GOOGLE.FR",
            "http://www.google.com:443/",
            "//www.google.com/",
            "https://user:pw@www.google.com./",
        ] {
            assert_eq!(by_referrer(r), src("Google", "search"), "{r}");
        }
        assert_eq!(by_referrer("https://www.bing.com/"), src("Bing", "search"));
        assert_eq!(
            by_referrer("https://cn.bing.com/search?q=1"),
            src("Bing", "search")
        );
        assert_eq!(
            by_referrer("https://duckduckgo.com/"),
            src("DuckDuckGo", "search")
        );
        assert_eq!(
            by_referrer("https://search.yahoo.com/"),
            src("Yahoo", "search")
        );
        assert_eq!(by_referrer("https://yahoo.co.jp/"), src("Yahoo", "search"));
        assert_eq!(
            by_referrer("https://yandex.ru/search"),
            src("Yandex", "search")
        );
        assert_eq!(by_referrer("https://ya.ru/"), src("Yandex", "search"));
        assert_eq!(
            by_referrer("https://www.baidu.com/"),
            src("Baidu", "search")
        );
        assert_eq!(
            by_referrer("https://www.ecosia.org/"),
            src("Ecosia", "search")
        );
        assert_eq!(
            by_referrer("https://search.brave.com/search?q=a"),
            src("Brave Search", "search")
        );
        assert_eq!(
            by_referrer("https://www.startpage.com/"),
            src("Startpage", "search")
        );
    }

    #[test]
    fn lookalikes_are_not_brands() {
        assert_eq!(
            by_referrer("https://notgoogle.com/"),
            src("notgoogle.com", "referral")
        );
        assert_eq!(
            by_referrer("https://google.evil.com/x"),
            src("google.evil.com", "referral")
        );
        assert_eq!(
            by_referrer("https://www.googleblog.com/"),
            src("googleblog.com", "referral")
        );
        assert_eq!(
            by_referrer("https://not-t.co/"),
            src("not-t.co", "referral")
        );
        assert_eq!(
            by_referrer("https://evil.com/?r=https://www.google.com/"),
            src("evil.com", "referral")
        );
        assert_eq!(
            by_referrer("https://evil.com/www.google.com"),
            src("evil.com", "referral")
        );
        assert_eq!(
            by_referrer("https://www.google.com@evil.com/"),
            src("evil.com", "referral")
        );
    }

    #[test]
    fn social_networks() {
        for (r, name) in [
            ("https://www.facebook.com/", "Facebook"),
            ("https://m.facebook.com/", "Facebook"),
            ("https://l.facebook.com/l.php?u=x", "Facebook"),
            ("https://lm.facebook.com/", "Facebook"),
            ("https://fb.me/abc", "Facebook"),
            ("https://www.instagram.com/", "Instagram"),
            ("https://l.instagram.com/", "Instagram"),
            ("https://t.co/abc", "X"),
            ("https://twitter.com/", "X"),
            ("https://x.com/someone", "X"),
            ("https://www.linkedin.com/", "LinkedIn"),
            ("https://lnkd.in/abc", "LinkedIn"),
            ("https://www.reddit.com/r/rust", "Reddit"),
            ("https://old.reddit.com/", "Reddit"),
            ("https://www.youtube.com/", "YouTube"),
            ("https://youtu.be/xyz", "YouTube"),
            ("https://www.pinterest.com/", "Pinterest"),
            ("https://www.pinterest.de/", "Pinterest"),
            ("https://www.tiktok.com/", "TikTok"),
        ] {
            assert_eq!(by_referrer(r), src(name, "social"), "{r}");
        }
    }

    #[test]
    fn webmail() {
        assert_eq!(
            by_referrer("https://mail.google.com/mail/u/0/"),
            src("Gmail", "email")
        );
        assert_eq!(
            by_referrer("https://outlook.live.com/"),
            src("Outlook", "email")
        );
        assert_eq!(
            by_referrer("https://outlook.office.com/"),
            src("Outlook", "email")
        );
        assert_eq!(
            by_referrer("https://outlook.office365.com/"),
            src("Outlook", "email")
        );
        assert_eq!(
            by_referrer("https://mail.yahoo.com/"),
            src("Yahoo Mail", "email")
        );
        assert_eq!(
            by_referrer("https://mail.yahoo.co.jp/"),
            src("mail.yahoo.co.jp", "email")
        );
        assert_eq!(
            by_referrer("https://webmail.example.org/"),
            src("webmail.example.org", "email")
        );
    }

    #[test]
    fn named_and_other_referrers() {
        assert_eq!(
            by_referrer("https://news.ycombinator.com/item?id=1"),
            src("Hacker News", "referral")
        );
        assert_eq!(
            by_referrer("https://news.google.com/"),
            src("Google News", "referral")
        );
        assert_eq!(
            by_referrer("https://www.g2.com/products/x/reviews"),
            src("G2", "referral")
        );
        assert_eq!(
            by_referrer("https://www.capterra.com/p/1/"),
            src("Capterra", "referral")
        );
        assert_eq!(
            by_referrer("https://www.idealo.de/"),
            src("idealo", "referral")
        );
        assert_eq!(
            by_referrer("https://flipboard.com/"),
            src("Flipboard", "referral")
        );
        assert_eq!(
            by_referrer("https://de.wikipedia.org/wiki/X"),
            src("Wikipedia", "referral")
        );
        assert_eq!(
            by_referrer("https://sites.google.com/view/x"),
            src("sites.google.com", "referral")
        );
        assert_eq!(
            by_referrer("https://www.googleadservices.com/pagead/aclk"),
            src("Google", "paid")
        );
        assert_eq!(
            by_referrer("https://fashionblog.example/autumn-trends"),
            src("fashionblog.example", "referral")
        );
        assert_eq!(
            by_referrer("https://www.example.org:8443/a"),
            src("example.org", "referral")
        );
        assert_eq!(
            by_referrer("http://192.168.1.10/"),
            src("192.168.1.10", "referral")
        );
        assert_eq!(by_referrer("http://[::1]:8080/"), src("[::1]", "referral"));
        assert_eq!(
            by_referrer("https://Blog.Example.COM/"),
            src("blog.example.com", "referral")
        );
        assert_eq!(by_referrer("https://www./"), src("www", "referral"));
    }

    #[test]
    fn self_referrals_are_direct() {
        for r in [
            "https://shop.example/p/1",
            "https://www.shop.example/",
            "http://shop.example:8080/",
            "https://blog.shop.example/post",
            "https://SHOP.EXAMPLE/",
        ] {
            assert_eq!(by_referrer(r), src("", "direct"), "{r}");
        }
        assert_eq!(
            classify_source("https://shop.example/", "www.shop.example", "", ""),
            src("", "direct")
        );
        assert_eq!(
            classify_source("http://localhost:3000/", "localhost:8080", "", ""),
            src("", "direct")
        );
        // A parent domain or a look-alike is not the site.
        assert_eq!(
            classify_source("https://example.com/", "blog.example.com", "", ""),
            src("example.com", "referral")
        );
        assert_eq!(
            by_referrer("https://myshop.example/"),
            src("myshop.example", "referral")
        );
        // No site host: nothing is internal.
        assert_eq!(
            classify_source("https://shop.example/", "", "", ""),
            src("shop.example", "referral")
        );
    }

    #[test]
    fn unusable_referrers_are_ignored() {
        for r in [
            "about:blank",
            "file:///home/a.html",
            "chrome-extension://abc/x.html",
            "ftp://example.com/",
            "www.google.com",
            "https://",
            "https:///path",
            "https://exa mple.com/",
            "https://a..b/",
            "https://[::1/",
            "android-app://",
            "android-app:///x",
        ] {
            assert_eq!(by_referrer(r), src("", "direct"), "{r}");
        }
        assert_eq!(
            classify_source("about:blank", "shop.example", "news", ""),
            src("news", "referral")
        );
    }

    #[test]
    fn android_apps() {
        assert_eq!(
            by_referrer("android-app://com.google.android.gm/"),
            src("Gmail", "email")
        );
        assert_eq!(
            by_referrer("android-app://com.google.android.gm"),
            src("Gmail", "email")
        );
        assert_eq!(
            by_referrer(
                "android-app://com.google.android.googlequicksearchbox/https/www.google.com"
            ),
            src("Google", "search")
        );
        assert_eq!(
            by_referrer("android-app://com.slack/"),
            src("com.slack", "referral")
        );
        assert_eq!(
            by_referrer("android-app://com.linkedin.android/"),
            src("LinkedIn", "social")
        );
        assert_eq!(by_referrer("ios-app://123456/"), src("123456", "referral"));
    }

    #[test]
    fn utm_medium_decides_the_channel() {
        let c = |r, s, m| classify_source(r, "shop.example", s, m);
        assert_eq!(
            c("https://www.google.com/", "google", "cpc"),
            src("Google", "paid")
        );
        assert_eq!(c("", "google", "CPC"), src("Google", "paid"));
        assert_eq!(
            c("https://m.facebook.com/", "facebook", "paid_social"),
            src("Facebook", "paid")
        );
        assert_eq!(
            c("https://www.linkedin.com/", "linkedin", "paid_social"),
            src("LinkedIn", "paid")
        );
        assert_eq!(c("", "newsletter", "email"), src("Newsletter", "email"));
        assert_eq!(c("", "hubspot", "email"), src("HubSpot", "email"));
        assert_eq!(
            c("", "weekly-digest", "E-Mail"),
            src("weekly-digest", "email")
        );
        assert_eq!(c("", "Acme Ads", "display"), src("Acme Ads", "paid"));
        assert_eq!(c("", "bing", "paidsearch"), src("Bing", "paid"));
        assert_eq!(c("", "x", "paid-social"), src("X", "paid"));
        assert_eq!(c("", "mastodon", "social"), src("Mastodon", "social"));
        assert_eq!(c("", "foo", "sm"), src("foo", "social"));
        assert_eq!(c("", "google", "organic"), src("Google", "search"));
        assert_eq!(
            c("", "partnerblog", "affiliate"),
            src("partnerblog", "referral")
        );
        // No utm_source: the referrer names the source.
        assert_eq!(
            c("https://www.google.com/", "", "cpc"),
            src("Google", "paid")
        );
        assert_eq!(
            c("https://ads.example/", "", "banner"),
            src("ads.example", "paid")
        );
        assert_eq!(c("", "", "email"), src("", "email"));
        // Self-referral with a tagged URL.
        assert_eq!(c("https://shop.example/", "", "email"), src("", "email"));
        for m in [
            "cpc",
            "ppc",
            "paid",
            "paidsearch",
            "paid_search",
            "paid_social",
            "paidsocial",
            "cpm",
            "display",
            "banner",
            "retargeting",
        ] {
            assert_eq!(medium_channel(m), Some("paid"), "{m}");
            assert_eq!(medium_channel(&m.to_ascii_uppercase()), Some("paid"), "{m}");
        }
        for m in ["email", "e-mail", "newsletter"] {
            assert_eq!(medium_channel(m), Some("email"), "{m}");
        }
        for m in ["social", "social-network", "social_media", "sm"] {
            assert_eq!(medium_channel(m), Some("social"), "{m}");
        }
        assert_eq!(medium_channel("organic"), Some("search"));
        assert_eq!(medium_channel(""), None);
        assert_eq!(medium_channel("qr"), None);
        assert_eq!(medium_channel("pai"), None);
    }

    #[test]
    fn utm_source_without_a_known_medium() {
        let c = |r, s, m| classify_source(r, "shop.example", s, m);
        // A referrer decides.
        assert_eq!(c("https://t.co/x", "spring", ""), src("X", "social"));
        assert_eq!(c("https://t.co/x", "spring", "qr"), src("X", "social"));
        // Without one, the utm_source alone.
        assert_eq!(c("", "facebook", ""), src("Facebook", "social"));
        assert_eq!(c("", "google", ""), src("Google", "search"));
        assert_eq!(c("", "newsletter", ""), src("Newsletter", "email"));
        assert_eq!(c("", "chatgpt.com", ""), src("ChatGPT", "referral"));
        assert_eq!(c("", "www.reddit.com", ""), src("Reddit", "social"));
        assert_eq!(
            c("", "Poster-Berlin", "print"),
            src("Poster-Berlin", "referral")
        );
        assert_eq!(c("", "  spaced  ", ""), src("spaced", "referral"));
        assert_eq!(c("https://shop.example/", "qr", ""), src("qr", "referral"));
        assert_eq!(
            c("", "sites.google.com", ""),
            src("sites.google.com", "referral")
        );
    }

    /// The generator's acquisition table (crates/gen/src/data.rs): referrer, utm_source,
    /// utm_medium → the source and channel it stores.
    #[test]
    fn generator_vocabulary() {
        let cases = [
            ("", "", "", "", "direct"),
            ("https://www.google.com/", "", "", "Google", "search"),
            ("https://www.bing.com/", "", "", "Bing", "search"),
            ("https://duckduckgo.com/", "", "", "DuckDuckGo", "search"),
            ("https://www.google.com/", "google", "cpc", "Google", "paid"),
            (
                "https://www.facebook.com/",
                "facebook",
                "paid_social",
                "Facebook",
                "paid",
            ),
            (
                "https://m.facebook.com/",
                "facebook",
                "paid_social",
                "Facebook",
                "paid",
            ),
            (
                "https://www.linkedin.com/",
                "linkedin",
                "paid_social",
                "LinkedIn",
                "paid",
            ),
            ("https://www.facebook.com/", "", "", "Facebook", "social"),
            ("https://m.facebook.com/", "", "", "Facebook", "social"),
            ("https://www.instagram.com/", "", "", "Instagram", "social"),
            ("https://l.instagram.com/", "", "", "Instagram", "social"),
            ("https://www.pinterest.com/", "", "", "Pinterest", "social"),
            ("https://www.linkedin.com/", "", "", "LinkedIn", "social"),
            ("https://lnkd.in/", "", "", "LinkedIn", "social"),
            ("https://t.co/", "", "", "X", "social"),
            ("https://www.reddit.com/", "", "", "Reddit", "social"),
            ("", "newsletter", "email", "Newsletter", "email"),
            ("", "hubspot", "email", "HubSpot", "email"),
            ("https://www.idealo.de/", "", "", "idealo", "referral"),
            (
                "https://fashionblog.example/autumn-trends",
                "",
                "",
                "fashionblog.example",
                "referral",
            ),
            (
                "https://www.g2.com/products/saas-example/reviews",
                "",
                "",
                "G2",
                "referral",
            ),
            (
                "https://www.capterra.com/p/12345/saas-example/",
                "",
                "",
                "Capterra",
                "referral",
            ),
            (
                "https://news.ycombinator.com/",
                "",
                "",
                "Hacker News",
                "referral",
            ),
            (
                "https://news.google.com/",
                "",
                "",
                "Google News",
                "referral",
            ),
            ("https://flipboard.com/", "", "", "Flipboard", "referral"),
        ];
        for (r, s, m, source, channel) in cases {
            for site in ["shop.example", "saas.example", "news.example"] {
                assert_eq!(
                    classify_source(r, site, s, m),
                    src(source, channel),
                    "{r} {s} {m}"
                );
            }
        }
    }

    #[test]
    fn brands() {
        assert_eq!(brand("www.google.co.uk"), Some("google"));
        assert_eq!(brand("google.com.br"), Some("google"));
        assert_eq!(brand("google.de"), Some("google"));
        assert_eq!(brand("google.co"), Some("google"));
        assert_eq!(brand("co.uk"), Some("co"));
        assert_eq!(brand("google.evil.com"), Some("evil"));
        assert_eq!(brand("localhost"), None);
        assert_eq!(brand(""), None);
    }

    #[test]
    fn huge_referrer() {
        let r = format!("https://{}.example/", "a".repeat(10_000));
        assert_eq!(by_referrer(&r), src("", "direct"));
        let r = format!("https://www.google.com/search?q={}", "é".repeat(10_000));
        assert_eq!(by_referrer(&r), src("Google", "search"));
    }
}
