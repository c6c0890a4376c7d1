//! User-Agent parsing: browser, operating system, device class, bot.

use super::bots;

/// Only the first this many bytes of a user agent are read (cut at a character
/// boundary); real ones are a few hundred bytes at most.
pub const MAX_UA_BYTES: usize = 1024;

/// What a User-Agent header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserAgent {
    /// The browser's name, e.g. `"Chrome"`, `"Samsung Internet"`; `""` when unknown.
    pub browser: &'static str,
    /// The operating system, e.g. `"Windows"`, `"iOS"`, `"Chrome OS"`; `""` when unknown.
    pub os: &'static str,
    /// `"desktop"`, `"mobile"` or `"tablet"`; `""` when unknown.
    pub device: &'static str,
    /// A crawler, monitor, link previewer, headless browser or HTTP library
    /// (see [`super::BOT_TOKENS`]).
    pub bot: bool,
}

/// `s` cut to at most [`MAX_UA_BYTES`] bytes, at a character boundary.
pub(crate) fn cap(s: &str) -> &str {
    if s.len() <= MAX_UA_BYTES {
        return s;
    }
    let mut end = MAX_UA_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads browser, operating system, device class and bot flag from a User-Agent
/// header. Never allocates; reads at most the first [`MAX_UA_BYTES`] bytes.
///
/// A bot's user agent is parsed like any other (Googlebot's smartphone crawler says
/// Chrome on Android, mobile); callers drop bots by [`UserAgent::bot`].
pub fn parse_user_agent(ua: &str) -> UserAgent {
    let ua = cap(ua);
    let (os, device) = os_and_device(ua);
    UserAgent {
        browser: browser(ua, os),
        os,
        device,
        bot: bots::is_bot(ua),
    }
}

/// Browser tokens, in the order they are tried: the first found names the browser.
/// Order matters: Edge, Opera, Samsung Internet and the in-app browsers also say
/// `Chrome/` and `Safari/`; Chrome says `Safari/`.
const BROWSERS: &[(&str, &str)] = &[
    // In-app browsers of Facebook and Instagram.
    ("FBAN/", "Facebook"),
    ("FBAV/", "Facebook"),
    ("FB_IAB/", "Facebook"),
    ("Instagram ", "Instagram"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("YaBrowser/", "Yandex Browser"),
    ("UCBrowser/", "UC Browser"),
    ("UCWEB", "UC Browser"),
    ("OPR/", "Opera"),
    ("OPiOS/", "Opera"),
    ("OPT/", "Opera"),
    ("Opera", "Opera"),
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("Edge/", "Edge"),
    ("Vivaldi/", "Vivaldi"),
    ("DuckDuckGo/", "DuckDuckGo"),
    ("Ddg/", "DuckDuckGo"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("MSIE ", "Internet Explorer"),
    ("Trident/", "Internet Explorer"),
    // Brave, Arc, Chromium and other Chromium browsers without a token of their own.
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
];

fn browser(ua: &str, os: &'static str) -> &'static str {
    if let Some(&(_, name)) = BROWSERS.iter().find(|(token, _)| ua.contains(token)) {
        return name;
    }
    let apple = matches!(os, "iOS" | "iPadOS" | "macOS");
    if ua.contains("Safari/") || (apple && ua.contains("AppleWebKit/")) {
        // Android's old built-in browser says `Safari/` without `Chrome/`.
        return if os == "Android" {
            "Android Browser"
        } else {
            "Safari"
        };
    }
    ""
}

fn os_and_device(ua: &str) -> (&'static str, &'static str) {
    let mobi = ua.contains("Mobi");
    let (os, device) = if ua.contains("Windows Phone") {
        ("Windows Phone", "mobile")
    } else if ua.contains("iPad") {
        ("iPadOS", "tablet")
    } else if ua.contains("iPhone") || ua.contains("iPod") {
        ("iOS", "mobile")
    } else if ua.contains("KAIOS") {
        ("KaiOS", "mobile")
    } else if ua.contains("CrOS") {
        ("Chrome OS", "desktop")
    } else if ua.contains("Android") {
        // Android phones say `Mobile`; tablets do not.
        (
            "Android",
            if ua.contains("Mobile") {
                "mobile"
            } else {
                "tablet"
            },
        )
    } else if ua.contains("Windows") {
        ("Windows", "desktop")
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        // Includes iPads in Safari's default "desktop website" mode: the user agent is
        // exactly a Mac's.
        ("macOS", "desktop")
    } else if ua.contains("FreeBSD") {
        ("FreeBSD", "desktop")
    } else if ua.contains("OpenBSD") {
        ("OpenBSD", "desktop")
    } else if ua.contains("NetBSD") {
        ("NetBSD", "desktop")
    } else if ua.contains("Linux") || ua.contains("X11") {
        ("Linux", "desktop")
    } else {
        ("", "")
    };
    let device = if mobi && device != "tablet" {
        "mobile"
    } else {
        device
    };
    (os, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ua(browser: &'static str, os: &'static str, device: &'static str) -> UserAgent {
        UserAgent {
            browser,
            os,
            device,
            bot: false,
        }
    }

    fn bot(browser: &'static str, os: &'static str, device: &'static str) -> UserAgent {
        UserAgent {
            bot: true,
            ..ua(browser, os, device)
        }
    }

    /// Real browsers, as they identify themselves.
    const BROWSER_UAS: &[(&str, &str, &str, &str)] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "macOS",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
            "Safari",
            "macOS",
            "desktop",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Firefox",
            "Linux",
            "desktop",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
            "Firefox",
            "Linux",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Firefox",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
            "Edge",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045",
            "Edge",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0",
            "Opera",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36 OPR/81.1.4292.78446",
            "Opera",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
            "Samsung Internet",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
            "Samsung Internet",
            "Android",
            "tablet",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "Android",
            "tablet",
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
            "Firefox",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
            "Firefox",
            "Android",
            "tablet",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
            "Safari",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
            "Safari",
            "iPadOS",
            "tablet",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
            "Chrome",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
            "Chrome",
            "iPadOS",
            "tablet",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
            "Firefox",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/124.2478.71 Mobile/15E148 Safari/605.1.15",
            "Edge",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
            "Edge",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "Chrome OS",
            "desktop",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/446.0.0.42.114;FBBV/553164960;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/554981523]",
            "Facebook",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/117.0.5938.153 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/435.0.0.42.112;]",
            "Facebook",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,2; iOS 17_1; en_US; en; scale=3.00; 1179x2556; 530541592)",
            "Instagram",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 Instagram 327.0.0.38.120 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; en_US; 587148371)",
            "Instagram",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
            "Yandex Browser",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 11; en-US; RMX2193 Build/RP1A.200720.011) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
            "UC Browser",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Vivaldi/6.7.3329.21",
            "Vivaldi",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            "Internet Explorer",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
            "Internet Explorer",
            "Windows",
            "desktop",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 DuckDuckGo/7 Safari/605.1.15",
            "DuckDuckGo",
            "macOS",
            "desktop",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "Safari",
            "iOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 4.0.3; de-de; Galaxy S II Build/GRJ22) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            "Android Browser",
            "Android",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
            "Edge",
            "Windows Phone",
            "mobile",
        ),
        (
            "Mozilla/5.0 (X11; FreeBSD amd64; rv:124.0) Gecko/20100101 Firefox/124.0",
            "Firefox",
            "FreeBSD",
            "desktop",
        ),
        (
            "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
            "Opera",
            "",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
            "Firefox",
            "KaiOS",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            "Chrome",
            "Android",
            "mobile",
        ),
    ];

    #[test]
    fn real_browsers() {
        assert!(BROWSER_UAS.len() >= 25);
        for &(text, browser, os, device) in BROWSER_UAS {
            assert_eq!(parse_user_agent(text), ua(browser, os, device), "{text}");
        }
    }

    #[test]
    fn bots() {
        let cases: &[(&str, UserAgent)] = &[
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                bot("", "", ""),
            ),
            (
                "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.78 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                bot("Chrome", "Android", "mobile"),
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
                bot("Chrome", "", ""),
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
                bot("", "", ""),
            ),
            ("curl/8.5.0", bot("", "", "")),
            ("python-requests/2.31.0", bot("", "", "")),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
                bot("Chrome", "Linux", "desktop"),
            ),
            (
                "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
                bot("", "", ""),
            ),
            (
                "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
                bot("", "", ""),
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                bot("", "", ""),
            ),
            (
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                bot("", "", ""),
            ),
            (
                "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                bot("", "", ""),
            ),
            ("Go-http-client/1.1", bot("", "", "")),
            ("Wget/1.21.4", bot("", "", "")),
            ("okhttp/4.12.0", bot("", "", "")),
            ("axios/1.6.8", bot("", "", "")),
            ("Java/17.0.10", bot("", "", "")),
            ("Apache-HttpClient/4.5.14 (Java/17.0.10)", bot("", "", "")),
            ("PostmanRuntime/7.37.3", bot("", "", "")),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 (compatible; Google-InspectionTool/1.0)",
                bot("Chrome", "macOS", "desktop"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
                bot("Chrome", "Android", "mobile"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0 Mobile/15E148 Safari/604.1 (Applebot/0.1; +http://www.apple.com/go/applebot)",
                bot("Safari", "iOS", "mobile"),
            ),
            (
                "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
                bot("", "", ""),
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
                bot("", "", ""),
            ),
            (
                "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
                bot("", "", ""),
            ),
            (
                "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
                bot("", "", ""),
            ),
            ("Mediapartners-Google", bot("", "", "")),
            (
                "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
                bot("", "", ""),
            ),
            (
                "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
                bot("", "", ""),
            ),
            ("Scrapy/2.11.1 (+https://scrapy.org)", bot("", "", "")),
            ("WhatsApp/2.23.20.0 A", bot("", "", "")),
            ("", bot("", "", "")),
            ("Mozilla", bot("", "", "")),
        ];
        assert!(cases.len() >= 15);
        for (text, want) in cases {
            assert_eq!(parse_user_agent(text), *want, "{text}");
        }
    }

    #[test]
    fn no_real_browser_is_a_bot() {
        for &(text, ..) in BROWSER_UAS {
            assert_eq!(bots::bot_token(text), None, "{text}");
        }
    }

    #[test]
    fn unknown_and_oddities() {
        assert_eq!(parse_user_agent("SomethingElse/1.0"), ua("", "", ""));
        assert_eq!(
            parse_user_agent("Mozilla/5.0 (Unknown; Mobile) Gecko"),
            ua("", "", "mobile")
        );
        // iPadOS's Safari in desktop mode is a Mac by its user agent.
        assert_eq!(
            parse_user_agent(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
            ),
            ua("Safari", "macOS", "desktop")
        );
        // Linux phones that say Mobile.
        assert_eq!(
            parse_user_agent(
                "Mozilla/5.0 (X11; Linux aarch64; Mobile; rv:109.0) Gecko/20100101 Firefox/115.0"
            ),
            ua("Firefox", "Linux", "mobile")
        );
    }

    #[test]
    fn cap_cuts_at_a_char_boundary() {
        let s = "é".repeat(1000); // 2000 bytes
        let c = cap(&s);
        assert!(c.len() <= MAX_UA_BYTES && c.len() >= MAX_UA_BYTES - 1);
        assert_eq!(cap("short"), "short");
        let mut long = "Mozilla/5.0 (Windows NT 10.0) ".to_string();
        long.push_str(&"x".repeat(2000));
        long.push_str(" curl/8");
        assert_eq!(parse_user_agent(&long), ua("", "Windows", "desktop"));
    }
}
