//! Visitor → user links, from `identify` records and from events that carry a user id.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

use crate::codec::{Cursor, put_ivarint, put_str, put_uvarint};
use crate::error::{IoContext, Result, corrupted};
use crate::fs::{Fs, write_atomic};

/// The links of one site.
#[derive(Debug, Clone, Default)]
pub struct SiteUserLinks {
    /// visitor → (user, time of the link). The latest link wins. Changed only through
    /// [`UserLinks`], which clears `derived` with it.
    pub by_visitor: FxHashMap<u64, (String, i64)>,
    /// Worked out from `by_visitor` on first use, for the scans that share the links.
    derived: Derived,
}

#[derive(Debug, Clone, Default)]
struct Derived {
    visitors: OnceLock<Vec<u64>>,
    leads: OnceLock<FxHashMap<u64, u64>>,
    filter: OnceLock<Filter>,
}

/// The linked visitors' ids by their top bits, a bit each: a clear bit rules a visitor
/// out without a look in the map. About 16 bits a link (ids are hashes: one in sixteen
/// bits is set), up to 16 MiB; a scan asks in visitor order, so it reads the bits in
/// order too.
#[derive(Debug, Clone)]
struct Filter {
    shift: u32,
    bits: Vec<u64>,
}

impl Filter {
    fn new<'a>(visitors: impl ExactSizeIterator<Item = &'a u64>) -> Filter {
        let log = (visitors.len().max(1) * 16)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(6, 27);
        let shift = 64 - log;
        let mut bits = vec![0u64; 1 << (log - 6)];
        for &v in visitors {
            let i = v >> shift;
            bits[(i >> 6) as usize] |= 1 << (i & 63);
        }
        Filter { shift, bits }
    }

    fn may_hold(&self, v: u64) -> bool {
        let i = v >> self.shift;
        self.bits[(i >> 6) as usize] >> (i & 63) & 1 == 1
    }
}

impl PartialEq for SiteUserLinks {
    fn eq(&self, other: &Self) -> bool {
        self.by_visitor == other.by_visitor
    }
}

impl Eq for SiteUserLinks {}

impl SiteUserLinks {
    /// The user visitor `v` is linked to.
    pub fn user_of(&self, v: u64) -> Option<&str> {
        let filter = self
            .derived
            .filter
            .get_or_init(|| Filter::new(self.by_visitor.keys()));
        if !filter.may_hold(v) {
            return None;
        }
        self.by_visitor.get(&v).map(|(u, _)| u.as_str())
    }

    /// The linked visitors, in order.
    pub fn visitors(&self) -> &[u64] {
        self.derived.visitors.get_or_init(|| {
            let mut v: Vec<u64> = self.by_visitor.keys().copied().collect();
            v.sort_unstable();
            v
        })
    }

    /// Per visitor of a user linked to more than one: the least of that user's visitors
    /// (the id of the lead's stitched timeline).
    pub fn leads(&self) -> &FxHashMap<u64, u64> {
        self.derived.leads.get_or_init(|| {
            let mut m = FxHashMap::default();
            for vs in self.by_user().values() {
                if vs.len() > 1 {
                    for &v in vs {
                        m.insert(v, vs[0]);
                    }
                }
            }
            m
        })
    }

    /// The links to change: what is derived from them is worked out again.
    fn edit(this: &mut Arc<SiteUserLinks>) -> &mut FxHashMap<u64, (String, i64)> {
        let s = Arc::make_mut(this);
        s.derived = Derived::default();
        &mut s.by_visitor
    }

    /// The visitors linked to each user.
    pub fn by_user(&self) -> HashMap<&str, Vec<u64>> {
        let mut m: HashMap<&str, Vec<u64>> = HashMap::new();
        for (v, (u, _)) in &self.by_visitor {
            m.entry(u.as_str()).or_default().push(*v);
        }
        for vs in m.values_mut() {
            vs.sort_unstable();
        }
        m
    }
}

/// A link from a record: site, visitor, user, time.
pub(crate) type Link = (String, u64, String, i64);

/// A visitor's link before a change: site, visitor, (user, time).
type Replaced = (String, u64, Option<(String, i64)>);

/// What [`UserLinks::link_all`] replaced, to put back when the change fails.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    /// Site, visitor, and the link (user, time) it had before, oldest change first.
    prev: Vec<Replaced>,
    /// Sites that had no entry before.
    new_sites: Vec<String>,
    dirty: bool,
}

/// All links, per site. A site's are shared with the scans that read them (a scan of a
/// site of 370,000 links copied them twice, 18% of a query at 100M events); a change
/// copies them only while a scan still holds the old ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserLinks {
    pub sites: HashMap<String, Arc<SiteUserLinks>>,
    pub dirty: bool,
}

impl UserLinks {
    pub(crate) fn link(&mut self, site: &str, visitor: u64, user: &str, ts: i64) {
        let s = match self.sites.get_mut(site) {
            Some(s) => s,
            None => self.sites.entry(site.to_string()).or_default(),
        };
        if let Some((u, t)) = s.by_visitor.get(&visitor)
            && (*t > ts || (u == user && *t == ts))
        {
            // Older than the link it has, or the same: nothing to change (or copy).
            return;
        }
        SiteUserLinks::edit(s).insert(visitor, (user.to_string(), ts));
        self.dirty = true;
    }

