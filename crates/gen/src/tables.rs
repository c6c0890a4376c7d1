//! Tables built once per generator: catalogues, article and blog lists, precomputed
//! paths, UTM query strings and day weights. Building them costs well under a
//! millisecond; afterwards, events clone strings from here instead of formatting.

use crate::GenConfig;
use crate::data::{Acq, SITE_DEFS, SiteDef};
use crate::rng::Rng;

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// One variant of a campaign's landing URL.
#[derive(Debug)]
pub(crate) struct Utm {
    /// `utm_source=…&utm_medium=…&…`, ready for [`cairn_model::Dim::Query`].
    pub query: String,
    pub content: &'static str,
    pub term: &'static str,
}

/// Shop product.
#[derive(Debug)]
pub(crate) struct Product {
    pub id: String,
    pub path: String,
    pub cat: usize,
    pub price_micros: i64,
    pub price: f64,
}

/// Shop category.
#[derive(Debug)]
pub(crate) struct Category {
    pub slug: &'static str,
    pub path: String,
    pub weight: u32,
    /// Product indexes, most popular first.
    pub products: Vec<usize>,
}

/// Shop search query.
#[derive(Debug)]
pub(crate) struct Query {
    pub text: &'static str,
    /// `q=…`, ready for [`cairn_model::Dim::Query`].
    pub qs: String,
    pub cat: usize,
}

#[derive(Debug)]
pub(crate) struct ShopTables {
    pub cats: Vec<Category>,
    pub cat_weights: Vec<u32>,
    pub products: Vec<Product>,
    pub queries: Vec<Query>,
}

/// A titled page (whitepaper, webinar, feature).
#[derive(Debug)]
pub(crate) struct Titled {
    pub title: &'static str,
    pub path: String,
}

#[derive(Debug)]
pub(crate) struct SaasTables {
    pub blog: Vec<String>,
    pub features: Vec<Titled>,
    pub whitepapers: Vec<Titled>,
    pub webinars: Vec<Titled>,
}

/// News article.
#[derive(Debug)]
pub(crate) struct Article {
    pub path: String,
    pub section: usize,
    /// Video id and length in seconds, for articles with a video.
    pub video: Option<(String, u32)>,
}

#[derive(Debug)]
pub(crate) struct NewsTables {
    pub sections: Vec<Titled>,
    pub articles: Vec<Article>,
    /// Article indexes by section.
    pub by_section: Vec<Vec<usize>>,
}

/// Cumulative weights for drawing a day of the window.
#[derive(Debug)]
pub(crate) struct DayTable {
    cum: Vec<u64>,
}

impl DayTable {
    pub(crate) fn draw(&self, rng: &mut Rng) -> i64 {
        let total = *self.cum.last().unwrap_or(&1);
        let x = ((u128::from(rng.next_u64()) * u128::from(total)) >> 64) as u64;
        self.cum.partition_point(|&c| c <= x) as i64
    }
}

/// Everything precomputed for one generator.
#[derive(Debug)]
pub(crate) struct Tables {
    pub start: i64,
    pub end: i64,
    pub days: i64,
    pub shop: ShopTables,
    pub saas: SaasTables,
    pub news: NewsTables,
    /// Per site: day weights (weekday rhythm, slow growth).
    pub day_tables: Vec<DayTable>,
    /// Per site, per list (0 first sessions, 1 returning), per acquisition: UTM variants.
    pub utm: Vec<[Vec<Vec<Utm>>; 2]>,
    /// Visitor share per site.
    pub site_weights: Vec<u32>,
}

impl Tables {
    pub(crate) fn new(cfg: &GenConfig) -> Tables {
        let days = i64::from(cfg.days.max(1));
        let start = cfg.start_ms;
        let end = start.saturating_add(days * DAY_MS);
        Tables {
            start,
            end,
            days,
            shop: shop_tables(),
            saas: saas_tables(),
            news: news_tables(),
            day_tables: SITE_DEFS
                .iter()
                .map(|s| day_table(s, start, days))
                .collect(),
            utm: SITE_DEFS
                .iter()
                .map(|s| [utm_list(s.first), utm_list(s.returning)])
                .collect(),
            site_weights: SITE_DEFS.iter().map(|s| s.visitor_weight).collect(),
        }
    }

    /// Whether a campaign runs on day `day` of the window.
    pub(crate) fn active(&self, active: (u32, u32), day: i64) -> bool {
        let permille = (day * 1000 / self.days) as u32;
        (active.0..active.1).contains(&permille)
    }
}

fn day_table(site: &SiteDef, start: i64, days: i64) -> DayTable {
    let first_epoch_day = start.div_euclid(DAY_MS);
    let mut cum = Vec::with_capacity(days as usize);
    let mut acc = 0u64;
    for d in 0..days {
        // 1970-01-01 was a Thursday; index 0 is Sunday.
        let weekday = (first_epoch_day + d + 4).rem_euclid(7) as usize;
        let growth = 1000 + 4 * d.min(1000) as u64;
        acc += u64::from(site.weekdays[weekday]) * growth;
        cum.push(acc);
    }
    DayTable { cum }
}

