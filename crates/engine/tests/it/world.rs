//! Test data: events written to a real store, and the same events for the reference.

use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};
use cairn_store::{Options, Store};

use crate::reference::Data;

pub const SITE: &str = "s.example";
/// Monday 2026-03-02T00:00:00Z.
pub const T0: i64 = 1_772_409_600_000;
pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

pub fn options() -> Options {
    Options {
        background: false,
        flush_rows: usize::MAX,
        import_batch: 7,
        ..Options::default()
    }
}

/// An event with a name, at `T0 + offset`.
pub fn ev(visitor: u64, offset: i64, name: &str) -> Event {
    Event::new(SITE, T0 + offset, visitor, name)
}

/// A pageview of a path.
pub fn pv(visitor: u64, offset: i64, path: &str) -> Event {
    let mut e = ev(visitor, offset, "pageview");
    e.set(Dim::Path, path);
    e
}

pub fn with_prop(mut e: Event, k: &str, v: PropValue) -> Event {
    e.props.push((k.into(), v));
    e
}

pub fn with_dim(mut e: Event, d: Dim, v: &str) -> Event {
    e.set(d, v);
    e
}

pub fn revenue(mut e: Event, eur: i64) -> Event {
    e.revenue = Some(Revenue {
        micros: eur * 1_000_000,
        currency: "EUR".into(),
    });
    e
}

/// A store holding `records` (the first `imported` bulk-imported, the rest appended and
/// then partly flushed), and the reference's view of the same data.
pub struct World {
    pub store: Store,
    pub data: Data,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new(records: Vec<Record>, imported: usize, flushed: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), options()).unwrap();
        let now = T0 + 400 * DAY;
        let imported = imported.min(records.len());
        store.import(records[..imported].to_vec()).unwrap();
        let rest = &records[imported..];
        let flushed = flushed.min(rest.len());
        store.append(&rest[..flushed], now).unwrap();
        store.flush().unwrap();
        store.append(&rest[flushed..], now).unwrap();
        let events = records
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(e.clone()),
                Record::Identify(_) => None,
            })
            .collect();
        let links = store
            .identities(SITE)
            .by_visitor
            .iter()
            .map(|(v, (u, _))| (*v, u.clone()))
            .collect();
        World {
            store,
            data: Data { events, links },
            _dir: dir,
        }
    }

    /// From events only, all appended.
    pub fn of(events: Vec<Event>) -> World {
        World::new(events.into_iter().map(Record::Event).collect(), 0, 0)
    }
}

pub fn identify(visitor: u64, offset: i64, user: &str) -> Record {
    Record::Identify(Identify {
        site: SITE.into(),
        ts: T0 + offset,
        visitor,
        user: user.into(),
    })
}
