//! Enrichment at ingest: user agent, referrer, bots.
//!
//! Browser events are enriched once, when they arrive; what is stored is the result,
//! never the raw User-Agent header. The rules, in plain words:
//!
//! # Browser, operating system and device ([`parse_user_agent`])
//!
//! Only the first 1,024 bytes of the User-Agent header are read.
//!
//! **Browser**: the first of these found wins, in this order (the order matters:
//! Edge, Opera and Samsung Internet also call themselves Chrome and Safari):
//! `Facebook` (the in-app browser: `FBAN/`, `FBAV/`, `FB_IAB/`), `Instagram` (in-app),
//! `Samsung Internet`, `Yandex Browser`, `UC Browser`, `Opera` (`OPR/`, `OPiOS/`,
//! `OPT/`, `Opera`), `Edge` (`Edg/`, `EdgA/`, `EdgiOS/`, `Edge/`), `Vivaldi`,
//! `DuckDuckGo`, `Firefox` (`Firefox/`, and `FxiOS/` on iPhone and iPad), `Chrome`
//! (`CriOS/` on iPhone and iPad), `Internet Explorer` (`MSIE`, `Trident/`), `Chrome`
//! (`Chrome/`, `Chromium/`: also Brave, Arc and other Chromium-based browsers that do
//! not name themselves), then `Safari` (`Safari/`, or any WebKit view on an Apple
//! system, such as an app's in-app browser) — on Android, a `Safari/` without `Chrome/`
//! is the old `Android Browser`. Anything else is unknown (`""`).
//!
//! **Operating system**, tried in this order: `Windows Phone`, `iPadOS` (`iPad`),
//! `iOS` (`iPhone`, `iPod`), `KaiOS`, `Chrome OS` (`CrOS`), `Android`, `Windows`,
//! `macOS` (`Macintosh`, `Mac OS X`), `FreeBSD`, `OpenBSD`, `NetBSD`, `Linux` (`Linux`,
//! `X11`); otherwise unknown. iPads whose Safari asks for desktop websites (the default
//! since iPadOS 13) send exactly a Mac's user agent: they count as `macOS`, `desktop`.
//!
//! **Device**: `tablet` for iPads and for Android without `Mobile` (Android phones say
//! `Mobile`, tablets do not); `mobile` for iPhones, iPods, Windows Phone, KaiOS,
//! Android with `Mobile`, and any user agent containing `Mobi`; `desktop` for any
//! other known system; unknown (`""`) otherwise.
//!
//! **Bots** are not stored (they are counted in `cairn_events_ignored_total`). A user
//! agent is a bot when it is shorter than 8 characters (empty included) or contains,
//! in any letter case, one of [`BOT_TOKENS`]: crawler words (`bot`, `crawl`, `spider`,
//! …), named crawlers, link previewers (`facebookexternalhit`, `preview`, …), headless
//! browsers (`HeadlessChrome`, `PhantomJS`, …), performance and uptime monitors, HTTP
//! libraries and command-line tools (`curl/`, `python-requests`, `Go-http-client`,
//! `okhttp`, …), scanners and feed readers, and `+http` (the "about this bot" link that
//! crawlers put in their user agent). The phone maker Cubot is not a bot. Browsers
//! automated in Chromium's new headless mode (Playwright, Puppeteer with `--headless`)
//! send a normal user agent and cannot be told apart.
//!
//! # Source and channel ([`classify_source`])
//!
//! Each session's first pageview gets a **channel** — `direct`, `search`, `social`,
//! `referral`, `email` or `paid` — and a **source**, the name it is shown by
//! (`Google`, `Facebook`, `Gmail`, `news.example`). In order:
//!
//! 1. **A campaign medium.** When the page URL's `utm_medium` names a channel, it
//!    decides the channel (letter case ignored): `paid` for `cpc`, `ppc`, `cpa`,
//!    `cpm`, `cpv`, `display`, `banner`, `retargeting`, `remarketing` and anything
//!    starting with `paid` (`paid`, `paidsearch`, `paid_social`, …); `email` for
//!    `email`, `e-mail`, `e_mail`, `mail`, `newsletter`; `social` for `social`,
//!    `social-network`, `social_network`, `social-media`, `social_media`,
//!    `socialmedia`, `sm`; `search` for `organic`; `referral` for `referral`,
//!    `affiliate(s)`, `partner(s)`. The source is then the `utm_source` — shown by its
//!    display name when it names a known place (`google` → `Google`, `facebook` or `fb`
//!    → `Facebook`, `linkedin` → `LinkedIn`, `newsletter` → `Newsletter`, `hubspot` →
//!    `HubSpot`, `t.co` → `X`), otherwise exactly as given — or, without a
//!    `utm_source`, the referrer's source, or none.
//! 2. **A referrer.** Otherwise the referrer decides both:
//!    * search engines: `Google`, `Bing`, `DuckDuckGo`, `Yahoo`, `Yandex`, `Baidu`,
//!      `Ecosia`, `Brave Search`, `Startpage`, `Qwant`, `Naver`, `Seznam`, `Sogou`,
//!      `Ask`, `AOL`, `Kagi` → `search`;
//!    * social networks and messengers: `Facebook` (also `fb.me`, `m.me`, Messenger),
//!      `Instagram`, `X` (`t.co`, `twitter.com`, `x.com`), `LinkedIn` (also `lnkd.in`),
//!      `Reddit`, `YouTube`, `Pinterest`, `TikTok`, `Threads`, `Bluesky`, `Mastodon`
//!      (`mastodon.social`), `Tumblr`, `Quora`, `Xing`, `VK`, `Snapchat`, `Discord`,
//!      `WhatsApp`, `Telegram`, `Weibo` → `social`;
//!    * webmail: `Gmail`, `Outlook`, `Yahoo Mail`, `AOL Mail`, `Yandex Mail`,
//!      `Proton Mail`, `Zoho Mail`, `Fastmail`, `GMX`, `WEB.DE`, and any other host
//!      starting with `mail.` or `webmail.` (shown by its host) → `email`;
//!    * ad clicks through `googleadservices.com`, `googlesyndication.com`,
//!      `doubleclick.net` → `Google`, `paid`;
//!    * sites with a display name: `Hacker News`, `Google News`, `G2`, `Capterra`,
//!      `idealo`, `Flipboard`, `Wikipedia`, `GitHub`, `Stack Overflow`, `Medium`,
//!      `Product Hunt`, `Trustpilot`, and AI assistants (`ChatGPT`, `Perplexity`,
//!      `Claude`, `Gemini`, `Copilot`) → `referral`;
//!    * Android apps (`android-app://PACKAGE/`): Gmail → `email`, the Google app →
//!      `Google`, `search`, the Facebook, Instagram, X, LinkedIn, Reddit, YouTube,
//!      Pinterest, TikTok, WhatsApp and Telegram apps → `social`, Outlook → `email`;
//!      any other app → `referral`, shown by its package id (`com.slack`);
//!    * any other web site → `referral`, shown by its host without `www.` and port.
//! 3. **A campaign source alone.** Otherwise a `utm_source` without a known medium is
//!    the source; its channel is the known place's (`facebook` → `social`,
//!    `newsletter` → `email`), or `referral`.
//! 4. **Nothing.** Otherwise the session is `direct`, with no source.
//!
//! Hosts are matched by name, not by a full public suffix list: a brand such as
//! `google` matches under any country ending and any subdomain (`google.de`,
//! `www.google.co.uk`, `google.com.br`, `images.google.com`) — the brand is the label
//! before the last label, or before the last two when they look like `co.uk`,
//! `com.br`, `org.au` (a generic second level under a two-letter country code). So
//! `notgoogle.com` and `google.evil.com` are not Google. Listed domains (`t.co`,
//! `news.ycombinator.com`) match themselves and their subdomains, and a listed domain
//! beats a brand: `mail.google.com` is Gmail, `news.google.com` Google News, and
//! `docs.`, `drive.`, `play.`, `sites.`, `accounts.`, `gemini.google.com` are not
//! search.
//!
//! A referrer from the site itself — the page's host or one of its subdomains, `www.`
//! and ports ignored — counts as no referrer: the function classifies a self-referral
//! as direct (the ingest layer does not overwrite a session's source with internal
//! navigation at all). Referrers that are not `http://`, `https://`, `android-app://`
//! or `ios-app://` URLs (`about:blank`, `file:`, browser extensions), or whose host is
//! malformed, are ignored too.
//!
//! # Screen and language
//!
//! The screen is kept as `WIDTHxHEIGHT` in CSS pixels as the browser reports it
//! ([`screen_class`]); a zero or a side over 10,000 drops it. The language is the
//! primary language of the browser's first preferred language, lower case
//! ([`language`]): `de-DE` → `de`, `pt-BR` → `pt`, from `navigator.language` or else
//! the first entry of the `Accept-Language` header; a wildcard or malformed first entry
//! gives none.

