//! The storage the graph code runs on: numbered pages with read/write locks.
//!
//! The pgrx glue implements these traits on a Postgres index relation (a read
//! guard is a pinned buffer with a share lock, a write guard an exclusive lock
//! plus one Generic WAL record, `extend` a new buffer under the relation
//! extension lock); [`MemRelation`] implements them in memory for tests.
//! See the crate docs for the locking protocol every caller follows.

use crate::page::Page;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Read access to an index relation.
pub trait RelationRead {
    /// A page held with a share lock until dropped.
    type ReadGuard<'a>: Deref<Target = Page>
    where
        Self: 'a;
    /// Lock block `blkno` for reading. `blkno < nblocks()`.
    fn read(&self, blkno: u32) -> Self::ReadGuard<'_>;
    /// Number of blocks (`RelationGetNumberOfBlocks`).
    fn nblocks(&self) -> u32;
    /// A hint that `blkno` will be read soon (`PrefetchBuffer`). The search
    /// calls it for every block of a neighbour batch before reading them.
    #[inline]
    fn prefetch(&self, _blkno: u32) {}
    /// Where block `blkno` was last seen in memory, or null when unknown,
    /// **for CPU cache prefetching only**: no pin or lock is held, so by the
    /// time it is used the memory may hold another page or be mid-change.
    /// The search only issues prefetch instructions from it and reads line
    /// pointers with volatile loads whose values it treats as hints (a bogus
    /// value costs a useless prefetch, never a wrong result). Must be null or
    /// point to `BLCKSZ` bytes that stay mapped for the life of `self`.
    #[inline]
    fn page_hint(&self, _blkno: u32) -> *const u8 {
        std::ptr::null()
    }
}

/// Write access: every [`RelationWrite::WriteGuard`] is one atomic page change
/// (one Generic WAL record in Postgres). Two guards are never atomic together.
pub trait RelationWrite: RelationRead {
    /// A page held with an exclusive lock; changes are logged when dropped.
    type WriteGuard<'a>: DerefMut<Target = Page>
    where
        Self: 'a;
    /// The coarse insert/vacuum lock (pgvector's `HNSW_UPDATE_LOCK`, a
    /// heavyweight `LockPage` on a reserved block number), held until dropped.
    type UpdateLock<'a>
    where
        Self: 'a;
    /// Lock block `blkno` for writing.
    fn write(&self, blkno: u32) -> Self::WriteGuard<'_>;
    /// Add a block at the end and lock it for writing. Its contents are
    /// unspecified (the caller initialises it); block 0 is the meta page.
    fn extend(&self) -> (u32, Self::WriteGuard<'_>);
    /// Take the update lock: inserts take it shared (exclusive when they may
    /// move the entry point), vacuum exclusive to wait out inserts in flight.
    fn lock_update(&self, exclusive: bool) -> Self::UpdateLock<'_>;
    /// A build that wrote its pages in bulk (each once, in block order) is done
    /// with them: the glue WAL-logs them now, as full page images, when the
    /// relation needs WAL, and logs every later change as one record per write
    /// guard. Nothing to do in memory.
    fn finish_bulk_write(&self) {}
}

const CHUNK: usize = 64;
const MAX_CHUNKS: usize = 1 << 14;

/// An in-memory relation: pages behind `RwLock`s, for tests and benchmarks.
///
/// Pages never move once created (chunks are allocated lazily and never
/// freed), so lookups only touch the page's own lock.
type Chunk = Box<[RwLock<Page>]>;

pub struct MemRelation {
    chunks: Box<[OnceLock<Chunk>]>,
    nblocks: AtomicU32,
    extension: Mutex<()>,
    update: RwLock<()>,
    /// Number of times `write`/`extend` handed out a guard (a WAL record each).
    writes: std::sync::atomic::AtomicU64,
    /// Number of read guards handed out (buffer pins a Postgres scan would take).
    reads: std::sync::atomic::AtomicU64,
}

impl Default for MemRelation {
    fn default() -> Self {
        Self::new()
    }
}

impl MemRelation {
    pub fn new() -> MemRelation {
        MemRelation {
            chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
            nblocks: AtomicU32::new(0),
            extension: Mutex::new(()),
            update: RwLock::new(()),
            writes: Default::default(),
            reads: Default::default(),
        }
    }