    /// Makes every link; returns what they replaced.
    pub(crate) fn link_all(&mut self, links: &[Link]) -> Undo {
        let mut undo = Undo {
            prev: Vec::new(),
            new_sites: Vec::new(),
            dirty: self.dirty,
        };
        for (site, visitor, user, ts) in links {
            if !self.sites.contains_key(site) {
                undo.new_sites.push(site.clone());
            }
            let before = self
                .sites
                .get(site)
                .and_then(|s| s.by_visitor.get(visitor))
                .cloned();
            self.dirty = false;
            self.link(site, *visitor, user, *ts);
            if self.dirty {
                undo.prev.push((site.clone(), *visitor, before));
            }
        }
        self.dirty |= undo.dirty || !undo.prev.is_empty();
        undo
    }

    /// Puts back what [`UserLinks::link_all`] replaced.
    pub(crate) fn undo(&mut self, undo: Undo) {
        for (site, visitor, before) in undo.prev.into_iter().rev() {
            let Some(s) = self.sites.get_mut(&site) else {
                continue;
            };
            let s = SiteUserLinks::edit(s);
            match before {
                Some(link) => {
                    s.insert(visitor, link);
                }
                None => {
                    s.remove(&visitor);
                }
            }
        }
        for site in &undo.new_sites {
            self.sites.remove(site);
        }
        self.dirty = undo.dirty;
    }

    /// Removes the links of these visitors and users; returns every visitor id involved.
    pub(crate) fn erase(&mut self, site: &str, visitors: &[u64], users: &[String]) -> Vec<u64> {
        let mut out: Vec<u64> = visitors.to_vec();
        if let Some(s) = self.sites.get_mut(site) {
            SiteUserLinks::edit(s).retain(|v, (u, _)| {
                let hit = visitors.contains(v) || users.iter().any(|x| x == u);
                if hit {
                    out.push(*v);
                }
                !hit
            });
            self.dirty = true;
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn save(&self, fs: &dyn Fs, path: &Path) -> Result<()> {
        let mut b = Vec::new();
        b.extend_from_slice(b"CAIRNID1");
        let mut body = Vec::new();
        let mut sites: Vec<_> = self.sites.iter().collect();
        sites.sort_by(|a, b| a.0.cmp(b.0));
        put_uvarint(&mut body, sites.len() as u64);
        for (site, s) in sites {
            put_str(&mut body, site);
            put_uvarint(&mut body, s.by_visitor.len() as u64);
            let mut links: Vec<_> = s.by_visitor.iter().collect();
            links.sort_unstable_by_key(|x| *x.0);
            for (v, (u, ts)) in links {
                body.extend_from_slice(&v.to_le_bytes());
                put_str(&mut body, u);
                put_ivarint(&mut body, *ts);
            }
        }
        b.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        b.extend_from_slice(&body);
        write_atomic(fs, path, &b)
    }

    pub(crate) fn load(path: &Path) -> Result<UserLinks> {
        let b = fs::read(path).at(path)?;
        if b.len() < 12 || &b[..8] != b"CAIRNID1" {
            return Err(corrupted(path, "not a user-link file"));
        }
        let crc = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        let body = &b[12..];
        if crc32c::crc32c(body) != crc {
            return Err(corrupted(path, "checksum mismatch"));
        }
        let bad = |e: crate::codec::DecodeError| corrupted(path, e.0);
        let mut c = Cursor::new(body);
        let mut ids = UserLinks::default();
        let n = c.len(body.len()).map_err(bad)?;
        for _ in 0..n {
            let site = c.str().map_err(bad)?.to_string();
            let m = c.len(body.len()).map_err(bad)?;
            let mut s = SiteUserLinks::default();
            // Room for them at once (a link takes 10 bytes at least: a damaged count
            // reserves no more than the file could hold).
            s.by_visitor.reserve(m.min(body.len() / 10));
            for _ in 0..m {
                let v = c.u64le().map_err(bad)?;
                let u = c.str().map_err(bad)?.to_string();
                let ts = c.ivarint().map_err(bad)?;
                s.by_visitor.insert(v, (u, ts));
            }
            ids.sites.insert(site, Arc::new(s));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_filter_rules_out_no_linked_visitor(
            linked in prop::collection::vec(any::<u64>(), 0..3000),
            others in prop::collection::vec(any::<u64>(), 0..300),
        ) {
            let mut s = SiteUserLinks::default();
            for (i, &v) in linked.iter().enumerate() {
                s.by_visitor.insert(v, (format!("u{}", i % 7), 0));
            }
            for &v in &linked {
                prop_assert!(s.user_of(v).is_some());
            }
            for v in others {
                prop_assert_eq!(s.user_of(v), s.by_visitor.get(&v).map(|(u, _)| u.as_str()));
            }
        }
    }

    #[test]
    fn a_change_works_the_derived_lists_out_again() {
        let mut links = UserLinks::default();
        links.link("s", 5, "ann", 1);
        let first = Arc::clone(&links.sites["s"]);
        assert_eq!(first.visitors(), &[5]);
        assert_eq!(first.user_of(9), None);
        links.link("s", 9, "ann", 2);
        let now = &links.sites["s"];
        assert_eq!(now.visitors(), &[5, 9]);
        assert_eq!(now.user_of(9), Some("ann"));
        assert_eq!(now.leads().get(&9), Some(&5));
        // The scan that held the first version still sees it.
        assert_eq!(first.visitors(), &[5]);
        assert_eq!(first.user_of(9), None);
        links.erase("s", &[5], &[]);
        assert_eq!(links.sites["s"].visitors(), &[9]);
        assert!(links.sites["s"].leads().is_empty());
    }
}
