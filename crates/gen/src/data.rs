//! Static descriptions of the three demo sites: audiences, devices, traffic sources,
//! campaigns and daily rhythms. Everything here is plain data; the site modules
//! (`shop`, `saas`, `news`) interpret it.

/// Which of the three demo sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteKind {
    Shop,
    Saas,
    News,
}

/// Device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Device {
    Desktop,
    Mobile,
    Tablet,
}

impl Device {
    pub(crate) const ALL: [Device; 3] = [Device::Desktop, Device::Mobile, Device::Tablet];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
        }
    }

    /// Operating systems seen on this device class, by share.
    pub(crate) fn systems(self) -> &'static [(OsDef, u32)] {
        match self {
            Device::Desktop => DESKTOP_OS,
            Device::Mobile => MOBILE_OS,
            Device::Tablet => TABLET_OS,
        }
    }
}

/// A country: ISO code, main browser language, UTC offset in September (minutes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Country {
    pub code: &'static str,
    pub lang: &'static str,
    pub tz_min: i64,
    /// Whether `lang` is English (others sometimes browse with an `en-US` browser).
    pub english: bool,
}

const fn c(code: &'static str, lang: &'static str, tz_min: i64, english: bool) -> Country {
    Country {
        code,
        lang,
        tz_min,
        english,
    }
}

const DE: Country = c("DE", "de-DE", 120, false);
const AT: Country = c("AT", "de-AT", 120, false);
const CH: Country = c("CH", "de-CH", 120, false);
const NL: Country = c("NL", "nl-NL", 120, false);
const BE: Country = c("BE", "nl-BE", 120, false);
const FR: Country = c("FR", "fr-FR", 120, false);
const IT: Country = c("IT", "it-IT", 120, false);
const ES: Country = c("ES", "es-ES", 120, false);
const PL: Country = c("PL", "pl-PL", 120, false);
const SE: Country = c("SE", "sv-SE", 120, false);
const GB: Country = c("GB", "en-GB", 60, true);
const IE: Country = c("IE", "en-IE", 60, true);
const US: Country = c("US", "en-US", -300, true);
const CA: Country = c("CA", "en-CA", -300, true);
const BR: Country = c("BR", "pt-BR", -180, false);
const IN: Country = c("IN", "en-IN", 330, true);
const AU: Country = c("AU", "en-AU", 600, true);
const NZ: Country = c("NZ", "en-NZ", 720, true);
const SG: Country = c("SG", "en-SG", 480, true);
const ZA: Country = c("ZA", "en-ZA", 120, true);

/// An operating system with its browsers and screen sizes.
#[derive(Debug)]
pub(crate) struct OsDef {
    pub name: &'static str,
    pub browsers: &'static [(&'static str, u32)],
    pub screens: &'static [(&'static str, u32)],
}

const DESKTOP_SCREENS: &[(&str, u32)] = &[
    ("1920x1080", 40),
    ("1536x864", 14),
    ("2560x1440", 12),
    ("1366x768", 10),
    ("1440x900", 7),
    ("1680x1050", 5),
    ("1280x720", 5),
    ("3840x2160", 4),
    ("1600x900", 3),
];
const MAC_SCREENS: &[(&str, u32)] = &[
    ("1440x900", 30),
    ("1512x982", 25),
    ("1728x1117", 15),
    ("2560x1440", 15),
    ("1920x1080", 15),
];
const IPHONE_SCREENS: &[(&str, u32)] = &[
    ("390x844", 30),
    ("393x852", 25),
    ("430x932", 15),
    ("414x896", 15),
    ("375x667", 15),
];
const ANDROID_SCREENS: &[(&str, u32)] = &[
    ("412x915", 35),
    ("360x800", 30),
    ("393x873", 15),
    ("384x854", 10),
    ("412x892", 10),
];
const IPAD_SCREENS: &[(&str, u32)] = &[
    ("810x1080", 35),
    ("820x1180", 30),
    ("1024x1366", 20),
    ("744x1133", 15),
];
const ANDROID_TABLET_SCREENS: &[(&str, u32)] =
    &[("800x1280", 60), ("1280x800", 25), ("1200x2000", 15)];

