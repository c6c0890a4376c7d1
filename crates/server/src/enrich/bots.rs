//! Bot detection: a user agent is a bot when it is (nearly) empty or contains one of
//! [`BOT_TOKENS`], compared without regard to ASCII case.
//!
//! The scan is one pass over the user agent's bytes with no allocation: the tokens are
//! sorted, so those starting with the same byte lie side by side, and a table built at
//! compile time gives, for each byte, the tokens that can start there.

use super::ua::cap;

/// User agents shorter than this many characters (after trimming spaces) are bots: no
/// browser sends less than `Mozilla/5.0`.
pub const MIN_UA_CHARS: usize = 8;

/// Substrings (lower case) that mark a user agent as a bot, matched anywhere in it
/// without regard to ASCII case. Sorted by byte, no duplicates; checked at compile time.
///
/// Some entries are already covered by a broader one (`gptbot` by `bot`,
/// `apache-httpclient` by `httpclient`); they are kept so that the list documents what is
/// caught, and so that narrowing a broad token later does not silently let them through.
///
/// What they catch, roughly:
/// * crawlers and their generic words: `bot`, `crawl`, `spider`, `slurp`, `archiver`,
///   and named ones (search engines, SEO tools, AI crawlers);
/// * link previews: `facebookexternalhit`, `embedly`, `preview`, `whatsapp/`, …;
/// * headless and automated browsers: `headlesschrome` (the old headless mode; the new
///   `--headless` mode sends a normal Chrome user agent and cannot be told apart),
///   `phantomjs`, `puppeteer`, `lighthouse`;
/// * monitors: `pingdom`, `uptime`, `monitor`, `statuscake`, `site24x7`, `gtmetrix`;
/// * HTTP libraries and tools: `curl/`, `wget/`, `python-requests`, `go-http-client`,
///   `okhttp`, `java/`, `axios/`, `postman`, …; scanners: `zgrab`, `masscan`, `nmap`;
/// * feed readers: `rss`, `feedfetcher`, `feedly`, `feedbin`;
/// * `+http`: the "more about this bot" address crawlers put in their user agent
///   (`(compatible; FooBot/1.0; +https://foo.example/bot)`); browsers never do.
///
/// `playwright` is not listed: Playwright drives real browsers whose user agent is a
/// normal one (`HeadlessChrome` only in Chromium's old headless mode).
pub static BOT_TOKENS: &[&str] = TOKENS;

const TOKENS: &[&str] = &[
    "+http",
    "adsbot",
    "ahrefs",
    "aiohttp",
    "amazonbot",
    "anthropic-ai",
    "apache-httpclient",
    "applebot",
    "archiver",
    "axios/",
    "baiduspider",
    "bingpreview",
    "bot",
    "bytespider",
    "ccbot",
    "chatgpt-user",
    "claude-web",
    "claudebot",
    "crawl",
    "curl/",
    "dataforseo",
    "dotbot",
    "duckduckbot",
    "embedly",
    "facebookcatalog",
    "facebookexternalhit",
    "feedbin",
    "feedfetcher",
    "feedly",
    "go-http-client",
    "google-inspectiontool",
    "googleother",
    "gptbot",
    "gtmetrix",
    "headlesschrome",
    "httpclient",
    "httpie",
    "httpx",
    "insomnia",
    "java/",
    "libcurl",
    "libwww-perl",
    "lighthouse",
    "masscan",
    "mediapartners",
    "meta-externalagent",
    "meta-externalfetcher",
    "mj12",
    "monitor",
    "nmap",
    "node-fetch",
    "okhttp",
    "perplexity",
    "petalbot",
    "phantomjs",
    "pingdom",
    "postman",
    "powershell",
    "preview",
    "puppeteer",
    "python-requests",
    "python-urllib",
    "rss",
    "scrapy",
    "semrush",
    "site24x7",
    "slurp",
    "spider",
    "statuscake",
    "undici",
    "uptime",
    "validator",
    "wget/",
    "whatsapp/",
    "winhttp",
    "yandex",
    "zgrab",
];

/// A token does not count when it is the end of one of these words (lower case):
/// `(word, token)`. `Cubot` is a phone maker, not a bot.
const NOT_BOTS: &[(&str, &str)] = &[("cubot", "bot")];

/// Whether `tokens` are non-empty, lower-case ASCII without spaces, and strictly
/// increasing by bytes.
const fn well_formed(tokens: &[&str]) -> bool {
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_bytes();
        if t.is_empty() {
            return false;
        }
        let mut j = 0;
        while j < t.len() {
            if !t[j].is_ascii_graphic() || t[j].is_ascii_uppercase() {
                return false;
            }
            j += 1;
        }
        if i > 0 && !less(tokens[i - 1].as_bytes(), t) {
            return false;
        }
        i += 1;
    }
    tokens.len() < u16::MAX as usize
}

