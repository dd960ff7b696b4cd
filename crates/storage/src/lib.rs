//! The storage layer shared by every semvec index family (hnsw, ivfflat, and the ones to come).
//! No index crate depends on another; each depends on this one for:
//!
//! * [`Page`]: a PostgreSQL slotted page, byte for byte, whose special area ([`PageOpaque`])
//!   carries the family's own page id and page kind ([`Page::init_tagged`], [`Page::is_tagged`]);
//! * [`Tid`]: heap and index tuple ids in `ItemPointerData` layout;
//! * [`RelationRead`] / [`RelationWrite`]: numbered pages behind share / exclusive locks, one WAL
//!   record per write guard, the coarse update lock; the pgrx glue implements them on Postgres
//!   buffers (`src/index/storage.rs`) and [`MemRelation`] in memory, so index code has fast tests;
//! * [`Metric`]: distances between the vector payloads the glue stores;
//! * [`Rng`] and [`Reservoir`]: a seeded generator, so the same rows build the same index.
//!
//! Nothing here knows about Postgres beyond its on-disk layouts.

pub mod metric;
pub mod page;
pub mod relation;
pub mod rng;
pub mod tid;

pub use metric::Metric;
pub use page::{Page, PageOpaque, BLCKSZ, INVALID_BLOCK, MAX_TUPLE_SIZE, SPECIAL_SIZE};
pub use relation::{MemRelation, RelationRead, RelationWrite};
pub use rng::{Reservoir, Rng};
pub use tid::Tid;