const DESKTOP_OS: &[(OsDef, u32)] = &[
    (
        OsDef {
            name: "Windows",
            browsers: &[("Chrome", 66), ("Edge", 22), ("Firefox", 10), ("Opera", 2)],
            screens: DESKTOP_SCREENS,
        },
        68,
    ),
    (
        OsDef {
            name: "macOS",
            browsers: &[("Chrome", 50), ("Safari", 42), ("Firefox", 6), ("Edge", 2)],
            screens: MAC_SCREENS,
        },
        26,
    ),
    (
        OsDef {
            name: "Linux",
            browsers: &[("Chrome", 55), ("Firefox", 45)],
            screens: DESKTOP_SCREENS,
        },
        4,
    ),
    (
        OsDef {
            name: "Chrome OS",
            browsers: &[("Chrome", 1)],
            screens: &[("1366x768", 60), ("1920x1080", 40)],
        },
        2,
    ),
];

const MOBILE_OS: &[(OsDef, u32)] = &[
    (
        OsDef {
            name: "Android",
            browsers: &[
                ("Chrome", 80),
                ("Samsung Internet", 14),
                ("Firefox", 3),
                ("Opera", 3),
            ],
            screens: ANDROID_SCREENS,
        },
        52,
    ),
    (
        OsDef {
            name: "iOS",
            browsers: &[("Safari", 88), ("Chrome", 12)],
            screens: IPHONE_SCREENS,
        },
        48,
    ),
];

const TABLET_OS: &[(OsDef, u32)] = &[
    (
        OsDef {
            name: "iPadOS",
            browsers: &[("Safari", 90), ("Chrome", 10)],
            screens: IPAD_SCREENS,
        },
        62,
    ),
    (
        OsDef {
            name: "Android",
            browsers: &[("Chrome", 85), ("Samsung Internet", 15)],
            screens: ANDROID_TABLET_SCREENS,
        },
        38,
    ),
];

/// A tagged campaign: its UTM values and where its ads point.
#[derive(Debug)]
pub(crate) struct Campaign {
    pub source: &'static str,
    pub medium: &'static str,
    pub name: &'static str,
    pub contents: &'static [&'static str],
    pub terms: &'static [&'static str],
    /// Site-specific landing focus (a shop category, a SaaS page kind, …).
    pub focus: &'static str,
    /// When it runs, in thousandths of the generated window: `[from, to)`.
    pub active: (u32, u32),
}

/// Where a session's first page lies: weights for the home page, a deep page
/// (product, blog post, article), a hub page (category, pricing/features, section) and
/// the campaign's special landing page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lands {
    pub home: u32,
    pub deep: u32,
    pub hub: u32,
    pub special: u32,
}

/// The kind of landing page a session starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Land {
    Home,
    Deep,
    Hub,
    Special,
}

const fn lands(home: u32, deep: u32, hub: u32, special: u32) -> Lands {
    Lands {
        home,
        deep,
        hub,
        special,
    }
}

/// How a session arrived: channel, classified source, referrer and campaign.
#[derive(Debug)]
pub(crate) struct Acq {
    pub channel: &'static str,
    pub source: &'static str,
    pub referrer: &'static str,
    /// Referrer seen from phones and tablets ("" means the same as `referrer`).
    pub referrer_mobile: &'static str,
    pub campaign: Option<&'static Campaign>,
    /// Conversion propensity relative to the site's average traffic.
    pub conv: f64,
    pub lands: Lands,
}

const DIRECT: Acq = Acq {
    channel: "direct",
    source: "",
    referrer: "",
    referrer_mobile: "",
    campaign: None,
    conv: 1.1,
    lands: lands(80, 15, 5, 0),
};

const fn organic(source: &'static str, referrer: &'static str, conv: f64, lands: Lands) -> Acq {
    Acq {
        channel: "search",
        source,
        referrer,
        referrer_mobile: "",
        campaign: None,
        conv,
        lands,
    }
}

const fn social(
    source: &'static str,
    referrer: &'static str,
    referrer_mobile: &'static str,
    conv: f64,
    lands: Lands,
) -> Acq {
    Acq {
        channel: "social",
        source,
        referrer,
        referrer_mobile,
        campaign: None,
        conv,
        lands,
    }
}

const fn referral(source: &'static str, referrer: &'static str, conv: f64, lands: Lands) -> Acq {
    Acq {
        channel: "referral",
        source,
        referrer,
        referrer_mobile: "",
        campaign: None,
        conv,
        lands,
    }
}

const fn tagged(
    channel: &'static str,
    source: &'static str,
    referrer: &'static str,
    referrer_mobile: &'static str,
    campaign: &'static Campaign,
    conv: f64,
    lands: Lands,
) -> Acq {
    Acq {
        channel,
        source,
        referrer,
        referrer_mobile,
        campaign: Some(campaign),
        conv,
        lands,
    }
}