/// `a b` → `a+b`, the form of a space in a query string.
fn plus(s: &str) -> String {
    s.replace(' ', "+")
}

fn utm_list(list: &[(Acq, u32)]) -> Vec<Vec<Utm>> {
    list.iter()
        .map(|(acq, _)| {
            let Some(c) = acq.campaign else {
                return Vec::new();
            };
            let terms: &[&'static str] = if c.terms.is_empty() { &[""] } else { c.terms };
            let mut out = Vec::new();
            for &content in c.contents {
                for &term in terms {
                    let mut q = format!(
                        "utm_source={}&utm_medium={}&utm_campaign={}",
                        c.source, c.medium, c.name
                    );
                    if !term.is_empty() {
                        q.push_str("&utm_term=");
                        q.push_str(&plus(term));
                    }
                    q.push_str("&utm_content=");
                    q.push_str(content);
                    out.push(Utm {
                        query: q,
                        content,
                        term,
                    });
                }
            }
            out
        })
        .collect()
}

/// (slug, popularity weight, price range in whole euros)
const CATEGORIES: &[(&str, u32, (i64, i64))] = &[
    ("shoes", 14, (40, 180)),
    ("jackets", 12, (60, 350)),
    ("shirts", 12, (20, 90)),
    ("trousers", 10, (30, 120)),
    ("accessories", 10, (10, 80)),
    ("dresses", 9, (30, 160)),
    ("bags", 8, (25, 250)),
    ("sportswear", 8, (20, 110)),
    ("kids", 6, (15, 70)),
    ("beauty", 6, (8, 60)),
    ("watches", 5, (80, 600)),
    ("home", 4, (10, 150)),
];

const PRODUCTS_PER_CATEGORY: usize = 150;

/// (query text, category slug)
const QUERIES: &[(&str, &str)] = &[
    ("running shoes", "shoes"),
    ("sneakers", "shoes"),
    ("leather boots", "shoes"),
    ("trail running shoes", "shoes"),
    ("winter jacket", "jackets"),
    ("rain jacket", "jackets"),
    ("down jacket", "jackets"),
    ("wool coat", "jackets"),
    ("linen shirt", "shirts"),
    ("white shirt", "shirts"),
    ("flannel shirt", "shirts"),
    ("chinos", "trousers"),
    ("slim jeans", "trousers"),
    ("cargo pants", "trousers"),
    ("scarf", "accessories"),
    ("leather belt", "accessories"),
    ("sunglasses", "accessories"),
    ("beanie", "accessories"),
    ("summer dress", "dresses"),
    ("maxi dress", "dresses"),
    ("backpack", "bags"),
    ("tote bag", "bags"),
    ("laptop bag", "bags"),
    ("yoga pants", "sportswear"),
    ("sports bra", "sportswear"),
    ("running tights", "sportswear"),
    ("kids sneakers", "kids"),
    ("kids rain jacket", "kids"),
    ("face cream", "beauty"),
    ("perfume", "beauty"),
    ("smart watch", "watches"),
    ("automatic watch", "watches"),
    ("scented candle", "home"),
    ("blanket", "home"),
    ("gift card", "accessories"),
    ("sale", "jackets"),
];

fn shop_tables() -> ShopTables {
    let mut rng = Rng::new(0x5348_4f50); // fixed: the catalogue is the same for every seed
    let mut cats = Vec::new();
    let mut products = Vec::new();
    for (ci, &(slug, weight, (lo, hi))) in CATEGORIES.iter().enumerate() {
        let mut idx = Vec::with_capacity(PRODUCTS_PER_CATEGORY);
        for _ in 0..PRODUCTS_PER_CATEGORY {
            let n = products.len() as u64;
            // A bijection of 0..900000, so ids are distinct and look arbitrary.
            let id = (100_000 + (n * 7919 + 1234) % 900_000).to_string();
            // Prices cluster at the low end of the range and end in .99 or .95.
            let u = rng.unit();
            let euros = lo + ((hi - lo) as f64 * u * u) as i64;
            let cents = if rng.chance(0.7) { 99 } else { 95 };
            let price_micros = (euros - 1) * 1_000_000 + cents * 10_000;
            idx.push(products.len());
            products.push(Product {
                path: format!("/p/{id}"),
                id,
                cat: ci,
                price_micros,
                price: price_micros as f64 / 1e6,
            });
        }
        cats.push(Category {
            slug,
            path: format!("/c/{slug}"),
            weight,
            products: idx,
        });
    }
    let queries = QUERIES
        .iter()
        .map(|&(text, cat)| Query {
            text,
            qs: format!("q={}", plus(text)),
            cat: CATEGORIES.iter().position(|c| c.0 == cat).unwrap_or(0),
        })
        .collect();
    ShopTables {
        cat_weights: cats.iter().map(|c| c.weight).collect(),
        cats,
        products,
        queries,
    }
}

const BLOG_TOPICS: &[&str] = &[
    "sales-pipeline",
    "crm-migration",
    "lead-scoring",
    "cold-email",
    "sales-forecasting",
    "customer-onboarding",
    "churn-reduction",
    "account-based-marketing",
    "sales-automation",
    "pipeline-reviews",
    "deal-stages",
    "quota-planning",
    "revenue-operations",
    "customer-success",
    "sales-enablement",
    "b2b-pricing",
    "follow-up-emails",
    "discovery-calls",
    "sales-kpis",
    "crm-data-quality",
];
const BLOG_FORMS: &[&str] = &[
    "what-is-{}",
    "{}-guide",
    "{}-best-practices",
    "{}-template",
    "{}-mistakes-to-avoid",
    "{}-for-startups",
    "how-to-improve-{}",
];

const FEATURES: &[(&str, &str)] = &[
    ("Pipeline", "pipeline"),
    ("Automation", "automation"),
    ("Reporting", "reporting"),
    ("Integrations", "integrations"),
    ("Security", "security"),
    ("API", "api"),
    ("Mobile app", "mobile"),
];
const WHITEPAPERS: &[(&str, &str)] = &[
    ("The ROI of Sales Automation", "roi-of-sales-automation"),
    ("State of B2B Sales 2026", "state-of-b2b-sales-2026"),
    ("CRM Buyer's Guide", "crm-buyers-guide"),
    ("Forecasting Playbook", "forecasting-playbook"),
    ("Data Privacy in Sales", "data-privacy-in-sales"),
];
const WEBINARS: &[(&str, &str)] = &[
    (
        "CFO Roundtable: Predictable Revenue",
        "cfo-roundtable-predictable-revenue",
    ),
    (
        "Pipeline Hygiene in 30 Minutes",
        "pipeline-hygiene-in-30-minutes",
    ),
    (
        "Automating Your Sales Handoffs",
        "automating-sales-handoffs",
    ),
    ("Live Demo: Reporting Deep Dive", "live-demo-reporting"),
];

fn saas_tables() -> SaasTables {
    let mut blog = Vec::new();
    // Interleave so the most popular posts cover many topics.
    for form in BLOG_FORMS {
        for topic in BLOG_TOPICS {
            blog.push(format!("/blog/{}", form.replace("{}", topic)));
        }
    }
    let titled = |list: &[(&'static str, &str)], prefix: &str| {
        list.iter()
            .map(|&(title, slug)| Titled {
                title,
                path: format!("{prefix}{slug}"),
            })
            .collect::<Vec<_>>()
    };
    SaasTables {
        blog,
        features: titled(FEATURES, "/features/"),
        whitepapers: titled(WHITEPAPERS, "/resources/"),
        webinars: titled(WEBINARS, "/webinars/"),
    }
}

const SECTIONS: &[(&str, &str)] = &[
    ("Politics", "politics"),
    ("World", "world"),
    ("Business", "business"),
    ("Tech", "tech"),
    ("Science", "science"),
    ("Sport", "sport"),
    ("Culture", "culture"),
    ("Opinion", "opinion"),
];
const SUBJECTS: &[&str] = &[
    "council",
    "minister",
    "startup",
    "court",
    "union",
    "city",
    "team",
    "museum",
    "study",
    "researchers",
    "central-bank",
    "voters",
    "airline",
    "school",
    "hospital",
    "festival",
    "coach",
    "regulators",
    "farmers",
    "engineers",
    "parliament",
    "police",
    "mayor",
    "league",
];
const VERBS: &[&str] = &[
    "approves",
    "rejects",
    "unveils",
    "delays",
    "wins",
    "loses",
    "launches",
    "warns-of",
    "backs",
    "cuts",
    "raises",
    "questions",
    "celebrates",
    "plans",
    "faces",
    "defends",
];
const OBJECTS: &[&str] = &[
    "new-budget",
    "tram-line",
    "climate-plan",
    "record-season",
    "housing-reform",
    "ai-rules",
    "interest-rates",
    "final-bid",
    "summer-exhibition",
    "tax-cut",
    "data-centre",
    "rail-strike",
    "vaccine-trial",
    "transfer-window",
    "energy-prices",
    "school-meals",
    "space-mission",
    "stadium-deal",
    "wage-talks",
    "river-cleanup",
];

const ARTICLES: usize = 1200;

fn news_tables() -> NewsTables {
    let mut rng = Rng::new(0x4e45_5753); // fixed for every seed
    let sections: Vec<Titled> = SECTIONS
        .iter()
        .map(|&(title, slug)| Titled {
            title,
            path: format!("/section/{slug}"),
        })
        .collect();
    let mut articles = Vec::with_capacity(ARTICLES);
    let mut by_section = vec![Vec::new(); sections.len()];
    for i in 0..ARTICLES {
        let section = rng.below(sections.len());
        let path = format!(
            "/a/{}-{}-{}-{}",
            rng.pick(SUBJECTS),
            rng.pick(VERBS),
            rng.pick(OBJECTS),
            20_000 + i * 13
        );
        let video = rng
            .chance(0.2)
            .then(|| (format!("vid-{}", 5_000 + i), 45 + rng.below(600) as u32));
        by_section[section].push(i);
        articles.push(Article {
            path,
            section,
            video,
        });
    }
    NewsTables {
        sections,
        articles,
        by_section,
    }
}
