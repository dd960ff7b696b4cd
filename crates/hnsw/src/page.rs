//! hnsw's pages: semvec-storage's slotted [`Page`], tagged with hnsw's page id.

pub use semvec_storage::page::*;

/// Identifies hnsw pages in the special area, like pgvector's `HNSW_PAGE_ID`.
pub const PAGE_ID: u16 = 0xFF53;
/// [`PageOpaque::flags`]: the meta page (block 0).
pub const PAGE_META: u16 = 1;
/// [`PageOpaque::flags`]: a page of element and neighbour tuples.
pub const PAGE_DATA: u16 = 2;

/// hnsw's page tagging on the shared [`Page`].
pub trait HnswPage {
    /// Initialise as an hnsw page of kind `flags` ([`PAGE_META`] or [`PAGE_DATA`]).
    fn init_hnsw(&mut self, flags: u16);
    /// Whether this is an initialised hnsw page.
    fn is_hnsw(&self) -> bool;
}

impl HnswPage for Page {
    #[inline]
    fn init_hnsw(&mut self, flags: u16) {
        self.init_tagged(PAGE_ID, flags);
    }
    #[inline]
    fn is_hnsw(&self) -> bool {
        self.is_tagged(PAGE_ID)
    }
}