const GOOGLE: &str = "https://www.google.com/";
const FACEBOOK: &str = "https://www.facebook.com/";
const FACEBOOK_M: &str = "https://m.facebook.com/";
const ALWAYS: (u32, u32) = (0, 1000);

// ---- shop.example -------------------------------------------------------------

static SHOP_AUTUMN_SALE: Campaign = Campaign {
    source: "google",
    medium: "cpc",
    name: "autumn_sale",
    contents: &["text_ad_a", "text_ad_b"],
    terms: &["winter jacket", "wool coat", "rain jacket", "down jacket"],
    focus: "jackets",
    active: (250, 750),
};
static SHOP_BRAND: Campaign = Campaign {
    source: "google",
    medium: "cpc",
    name: "brand_search",
    contents: &["brand_ad"],
    terms: &["shop example", "shop.example"],
    focus: "",
    active: ALWAYS,
};
static SHOP_SHOPPING: Campaign = Campaign {
    source: "google",
    medium: "cpc",
    name: "shopping_generic",
    contents: &["pla_feed"],
    terms: &[],
    focus: "",
    active: ALWAYS,
};
static SHOP_LOOKALIKE: Campaign = Campaign {
    source: "facebook",
    medium: "paid_social",
    name: "lookalike_audience",
    contents: &["carousel", "video_15s", "single_image"],
    terms: &[],
    focus: "shoes",
    active: ALWAYS,
};
static SHOP_NEWSLETTER: Campaign = Campaign {
    source: "newsletter",
    medium: "email",
    name: "weekly_deals",
    contents: &["hero", "deal_1", "deal_2", "footer"],
    terms: &[],
    focus: "accessories",
    active: ALWAYS,
};
static SHOP_RETARGETING: Campaign = Campaign {
    source: "facebook",
    medium: "paid_social",
    name: "retargeting_cart",
    contents: &["dynamic_product"],
    terms: &[],
    focus: "cart",
    active: ALWAYS,
};

static SHOP_FIRST: &[(Acq, u32)] = &[
    (DIRECT, 16),
    (organic("Google", GOOGLE, 1.0, lands(20, 45, 35, 0)), 27),
    (
        organic("Bing", "https://www.bing.com/", 1.1, lands(25, 40, 35, 0)),
        3,
    ),
    (
        organic(
            "DuckDuckGo",
            "https://duckduckgo.com/",
            1.0,
            lands(25, 40, 35, 0),
        ),
        1,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SHOP_AUTUMN_SALE,
            2.6,
            lands(0, 50, 0, 50),
        ),
        8,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SHOP_BRAND,
            1.5,
            lands(80, 0, 20, 0),
        ),
        5,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SHOP_SHOPPING,
            0.9,
            lands(0, 100, 0, 0),
        ),
        6,
    ),
    (
        tagged(
            "paid",
            "Facebook",
            FACEBOOK,
            FACEBOOK_M,
            &SHOP_LOOKALIKE,
            0.45,
            lands(30, 40, 0, 30),
        ),
        6,
    ),
    (
        social("Facebook", FACEBOOK, FACEBOOK_M, 0.6, lands(30, 70, 0, 0)),
        5,
    ),
    (
        social(
            "Instagram",
            "https://www.instagram.com/",
            "https://l.instagram.com/",
            0.6,
            lands(20, 80, 0, 0),
        ),
        4,
    ),
    (
        social(
            "Pinterest",
            "https://www.pinterest.com/",
            "",
            0.7,
            lands(0, 80, 20, 0),
        ),
        1,
    ),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &SHOP_NEWSLETTER,
            1.4,
            lands(40, 20, 20, 20),
        ),
        6,
    ),
    (
        referral("idealo", "https://www.idealo.de/", 1.3, lands(0, 100, 0, 0)),
        7,
    ),
    (
        referral(
            "fashionblog.example",
            "https://fashionblog.example/autumn-trends",
            0.8,
            lands(10, 70, 20, 0),
        ),
        3,
    ),
];