mod bots;
mod source;
mod ua;

pub use bots::{BOT_TOKENS, MIN_UA_CHARS, bot_token, is_bot};
pub use source::{CHANNELS, Source, brand, classify_source, medium_channel};
pub use ua::{MAX_UA_BYTES, UserAgent, parse_user_agent};

/// Screens with a side longer than this many pixels are taken for garbage.
pub const MAX_SCREEN_SIDE: u32 = 10_000;

/// The screen class `"WIDTHxHEIGHT"` of the tracker's numbers, e.g.
/// `screen_class(1920, 1080) == "1920x1080"`; `""` when a side is zero or larger than
/// [`MAX_SCREEN_SIDE`]. Orientation is kept as reported (`800x1280` ≠ `1280x800`).
pub fn screen_class(w: u32, h: u32) -> String {
    if w == 0 || h == 0 || w > MAX_SCREEN_SIDE || h > MAX_SCREEN_SIDE {
        return String::new();
    }
    format!("{w}x{h}")
}

/// The first language tag of an `Accept-Language` header or `navigator.language`,
/// with its parameters (`;q=0.9`) and spaces dropped.
fn first_tag(s: &str) -> &str {
    let first = s.split(',').next().unwrap_or("");
    first.split(';').next().unwrap_or("").trim()
}

