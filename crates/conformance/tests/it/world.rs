//! Test data: the same events in every timeline source (the embedded store, written
//! through import, append and flush; the in-memory source) and for the reference.

use cairn_clickhouse::{ClickHouse, Config};
use cairn_engine::RunOptions;
use cairn_model::query::result::QueryResult;
use cairn_model::query::{Analysis, Conversion, Duration, Goal, Query, TimeSpec};
use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};
use cairn_store::{Options, Store};
use cairn_timeline::TimelineSource;
use cairn_timeline::memory::MemorySource;

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
/// then partly flushed), the in-memory source of the same events and links, and the
/// reference's view of them.
pub struct World {
    pub store: Store,
    pub memory: MemorySource,
    /// The same records in ClickHouse, when the suite has a server
    /// ([`clickhouse`]).
    pub clickhouse: Option<ClickHouse>,
    pub data: Data,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new(records: Vec<Record>, imported: usize, flushed: usize) -> World {
        World::build(records, imported, flushed, true)
    }

    /// [`World::new`], in ClickHouse too only when `with_clickhouse` (and a server is
    /// configured): ClickHouse answers through HTTP, so the property tests send it a
    /// share of their random worlds, not all.
    pub fn build(
        records: Vec<Record>,
        imported: usize,
        flushed: usize,
        with_clickhouse: bool,
    ) -> World {
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
            .user_links(SITE)
            .by_visitor
            .iter()
            .map(|(v, (u, _))| (*v, u.clone()))
            .collect();
        let data = Data { events, links };
        let clickhouse = with_clickhouse.then(clickhouse).flatten().inspect(|ch| {
            // Two batches, so the arrival order across inserts counts too.
            let half = records.len() / 2;
            ch.insert(&records[..half], 0, "a").unwrap();
            ch.insert(&records[half..], half as u64, "b").unwrap();
        });
        World {
            store,
            clickhouse,
            memory: MemorySource::new(data.events.clone(), data.links.clone()),
            data,
            _dir: dir,
        }
    }

    /// The timeline sources, named.
    pub fn sources(&self) -> Vec<(&'static str, &dyn TimelineSource)> {
        let mut out: Vec<(&'static str, &dyn TimelineSource)> =
            vec![("store", &self.store), ("memory", &self.memory)];
        if let Some(ch) = &self.clickhouse {
            out.push(("clickhouse", ch));
        }
        out
    }

    /// Runs `q` on every source; they must agree (the store's answer is returned).
    pub fn run(&self, q: &Query, opts: &RunOptions) -> Result<QueryResult, cairn_engine::Error> {
        let plan = q.plan()?;
        let mut first: Option<(&str, QueryResult)> = None;
        for (name, src) in self.sources() {
            let got = cairn_engine::run(src, &plan, opts)?;
            match &first {
                None => first = Some((name, got)),
                Some((n0, r0)) => assert_eq!(
                    &got,
                    r0,
                    "source `{name}` differs from `{n0}` on {}",
                    serde_json::to_string(q).unwrap_or_default()
                ),
            }
        }
        Ok(first.expect("at least one source").1)
    }

    /// From events only, all appended.
    pub fn of(events: Vec<Event>) -> World {
        World::new(events.into_iter().map(Record::Event).collect(), 0, 0)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(ch) = self.clickhouse.take() {
            let _ = ch.drop_database();
        }
    }
}

/// A fresh database on the ClickHouse server named by `CAIRN_CLICKHOUSE_URL`
/// (`scripts/test` starts a chDB front and sets it; a real server works too). Without
/// it the suite runs on the other sources only, and says so once; with
/// `CAIRN_CLICKHOUSE_REQUIRED=1` (as in `scripts/test`) a missing server fails.
pub fn clickhouse() -> Option<ClickHouse> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    static WARNED: std::sync::Once = std::sync::Once::new();
    let Ok(url) = std::env::var("CAIRN_CLICKHOUSE_URL") else {
        if std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_some() {
            panic!("CAIRN_CLICKHOUSE_REQUIRED is set but CAIRN_CLICKHOUSE_URL is not");
        }
        WARNED.call_once(|| {
            eprintln!("conformance: CAIRN_CLICKHOUSE_URL is not set: ClickHouse is not checked")
        });
        return None;
    };
    let config = Config {
        url,
        database: format!(
            "cairn_conf_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        ..Config::default()
    };
    Some(ClickHouse::connect(config).expect("connect to CAIRN_CLICKHOUSE_URL"))
}

pub fn identify(visitor: u64, offset: i64, user: &str) -> Record {
    Record::Identify(Identify {
        site: SITE.into(),
        ts: T0 + offset,
        visitor,
        user: user.into(),
    })
}

/// A query of `analysis` on [`SITE`] over `[from, to]` (ms after [`T0`], UTC, sessions
/// cut at 30 minutes) with these goals.
pub fn query_of(goals: Vec<Goal>, from: i64, to: i64, analysis: Analysis) -> Query {
    Query {
        site: SITE.into(),
        from: TimeSpec::Ms(T0 + from),
        to: TimeSpec::Ms(T0 + to),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals,
        funnels: Default::default(),
        experiments: Default::default(),
        page_groups: Vec::new(),
        spend: Vec::new(),
        session_gap: Duration::from_ms(30 * MIN),
        analysis,
    }
}

/// One random event of [`visits`]: (visitor, day, second, name, device, channel).
pub type Visit = (u64, i64, i64, usize, usize, usize);

/// Up to 300 random events of 29 visitors over 20 days, of `names` names.
pub fn arb_visits(names: usize) -> impl proptest::strategy::Strategy<Value = Vec<Visit>> {
    proptest::collection::vec(
        (1u64..30, 0i64..20, 0i64..3, 0..names, 0usize..3, 0usize..3),
        1..300,
    )
}

/// Random visits for property tests: per `(visitor, day, second, name, device,
/// channel)`, an event named `names[name]` at `day` days and `second` seconds after
/// [`T0`] (a coarse grid: many at the same millisecond), its device one of none,
/// mobile and desktop and its channel one of none, Direct and Search.
pub fn visits(evs: &[Visit], names: &[&str]) -> Vec<Record> {
    evs.iter()
        .map(|&(v, day, t, n, d, c)| {
            let mut e = ev(v, day * DAY + t * 1000, names[n]);
            e.set(Dim::Device, ["", "mobile", "desktop"][d]);
            e.set(Dim::Channel, ["", "Direct", "Search"][c]);
            Record::Event(e)
        })
        .collect()
}

/// An event goal: `name` reached on an event named `event`.
pub fn event_goal(name: &str, event: &str, conversion: Conversion) -> Goal {
    let mut g: Goal = serde_json::from_value(serde_json::json!({
        "name": name, "type": "event", "event": event
    }))
    .unwrap();
    g.conversion = conversion;
    g
}

impl World {
    /// Runs `q` on every source with `threads` workers and checks the answer against the
    /// reference implementation's.
    pub fn checked(&self, q: &Query, threads: usize) -> QueryResult {
        let got = self
            .run(
                q,
                &RunOptions {
                    threads,
                    ..RunOptions::default()
                },
            )
            .unwrap();
        let want = crate::reference::run(q, &self.data);
        if got != want {
            panic!(
                "engine and reference differ\nquery: {}\nengine: {}\nreference: {}",
                q.to_json(),
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&want).unwrap()
            );
        }
        got
    }
}
