//! Pages: the paths of a scan after the query's page grouping rules, decided once per
//! dictionary entry. Every analysis that names a page (the `page` field in conditions and
//! breakdowns, landing and exit pages, the pages report, paths and transitions) reads it
//! through one [`PageMap`], so a rule means the same everywhere, and applies to every
//! event already stored.

use cairn_model::Dim;
use cairn_model::query::PageRules;
use cairn_timeline::TimelineScan;
use rustc_hash::FxHashMap;

/// Path id → page id, for one scan. Page 0 is "no path".
pub struct PageMap {
    /// Per path id, its page id; `None` when no rule exists (a page id is a path id).
    of_path: Option<Vec<u32>>,
    /// With rules: page names by page id.
    names: Vec<String>,
    /// With rules: per path id, whether a rule matched it.
    matched: Vec<bool>,
    /// Page ids (without rules: the path dictionary's size).
    len: usize,
}

impl PageMap {
    /// Applies `rules` to every path of the scan's dictionary.
    pub fn new(scan: &dyn TimelineScan, rules: &PageRules) -> PageMap {
        let dict = scan.dict(Dim::Path);
        if rules.is_empty() {
            return PageMap {
                of_path: None,
                names: Vec::new(),
                matched: Vec::new(),
                len: dict.len(),
            };
        }
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut names = vec![String::new()];
        let mut matched = vec![false; dict.len()];
        let of_path = (0..dict.len() as u32)
            .map(|id| {
                let path = dict.get(id);
                if id == 0 || path.is_empty() {
                    return 0;
                }
                let page = match rules.group(path) {
                    Some(g) => {
                        matched[id as usize] = true;
                        g
                    }
                    None => path.to_string(),
                };
                *ids.entry(page).or_insert_with_key(|p| {
                    names.push(p.clone());
                    names.len() as u32 - 1
                })
            })
            .collect();
        PageMap {
            len: names.len(),
            of_path: Some(of_path),
            names,
            matched,
        }
    }

    /// The page of path id `path` (0 for none).
    #[inline]
    pub fn page(&self, path: u32) -> u32 {
        match &self.of_path {
            None => path,
            Some(m) => m[path as usize],
        }
    }

    /// Number of page ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The name of page id `page` (the scan's, for a path's own name).
    pub fn name<'a>(&'a self, scan: &'a dyn TimelineScan, page: u32) -> &'a str {
        if self.of_path.is_some() {
            &self.names[page as usize]
        } else {
            scan.dict(Dim::Path).get(page)
        }
    }

    /// The group a path id belongs to, when a rule matched it.
    pub fn group_of(&self, path: u32) -> Option<&str> {
        let m = self.of_path.as_ref()?;
        self.matched[path as usize].then(|| self.names[m[path as usize] as usize].as_str())
    }
}
