//! Cairn's conformance suite (the tests in `tests/it`): every analysis of `cairn-engine`
//! runs on every timeline source — the embedded store (`cairn-store`) and the plain
//! in-memory source of `cairn-timeline` — over the same events, and must give the same
//! answer as the other sources and as a slow reference implementation written from
//! `docs/analyses.md` and `docs/funnels.md`.
//!
//! A new backend joins by adding its source to `tests/it/world.rs`; a new analysis by
//! adding its reference and its random queries. See `docs/architecture.md`.
