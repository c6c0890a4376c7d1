//! The engine against the reference implementation (random data), and hand-worked cases.

mod cases;
mod experiment;
mod flow;
mod funnel;
mod influence;
mod leading;
mod planted;
mod props;
mod reference;
mod world;