static SHOP_RETURN: &[(Acq, u32)] = &[
    (DIRECT, 45),
    (organic("Google", GOOGLE, 1.0, lands(40, 30, 30, 0)), 18),
    (
        tagged(
            "paid",
            "Facebook",
            FACEBOOK,
            FACEBOOK_M,
            &SHOP_RETARGETING,
            1.8,
            lands(0, 60, 0, 40),
        ),
        9,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SHOP_BRAND,
            1.5,
            lands(80, 0, 20, 0),
        ),
        6,
    ),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &SHOP_NEWSLETTER,
            1.4,
            lands(40, 20, 20, 20),
        ),
        14,
    ),
    (
        social(
            "Instagram",
            "https://www.instagram.com/",
            "https://l.instagram.com/",
            0.6,
            lands(20, 80, 0, 0),
        ),
        4,
    ),
    (
        referral("idealo", "https://www.idealo.de/", 1.3, lands(0, 100, 0, 0)),
        4,
    ),
];

// ---- saas.example -------------------------------------------------------------

static SAAS_CRM: Campaign = Campaign {
    source: "google",
    medium: "cpc",
    name: "crm_software",
    contents: &["rsa_1", "rsa_2"],
    terms: &[
        "crm software",
        "sales pipeline tool",
        "best crm for smb",
        "crm pricing",
    ],
    focus: "lp",
    active: ALWAYS,
};
static SAAS_BRAND: Campaign = Campaign {
    source: "google",
    medium: "cpc",
    name: "brand",
    contents: &["brand"],
    terms: &["saas example", "saas example pricing"],
    focus: "pricing",
    active: ALWAYS,
};
static SAAS_WEBINAR: Campaign = Campaign {
    source: "linkedin",
    medium: "paid_social",
    name: "cfo_webinar",
    contents: &["sponsored_post", "message_ad"],
    terms: &[],
    focus: "webinar",
    active: (100, 800),
};
static SAAS_WHITEPAPER: Campaign = Campaign {
    source: "linkedin",
    medium: "paid_social",
    name: "whitepaper_roi",
    contents: &["document_ad", "single_image"],
    terms: &[],
    focus: "whitepaper",
    active: ALWAYS,
};
static SAAS_UPDATES: Campaign = Campaign {
    source: "newsletter",
    medium: "email",
    name: "product_updates",
    contents: &["blog_digest", "feature_news"],
    terms: &[],
    focus: "",
    active: ALWAYS,
};
static SAAS_NURTURE: Campaign = Campaign {
    source: "hubspot",
    medium: "email",
    name: "nurture_sequence",
    contents: &["case_study", "webinar_invite", "pricing_reminder"],
    terms: &[],
    focus: "pricing",
    active: ALWAYS,
};

static SAAS_FIRST: &[(Acq, u32)] = &[
    (DIRECT, 18),
    (organic("Google", GOOGLE, 1.0, lands(15, 70, 15, 0)), 30),
    (
        organic("Bing", "https://www.bing.com/", 1.2, lands(20, 60, 20, 0)),
        4,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SAAS_CRM,
            1.0,
            lands(0, 0, 30, 70),
        ),
        8,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SAAS_BRAND,
            1.6,
            lands(60, 0, 20, 20),
        ),
        3,
    ),
    (
        tagged(
            "paid",
            "LinkedIn",
            "https://www.linkedin.com/",
            "",
            &SAAS_WEBINAR,
            2.8,
            lands(0, 0, 0, 100),
        ),
        4,
    ),
    (
        tagged(
            "paid",
            "LinkedIn",
            "https://www.linkedin.com/",
            "",
            &SAAS_WHITEPAPER,
            1.3,
            lands(0, 0, 0, 100),
        ),
        3,
    ),
    (
        social(
            "LinkedIn",
            "https://www.linkedin.com/",
            "https://lnkd.in/",
            0.8,
            lands(20, 80, 0, 0),
        ),
        5,
    ),
    (
        social("X", "https://t.co/", "", 0.5, lands(20, 80, 0, 0)),
        2,
    ),
    (
        social(
            "Reddit",
            "https://www.reddit.com/",
            "",
            0.5,
            lands(10, 90, 0, 0),
        ),
        1,
    ),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &SAAS_UPDATES,
            1.0,
            lands(20, 80, 0, 0),
        ),
        4,
    ),
    (
        referral(
            "G2",
            "https://www.g2.com/products/saas-example/reviews",
            1.8,
            lands(50, 0, 50, 0),
        ),
        8,
    ),
    (
        referral(
            "Capterra",
            "https://www.capterra.com/p/12345/saas-example/",
            1.5,
            lands(50, 0, 50, 0),
        ),
        5,
    ),
    (
        referral(
            "Hacker News",
            "https://news.ycombinator.com/",
            0.4,
            lands(10, 90, 0, 0),
        ),
        2,
    ),
];