    #[inline]
    fn page(&self, blkno: u32) -> &RwLock<Page> {
        assert!(blkno < self.nblocks.load(Ordering::Acquire), "block {blkno} out of range");
        let chunk = self.chunks[blkno as usize / CHUNK].get().expect("chunk allocated");
        &chunk[blkno as usize % CHUNK]
    }

    /// How many write guards were handed out so far.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// How many read guards were handed out so far.
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// A copy of every page, for byte-level comparisons in tests.
    pub fn snapshot(&self) -> Vec<Box<Page>> {
        (0..self.nblocks())
            .map(|b| {
                let mut p = Page::boxed();
                p.as_bytes_mut().copy_from_slice(self.read(b).as_bytes());
                p
            })
            .collect()
    }
}

/// A read-locked page of a [`MemRelation`].
pub struct MemReadGuard<'a>(RwLockReadGuard<'a, Page>);
impl Deref for MemReadGuard<'_> {
    type Target = Page;
    #[inline]
    fn deref(&self) -> &Page {
        &self.0
    }
}

/// A write-locked page of a [`MemRelation`].
pub struct MemWriteGuard<'a>(RwLockWriteGuard<'a, Page>);
impl Deref for MemWriteGuard<'_> {
    type Target = Page;
    #[inline]
    fn deref(&self) -> &Page {
        &self.0
    }
}
impl DerefMut for MemWriteGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.0
    }
}

impl RelationRead for MemRelation {
    type ReadGuard<'a> = MemReadGuard<'a>;
    #[inline]
    fn read(&self, blkno: u32) -> MemReadGuard<'_> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        MemReadGuard(self.page(blkno).read().unwrap_or_else(|e| e.into_inner()))
    }
    #[inline]
    fn nblocks(&self) -> u32 {
        self.nblocks.load(Ordering::Acquire)
    }
}

impl RelationWrite for MemRelation {
    type WriteGuard<'a> = MemWriteGuard<'a>;
    type UpdateLock<'a> = UpdateGuard<'a>;

    fn write(&self, blkno: u32) -> MemWriteGuard<'_> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        MemWriteGuard(self.page(blkno).write().unwrap_or_else(|e| e.into_inner()))
    }

    fn extend(&self) -> (u32, MemWriteGuard<'_>) {
        let _ext = self.extension.lock().unwrap_or_else(|e| e.into_inner());
        let blkno = self.nblocks.load(Ordering::Acquire);
        let chunk = &self.chunks[blkno as usize / CHUNK];
        chunk.get_or_init(|| (0..CHUNK).map(|_| RwLock::new(Page::zeroed())).collect());
        // Lock the page before publishing it: nobody can see it half-made.
        let lock = &chunk.get().unwrap()[blkno as usize % CHUNK];
        let guard = lock.write().unwrap_or_else(|e| e.into_inner());
        self.nblocks.store(blkno + 1, Ordering::Release);
        self.writes.fetch_add(1, Ordering::Relaxed);
        (blkno, MemWriteGuard(guard))
    }

    fn lock_update(&self, exclusive: bool) -> UpdateGuard<'_> {
        if exclusive {
            UpdateGuard::Exclusive(self.update.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            UpdateGuard::Shared(self.update.read().unwrap_or_else(|e| e.into_inner()))
        }
    }
}

/// The update lock of a [`MemRelation`].
pub enum UpdateGuard<'a> {
    Shared(RwLockReadGuard<'a, ()>),
    Exclusive(RwLockWriteGuard<'a, ()>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_hands_out_consecutive_blocks_that_keep_their_contents() {
        let rel = MemRelation::new();
        for i in 0..200u32 {
            let (b, mut g) = rel.extend();
            assert_eq!(b, i);
            assert!(g.is_new());
            g.init_tagged(0xFF00, 2);
            g.alloc(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(rel.nblocks(), 200);
        for i in 0..200u32 {
            assert_eq!(rel.read(i).get(1).unwrap(), &i.to_le_bytes());
        }
    }
}
