//! Columnar segments: immutable files of one time partition, rows sorted by
//! (site, visitor, time), split into blocks at visitor boundaries.

pub(crate) mod format;
pub(crate) mod packed;
pub(crate) mod props;
pub(crate) mod reader;
pub(crate) mod rows;
pub(crate) mod writer;

pub use reader::Projection;