static SAAS_RETURN: &[(Acq, u32)] = &[
    (DIRECT, 45),
    (organic("Google", GOOGLE, 1.0, lands(30, 40, 30, 0)), 20),
    (
        tagged(
            "email",
            "HubSpot",
            "",
            "",
            &SAAS_NURTURE,
            1.8,
            lands(10, 30, 30, 30),
        ),
        14,
    ),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &SAAS_UPDATES,
            1.0,
            lands(20, 80, 0, 0),
        ),
        6,
    ),
    (
        tagged(
            "paid",
            "Google",
            GOOGLE,
            "",
            &SAAS_BRAND,
            1.6,
            lands(60, 0, 20, 20),
        ),
        6,
    ),
    (
        social(
            "LinkedIn",
            "https://www.linkedin.com/",
            "https://lnkd.in/",
            0.8,
            lands(20, 80, 0, 0),
        ),
        6,
    ),
    (
        referral(
            "G2",
            "https://www.g2.com/products/saas-example/reviews",
            1.8,
            lands(50, 0, 50, 0),
        ),
        3,
    ),
];

// ---- news.example -------------------------------------------------------------

static NEWS_PROMO: Campaign = Campaign {
    source: "facebook",
    medium: "paid_social",
    name: "subscribe_promo",
    contents: &["video_teaser", "quote_card"],
    terms: &[],
    focus: "newsletter",
    active: (400, 1000),
};
static NEWS_BRIEFING: Campaign = Campaign {
    source: "newsletter",
    medium: "email",
    name: "daily_briefing",
    contents: &["top_story", "story_2", "story_3", "more_news"],
    terms: &[],
    focus: "",
    active: ALWAYS,
};

static NEWS_FIRST: &[(Acq, u32)] = &[
    (DIRECT, 20),
    (organic("Google", GOOGLE, 1.0, lands(10, 85, 5, 0)), 22),
    (
        organic("Bing", "https://www.bing.com/", 1.0, lands(10, 85, 5, 0)),
        3,
    ),
    (
        social("Facebook", FACEBOOK, FACEBOOK_M, 0.9, lands(5, 95, 0, 0)),
        15,
    ),
    (social("X", "https://t.co/", "", 0.9, lands(5, 95, 0, 0)), 8),
    (
        social(
            "Reddit",
            "https://www.reddit.com/",
            "",
            0.6,
            lands(0, 100, 0, 0),
        ),
        4,
    ),
    (
        social(
            "LinkedIn",
            "https://www.linkedin.com/",
            "https://lnkd.in/",
            1.0,
            lands(5, 95, 0, 0),
        ),
        3,
    ),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &NEWS_BRIEFING,
            1.3,
            lands(10, 90, 0, 0),
        ),
        8,
    ),
    (
        referral(
            "Google News",
            "https://news.google.com/",
            1.0,
            lands(0, 100, 0, 0),
        ),
        8,
    ),
    (
        referral(
            "Flipboard",
            "https://flipboard.com/",
            0.8,
            lands(0, 100, 0, 0),
        ),
        2,
    ),
    (
        referral(
            "Hacker News",
            "https://news.ycombinator.com/",
            0.7,
            lands(0, 100, 0, 0),
        ),
        2,
    ),
    (
        tagged(
            "paid",
            "Facebook",
            FACEBOOK,
            FACEBOOK_M,
            &NEWS_PROMO,
            4.0,
            lands(0, 50, 0, 50),
        ),
        3,
    ),
];

static NEWS_RETURN: &[(Acq, u32)] = &[
    (DIRECT, 45),
    (
        tagged(
            "email",
            "Newsletter",
            "",
            "",
            &NEWS_BRIEFING,
            1.3,
            lands(10, 90, 0, 0),
        ),
        20,
    ),
    (organic("Google", GOOGLE, 1.0, lands(10, 85, 5, 0)), 12),
    (
        social("Facebook", FACEBOOK, FACEBOOK_M, 0.9, lands(5, 95, 0, 0)),
        12,
    ),
    (social("X", "https://t.co/", "", 0.9, lands(5, 95, 0, 0)), 6),
    (
        referral(
            "Google News",
            "https://news.google.com/",
            1.0,
            lands(0, 100, 0, 0),
        ),
        5,
    ),
];

