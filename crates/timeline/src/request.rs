//! What a scan reads: the projection of an analysis.

use cairn_model::Dim;

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The site.
    pub site: String,
    /// First millisecond (inclusive).
    pub from: i64,
    /// Last millisecond (inclusive).
    pub to: i64,
    /// Dimensions to return.
    pub dims: Vec<Dim>,
    /// Return custom properties.
    pub props: bool,
    /// With `props`: only these property keys (`None`: every key). Queries name the
    /// keys they read, so a source decodes only those entries.
    pub prop_keys: Option<Vec<String>>,
    /// With `props`: whether string values are wanted as text. When false a source may
    /// skip the property-value dictionaries, and every string value comes back as id 0
    /// (the empty string) — enough for tests on numbers, booleans and presence.
    pub prop_strings: bool,
    /// Return revenue.
    pub revenue: bool,
    /// Keep only rows whose value of each listed dimension is one of the given strings.
    pub filters: Vec<(Dim, Vec<String>)>,
    /// Merge the timelines of visitors linked to the same user into one (identity
    /// stitching): the lead's timeline carries the smallest of its visitor ids.
    pub stitch: bool,
    /// Only visitors linked to a user are wanted (an analysis of leads): a source may
    /// leave the others out, or return them for the caller to pass over.
    pub linked_only: bool,
}

impl ScanRequest {
    /// A request for every event of `site`, projecting nothing but visitor and time.
    pub fn new(site: impl Into<String>) -> ScanRequest {
        ScanRequest {
            site: site.into(),
            from: i64::MIN,
            to: i64::MAX,
            dims: Vec::new(),
            props: false,
            prop_keys: None,
            prop_strings: true,
            revenue: false,
            filters: Vec::new(),
            stitch: false,
            linked_only: false,
        }
    }

    /// Restricts the time range (inclusive).
    pub fn range(mut self, from: i64, to: i64) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// Adds projected dimensions.
    pub fn dims(mut self, dims: &[Dim]) -> Self {
        self.dims.extend_from_slice(dims);
        self
    }

    /// Whether an event's property key is wanted (with `props`).
    pub fn wants_key(&self, key: &str) -> bool {
        self.prop_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == key))
    }
}