/// Whether `s` is a primary language subtag: two or three ASCII letters.
fn is_language(s: &str) -> bool {
    (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The primary language of an `Accept-Language` header or a `navigator.language` tag,
/// lower case: the first entry's primary subtag. `"de-DE,de;q=0.9,en;q=0.8"` → `"de"`,
/// `"pt-BR"` → `"pt"`, `"en_US"` → `"en"`, `"EN"` → `"en"`. `""` when there is none
/// or the first entry is not a language (`""`, `"*"`, `"i-klingon"`, `"C"`): only the
/// first entry is looked at, as it is the browser's own language.
pub fn language(tag_or_accept_language: &str) -> String {
    let tag = first_tag(tag_or_accept_language);
    let primary = tag.split(['-', '_']).next().unwrap_or("");
    if is_language(primary) {
        primary.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// Like [`language`], but keeping the region: `"de-de,de;q=0.9"` → `"de-DE"`,
/// `"zh-Hant-TW"` → `"zh-TW"` (the script is dropped), `"es-419"` → `"es-419"`,
/// `"en"` → `"en"`. This is the form the demo data generator stores
/// (`navigator.language`); `""` under the same conditions as [`language`].
pub fn language_tag(tag_or_accept_language: &str) -> String {
    let tag = first_tag(tag_or_accept_language);
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    if !is_language(primary) {
        return String::new();
    }
    let mut out = primary.to_ascii_lowercase();
    let region = parts.take(2).find(|p| {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic()))
            || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if let Some(r) = region {
        out.push('-');
        out.push_str(&r.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens() {
        assert_eq!(screen_class(1920, 1080), "1920x1080");
        assert_eq!(screen_class(390, 844), "390x844");
        assert_eq!(screen_class(800, 1280), "800x1280");
        assert_eq!(screen_class(10_000, 10_000), "10000x10000");
        assert_eq!(screen_class(0, 1080), "");
        assert_eq!(screen_class(1920, 0), "");
        assert_eq!(screen_class(10_001, 1080), "");
        assert_eq!(screen_class(1920, u32::MAX), "");
    }

    #[test]
    fn languages() {
        for (input, want) in [
            ("de-DE,de;q=0.9,en;q=0.8", "de"),
            ("de-DE", "de"),
            ("en-US", "en"),
            ("pt-BR", "pt"),
            ("en_US", "en"),
            ("EN", "en"),
            ("fil-PH", "fil"),
            (" fr-CH , fr;q=0.9", "fr"),
            ("en;q=0.8", "en"),
            ("zh-Hant-TW", "zh"),
            ("", ""),
            ("*", ""),
            ("*, en", ""),
            ("i-klingon", ""),
            ("C", ""),
            ("english", ""),
            ("e1-US", ""),
            ("ü-DE", ""),
            (",de", ""),
        ] {
            assert_eq!(language(input), want, "{input:?}");
        }
    }

    #[test]
    fn language_tags() {
        for (input, want) in [
            ("de-DE,de;q=0.9", "de-DE"),
            ("de-de", "de-DE"),
            ("en_us", "en-US"),
            ("en", "en"),
            ("zh-Hant-TW", "zh-TW"),
            ("zh-Hant", "zh"),
            ("es-419", "es-419"),
            ("sl-rozaj", "sl"),
            ("*", ""),
            ("", ""),
        ] {
            assert_eq!(language_tag(input), want, "{input:?}");
        }
    }

    /// xorshift64: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Pieces that steer random strings towards the parsers' interesting paths.
    const PIECES: &[&str] = &[
        "https://",
        "http://",
        "//",
        "android-app://",
        "ios-app://",
        "www.",
        "google.",
        "co.",
        "uk",
        ".com",
        "t.co",
        "mail.",
        ".",
        "..",
        ":",
        "@",
        "/",
        "?",
        "#",
        "[",
        "]",
        "::1",
        "Mozilla/5.0 (",
        "iPhone",
        "iPad",
        "Android",
        "Mobile",
        "Mobi",
        "Windows",
        "CrOS",
        "Chrome/",
        "Safari/",
        "Edg/",
        "OPR/",
        "bot",
        "cu",
        "BOT",
        "curl/",
        "+http",
        ",",
        ";",
        "q=0.9",
        "-",
        "_",
        "de",
        "*",
        " ",
        "é",
        "日本",
        "\u{0}",
        "\u{feff}",
        "🦀",
        "ß",
        "İ",
        "paid",
        "cpc",
        "email",
        "x",
    ];

    fn random_string(rng: &mut Rng) -> String {
        let mut s = String::new();
        let parts = rng.below(12);
        for _ in 0..parts {
            match rng.below(4) {
                0 => s.push_str(PIECES[rng.below(PIECES.len())]),
                1 => {
                    let c = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('?');
                    s.push(c);
                }
                2 => s.push((b' ' + rng.below(95) as u8) as char),
                _ => {
                    let n = rng.below(5);
                    for _ in 0..n {
                        s.push((b'a' + rng.below(26) as u8) as char);
                    }
                }
            }
        }
        if rng.below(200) == 0 {
            s = s.repeat(1 + rng.below(400));
        }
        s
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..10_000 {
            let a = random_string(&mut rng);
            let b = random_string(&mut rng);
            let c = random_string(&mut rng);
            let d = random_string(&mut rng);

            let ua = parse_user_agent(&a);
            assert!(
                ["", "desktop", "mobile", "tablet"].contains(&ua.device),
                "{a:?}"
            );
            assert_eq!(ua.bot, is_bot(&a));

            for (r, site) in [(&a, &b), (&b, &a)] {
                let s = classify_source(r, site, &c, &d);
                assert!(CHANNELS.contains(&s.channel), "{r:?}");
                assert!(s.channel != "direct" || s.source.is_empty(), "{r:?}");
                let s = classify_source(r, site, "", "");
                assert_eq!(s.source.is_empty(), s.channel == "direct", "{r:?} {site:?}");
            }

            let l = language(&a);
            assert!(l.is_empty() || is_language(&l), "{a:?} -> {l:?}");
            let t = language_tag(&a);
            assert!(t.starts_with(&l), "{a:?}");

            let (w, h) = (rng.next() as u32 % 20_000, rng.next() as u32 % 20_000);
            let sc = screen_class(w, h);
            assert_eq!(sc.is_empty(), w == 0 || h == 0 || w > 10_000 || h > 10_000);
            let _ = screen_class(rng.next() as u32, rng.next() as u32);
        }
    }

    #[test]
    fn huge_inputs() {
        let huge = "Mozilla/5.0 (iPhone; ".to_string() + &"é🦀a".repeat(300_000);
        assert_eq!(
            parse_user_agent(&huge),
            UserAgent {
                browser: "",
                os: "iOS",
                device: "mobile",
                bot: false
            }
        );
        let referrer = format!("https://www.google.com/{huge}");
        assert_eq!(
            classify_source(&referrer, &huge, &huge, &huge),
            Source {
                source: "Google".into(),
                channel: "search"
            }
        );
        assert_eq!(language(&huge), "");
        assert_eq!(language(&"de-".repeat(1_000_000)), "de");
    }
}