/// One demo site: who visits, when, from where, and how often they come back.
#[derive(Debug)]
pub(crate) struct SiteDef {
    pub kind: SiteKind,
    pub host: &'static str,
    /// Share of visitors (calibrated so events split about 50/25/25).
    pub visitor_weight: u32,
    /// Desktop, mobile, tablet.
    pub devices: [u32; 3],
    pub countries: &'static [(Country, u32)],
    /// Traffic by local hour of day.
    pub hours: [u32; 24],
    /// Traffic by weekday, Sunday first.
    pub weekdays: [u32; 7],
    /// How first sessions arrive.
    pub first: &'static [(Acq, u32)],
    /// How returning sessions arrive.
    pub returning: &'static [(Acq, u32)],
    /// Probability that a visitor comes back at least once.
    pub return_p: f64,
    /// After each return, probability of one more (up to 10 returns).
    pub more_p: f64,
    /// Visitor intent levels (multiplies conversion propensities), by share.
    pub intents: &'static [(f64, u32)],
}

/// The three sites, in the order of [`crate::SITES`].
pub(crate) static SITE_DEFS: [SiteDef; 3] = [
    SiteDef {
        kind: SiteKind::Shop,
        host: "shop.example",
        visitor_weight: 52,
        devices: [40, 52, 8],
        countries: &[
            (DE, 38),
            (AT, 8),
            (CH, 6),
            (NL, 8),
            (FR, 9),
            (IT, 6),
            (ES, 5),
            (PL, 4),
            (BE, 4),
            (GB, 5),
            (SE, 3),
            (US, 4),
        ],
        hours: [
            20, 12, 8, 6, 5, 6, 10, 18, 28, 36, 42, 46, 50, 50, 48, 48, 50, 55, 62, 72, 80, 78, 62,
            38,
        ],
        weekdays: [125, 95, 95, 100, 100, 105, 118],
        first: SHOP_FIRST,
        returning: SHOP_RETURN,
        return_p: 0.30,
        more_p: 0.45,
        intents: &[(0.4, 60), (1.0, 30), (3.0, 10)],
    },
    SiteDef {
        kind: SiteKind::Saas,
        host: "saas.example",
        visitor_weight: 32,
        devices: [72, 24, 4],
        countries: &[
            (US, 35),
            (GB, 12),
            (DE, 12),
            (CA, 6),
            (FR, 5),
            (NL, 5),
            (IN, 8),
            (AU, 4),
            (ES, 3),
            (SE, 3),
            (BR, 3),
            (CH, 2),
            (PL, 2),
        ],
        hours: [
            5, 3, 2, 2, 2, 3, 8, 22, 55, 85, 95, 95, 80, 85, 92, 90, 82, 65, 40, 25, 18, 15, 12, 8,
        ],
        weekdays: [35, 110, 115, 115, 110, 100, 40],
        first: SAAS_FIRST,
        returning: SAAS_RETURN,
        return_p: 0.38,
        more_p: 0.55,
        intents: &[(0.4, 65), (1.0, 28), (3.0, 7)],
    },
    SiteDef {
        kind: SiteKind::News,
        host: "news.example",
        visitor_weight: 16,
        devices: [30, 63, 7],
        countries: &[
            (US, 30),
            (GB, 25),
            (CA, 8),
            (AU, 7),
            (IN, 10),
            (DE, 5),
            (IE, 3),
            (NL, 3),
            (FR, 3),
            (ZA, 2),
            (NZ, 2),
            (SG, 2),
        ],
        hours: [
            15, 8, 5, 4, 5, 12, 35, 70, 82, 70, 60, 62, 72, 62, 55, 52, 55, 60, 62, 66, 72, 68, 50,
            28,
        ],
        weekdays: [90, 105, 105, 100, 100, 100, 85],
        first: NEWS_FIRST,
        returning: NEWS_RETURN,
        return_p: 0.42,
        more_p: 0.65,
        intents: &[(0.5, 60), (1.0, 30), (2.5, 10)],
    },
];

/// Within-session engagement: the probability of going on to another page, by share
/// of sessions. The mixture gives many bounces and short visits and a long tail.
pub(crate) const ENGAGEMENT: &[(f64, u32)] = &[(0.28, 50), (0.62, 35), (0.85, 15)];

/// Gaps between a visitor's sessions, in hours (scaled by 0.6–1.4 when drawn).
pub(crate) const RETURN_GAP_H: &[(i64, u32)] = &[
    (1, 8),
    (3, 10),
    (8, 12),
    (20, 16),
    (48, 16),
    (72, 10),
    (120, 11),
    (192, 9),
    (336, 8),
];
