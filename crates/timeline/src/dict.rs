//! Query-wide string dictionaries.

use cairn_model::Dim;
use rustc_hash::FxHashMap;

/// A query-wide string dictionary. Id 0 is the empty string (unset). Ids are assigned
/// by the source in any order: analyses compare and group by id, and turn ids into
/// strings only for output (so results never depend on id order).
#[derive(Debug, Clone)]
pub struct QueryDict {
    strings: Vec<String>,
    map: FxHashMap<String, u32>,
}

impl Default for QueryDict {
    fn default() -> Self {
        let mut d = QueryDict {
            strings: Vec::new(),
            map: FxHashMap::default(),
        };
        d.intern("");
        d
    }
}

impl QueryDict {
    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.map.insert(s.to_string(), i);
        i
    }

    /// The string of an id.
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
    }

    /// The id of a string, if any event in the scan has it.
    pub fn id(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }

    /// Number of distinct strings (including the empty one).
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether only the empty string is present.
    pub fn is_empty(&self) -> bool {
        self.strings.len() <= 1
    }
}

/// A scan's dictionaries: one per dimension (by [`Dim::index`]), property keys, string
/// property values, currencies.
#[derive(Debug, Clone)]
pub struct ScanDicts {
    /// Per dimension.
    pub dims: Vec<QueryDict>,
    /// Property keys.
    pub prop_keys: QueryDict,
    /// String property values.
    pub prop_values: QueryDict,
    /// Currencies.
    pub currencies: QueryDict,
}

impl Default for ScanDicts {
    fn default() -> Self {
        ScanDicts {
            dims: vec![QueryDict::default(); Dim::ALL.len()],
            prop_keys: QueryDict::default(),
            prop_values: QueryDict::default(),
            currencies: QueryDict::default(),
        }
    }
}