/// `a < b`, comparing bytes.
const fn less(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const _: () = assert!(
    well_formed(TOKENS),
    "BOT_TOKENS must be sorted lower-case ASCII"
);

/// For each byte, the range of [`TOKENS`] starting with it.
static FIRST: [(u16, u16); 256] = first_index(TOKENS);

const fn first_index(tokens: &[&str]) -> [(u16, u16); 256] {
    let mut idx = [(0u16, 0u16); 256];
    let mut i = 0;
    while i < tokens.len() {
        let b = tokens[i].as_bytes()[0] as usize;
        if idx[b].1 == 0 {
            idx[b].0 = i as u16;
        }
        idx[b].1 = i as u16 + 1;
        i += 1;
    }
    idx
}

/// The first of [`BOT_TOKENS`] found in `ua` (its first 1024 bytes), if any.
pub fn bot_token(ua: &str) -> Option<&'static str> {
    let hay = cap(ua).as_bytes();
    for i in 0..hay.len() {
        let (a, b) = FIRST[usize::from(hay[i].to_ascii_lowercase())];
        for &t in &TOKENS[usize::from(a)..usize::from(b)] {
            let t_bytes = t.as_bytes();
            let Some(here) = hay.get(i..i + t_bytes.len()) else {
                continue;
            };
            if here.eq_ignore_ascii_case(t_bytes) && !excused(hay, i, t) {
                return Some(t);
            }
        }
    }
    None
}

/// Whether the token `t` found at `hay[at..]` ends one of the [`NOT_BOTS`] words.
fn excused(hay: &[u8], at: usize, t: &str) -> bool {
    NOT_BOTS.iter().any(|&(word, token)| {
        let Some(prefix) = word.len().checked_sub(token.len()) else {
            return false;
        };
        token == t
            && at >= prefix
            && hay[at - prefix..at].eq_ignore_ascii_case(&word.as_bytes()[..prefix])
    })
}

/// Whether a user agent belongs to a bot: shorter than [`MIN_UA_CHARS`] characters
/// (spaces trimmed; so also an empty one) or containing one of [`BOT_TOKENS`].
pub fn is_bot(ua: &str) -> bool {
    ua.trim().chars().nth(MIN_UA_CHARS - 1).is_none() || bot_token(ua).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_sorted_and_indexed() {
        assert!(well_formed(BOT_TOKENS));
        let mut sorted = BOT_TOKENS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, BOT_TOKENS);
        for (i, t) in TOKENS.iter().enumerate() {
            let (a, b) = FIRST[usize::from(t.as_bytes()[0])];
            assert!((usize::from(a)..usize::from(b)).contains(&i), "{t}");
        }
        assert!(!well_formed(&["b", "a"]));
        assert!(!well_formed(&["a", "a"]));
        assert!(!well_formed(&["A"]));
        assert!(!well_formed(&[""]));
        assert!(!well_formed(&["a b"]));
    }

    #[test]
    fn every_token_is_found_in_any_case() {
        for t in BOT_TOKENS {
            let ua = format!("Mozilla/5.0 (X11) {}/1.0", t.to_ascii_uppercase());
            assert!(bot_token(&ua).is_some(), "{ua}");
            assert!(is_bot(&format!("Mozilla/5.0 {t}")), "{t}");
        }
    }

    #[test]
    fn short_and_empty() {
        assert!(is_bot(""));
        assert!(is_bot("   "));
        assert!(is_bot("Mozilla"));
        assert!(is_bot("  abcdefg  "));
        assert!(is_bot("äöüäöüä"));
        assert!(!is_bot("abcdefgh"));
        assert!(!is_bot("äöüäöüäö"));
    }

    #[test]
    fn cubot_phones_are_not_bots() {
        let ua = "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
        assert_eq!(bot_token(ua), None);
        assert_eq!(bot_token("Mozilla/5.0 Cubot robot"), Some("bot"));
        assert_eq!(bot_token("Mozilla/5.0 bot"), Some("bot"));
        assert!(!excused(b"bot", 0, "bot"));
        assert!(!excused(b"cubot", 2, "crawl"));
    }

    #[test]
    fn token_at_the_very_end_and_cut_off() {
        assert_eq!(bot_token("Mozilla/5.0 curl/"), Some("curl/"));
        assert_eq!(bot_token("Mozilla/5.0 cur"), None);
        let long = format!("{}bot", "a".repeat(2000));
        assert_eq!(bot_token(&long), None, "past the 1024-byte cap");
        assert!(!is_bot(&long));
    }
}
