//! The core crate's page/relation traits on PostgreSQL buffers.
//!
//! A read guard is a pinned buffer with a share lock; a write guard an exclusive lock plus one
//! Generic WAL record (or, while an index is being built, a dirty buffer that the build WAL-logs
//! in bulk afterwards with `log_newpage_range`).
//!
//! Every Postgres function here is called through `pg_sys`, whose wrappers (pgrx's FFI guard, a
//! `sigsetjmp` without signal mask) turn an ERROR into a Rust panic that unwinds through the index
//! code and is re-raised at the callback's `#[pg_guard]` boundary: nothing long-jumps over a Rust
//! frame. `scripts/lint.sh` keeps it so (no unguarded `extern` declarations in `src/`).

use crate::compat::{count_buffer_hit, rel_file, rel_file_key, RelFile};
use pgrx::pg_sys;
use semvec_storage::{Page, RelationRead, RelationWrite, BLCKSZ};
use std::ops::{Deref, DerefMut};

const _: () = assert!(std::mem::size_of::<Page>() == BLCKSZ);

/// Backend-local memory of the shared buffer that held each block of one index fork when this
/// backend last read it. A read first tries that buffer with `ReadRecentBuffer` (pin, then check
/// the buffer's tag: a stale hint is detected, never trusted), which skips the shared
/// buffer-mapping hash lookup and its partition lock — the largest cost of a page read after the
/// page's own cache misses. It also gives the search addresses to prefetch from
/// ([`RelationRead::page_hint`]).
///
/// `ReadRecentBuffer` pins without raising the buffer's usage count (the clock sweep's measure of
/// how hot a page is), so [`bump_usage_count`] does what an ordinary pin does; index pages then
/// compete for `shared_buffers` exactly as when read through `ReadBuffer`.
pub struct BufferHints {
    file: RelFile,
    fork: pg_sys::ForkNumber::Type,
    /// Per block: buffer id, 0 when unknown. Only touched in short sections without Postgres calls,
    /// so no borrow is live when an ERROR long-jumps out of a buffer call.
    slots: std::cell::UnsafeCell<Vec<u32>>,
}

/// Raises the usage count of a shared buffer this backend has pinned, as `PinBuffer` does for an
/// ordinary read: one compare-and-swap on the descriptor's state word, given up when the header
/// is locked or the word changed meanwhile (a missed bump only makes the page slightly colder).
/// The state layout (refcount, usage count, flag bits) is PostgreSQL's `buf_internals.h`, taken
/// from the bindings of the server we are built for.
#[inline]
unsafe fn bump_usage_count(buffer: pg_sys::Buffer) {
    use std::sync::atomic::{AtomicU32, Ordering};
    unsafe {
        let desc = pg_sys::BufferDescriptors.add(buffer as usize - 1) as *mut pg_sys::BufferDesc;
        // SAFETY: pg_atomic_uint32 is a u32 in shared memory updated only atomically.
        let state = &*(std::ptr::addr_of_mut!((*desc).state) as *const AtomicU32);
        let old = state.load(Ordering::Relaxed);
        if old & pg_sys::BM_LOCKED != 0 || (old & pg_sys::BUF_USAGECOUNT_MASK) >> pg_sys::BUF_USAGECOUNT_SHIFT >= pg_sys::BM_MAX_USAGE_COUNT
        {
            return;
        }
        let _ = state.compare_exchange(old, old + pg_sys::BUF_USAGECOUNT_ONE, Ordering::AcqRel, Ordering::Relaxed);
    }
}

const HINT_BUFFER_MASK: u32 = (1 << 30) - 1;
/// Blocks beyond this get no hint (their table would be too large): 128 GB of index.
const HINT_MAX_BLOCKS: usize = 1 << 24;
/// Relations whose hints a backend keeps.
const HINT_TABLES: usize = 16;

thread_local! {
    static HINTS: std::cell::RefCell<Vec<std::rc::Rc<BufferHints>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl BufferHints {
    /// This backend's table for `rel`'s `fork`, or `None` for temporary relations (local buffers).
    unsafe fn of(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> Option<std::rc::Rc<BufferHints>> {
        unsafe {
            if (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_TEMP as std::ffi::c_char {
                return None;
            }
            let file = rel_file(rel);
            HINTS.with(|h| {
                let mut tables = h.borrow_mut();
                let same = |t: &BufferHints| t.fork == fork && rel_file_key(&t.file) == rel_file_key(&file);
                if let Some(i) = tables.iter().position(|t| same(t)) {
                    let t = tables.remove(i);
                    tables.push(t.clone());
                    return Some(t);
                }
                if tables.len() >= HINT_TABLES {
                    tables.remove(0);
                }
                let t = std::rc::Rc::new(BufferHints {
                    file,
                    fork,
                    slots: std::cell::UnsafeCell::new(Vec::new()),
                });
                tables.push(t.clone());
                Some(t)
            })
        }
    }

    #[inline]
    fn get(&self, blkno: u32) -> u32 {
        // SAFETY: single-threaded backend; no reference into `slots` outlives this call.
        unsafe { (&*self.slots.get()).get(blkno as usize).copied().unwrap_or(0) }
    }

    #[inline]
    fn set(&self, blkno: u32, v: u32) {
        let b = blkno as usize;
        if b >= HINT_MAX_BLOCKS {
            return;
        }
        // SAFETY: as in `get`.
        let slots = unsafe { &mut *self.slots.get() };
        if b >= slots.len() {
            slots.resize((b + 1).max(slots.len() + slots.len() / 4), 0);
        }
        slots[b] = v;
    }

    /// Pins block `blkno`, through its hint when that still holds it.
    #[inline]
    unsafe fn pin(&self, rel: pg_sys::Relation, blkno: u32) -> pg_sys::Buffer {
        unsafe {
            let hint = (self.get(blkno) & HINT_BUFFER_MASK) as pg_sys::Buffer;
            if hint != 0 && pg_sys::ReadRecentBuffer(self.file, self.fork, blkno, hint) {
                bump_usage_count(hint);
                // What ReadBufferExtended counts for pg_statio_*_indexes.
                let stats = (*rel).pgstat_info;
                if !stats.is_null() {
                    count_buffer_hit(stats);
                }
                return hint;
            }
            let buf = pg_sys::ReadBufferExtended(rel, self.fork, blkno, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            if buf > 0 {
                self.set(blkno, buf as u32 & HINT_BUFFER_MASK);
            }
            buf
        }
    }

    /// The page address and buffer descriptor of the hinted buffer of `blkno`, prefetched.
    #[inline]
    fn page_hint(&self, blkno: u32) -> *const u8 {
        let hint = self.get(blkno) & HINT_BUFFER_MASK;
        if hint == 0 {
            return std::ptr::null();
        }
        unsafe {
            let i = hint as usize - 1;
            #[cfg(target_arch = "x86_64")]
            std::arch::x86_64::_mm_prefetch(pg_sys::BufferDescriptors.add(i) as *const i8, std::arch::x86_64::_MM_HINT_T0);
            pg_sys::BufferBlocks.add(i * BLCKSZ) as *const u8
        }
    }
}
const _: () = assert!(pg_sys::BLCKSZ as usize == BLCKSZ);

/// Block number of the heavyweight page lock used as pgvector's HNSW_UPDATE_LOCK.
const UPDATE_LOCK_BLKNO: pg_sys::BlockNumber = 0;

/// How page writes are made durable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    /// One Generic WAL record per write guard (inserts, vacuum).
    Generic,
    /// Only mark buffers dirty; the caller logs the whole relation afterwards (index build).
    Bulk,
}

pub struct PgRelation {
    pub rel: pg_sys::Relation,
    pub fork: pg_sys::ForkNumber::Type,
    /// `Bulk` until [`RelationWrite::finish_bulk_write`], then `Generic`.
    logging: std::cell::Cell<Logging>,
    hints: Option<std::rc::Rc<BufferHints>>,
}

impl PgRelation {
    pub fn new(rel: pg_sys::Relation, logging: Logging) -> PgRelation {
        PgRelation::with_fork(rel, pg_sys::ForkNumber::MAIN_FORKNUM, logging)
    }

    pub fn with_fork(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type, logging: Logging) -> PgRelation {
        PgRelation {
            rel,
            fork,
            logging: std::cell::Cell::new(logging),
            hints: None,
        }
    }

    /// Whether pages written in bulk must be WAL-logged: always for an init fork, otherwise for
    /// permanent relations.
    fn needs_wal(&self) -> bool {
        unsafe {
            self.fork == pg_sys::ForkNumber::INIT_FORKNUM
                || (*(*self.rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
        }
    }

    /// Reads through this backend's [`BufferHints`] of the relation (scans, inserts).
    pub fn with_buffer_hints(mut self) -> PgRelation {
        self.hints = unsafe { BufferHints::of(self.rel, self.fork) };
        self
    }

    /// WAL-log every page of the fork as full images (after a bulk build).
    fn log_all_pages(&self) {
        unsafe {
            let n = pg_sys::RelationGetNumberOfBlocksInFork(self.rel, self.fork);
            if n > 0 {
                pg_sys::log_newpage_range(self.rel, self.fork, 0, n, true);
            }
        }
    }

    fn read_buffer(&self, blkno: u32) -> pg_sys::Buffer {
        unsafe { pg_sys::ReadBufferExtended(self.rel, self.fork, blkno, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut()) }
    }
}

pub struct PgReadGuard {
    buf: pg_sys::Buffer,
    page: *const Page,
}

impl Deref for PgReadGuard {
    type Target = Page;
    #[inline]
    fn deref(&self) -> &Page {
        unsafe { &*self.page }
    }
}

impl Drop for PgReadGuard {
    fn drop(&mut self) {
        unsafe { pg_sys::UnlockReleaseBuffer(self.buf) }
    }
}

pub struct PgWriteGuard {
    buf: pg_sys::Buffer,
    state: *mut pg_sys::GenericXLogState,
    page: *mut Page,
}

impl Deref for PgWriteGuard {
    type Target = Page;
    #[inline]
    fn deref(&self) -> &Page {
        unsafe { &*self.page }
    }
}

impl DerefMut for PgWriteGuard {
    #[inline]
    fn deref_mut(&mut self) -> &mut Page {
        unsafe { &mut *self.page }
    }
}

impl Drop for PgWriteGuard {
    fn drop(&mut self) {
        unsafe {
            if std::thread::panicking() {
                // An error is propagating: discard the half-made change; transaction abort
                // releases the buffer lock and pin.
                if !self.state.is_null() {
                    pg_sys::GenericXLogAbort(self.state);
                }
                return;
            }
            if self.state.is_null() {
                pg_sys::MarkBufferDirty(self.buf);
            } else {
                pg_sys::GenericXLogFinish(self.state);
            }
            pg_sys::UnlockReleaseBuffer(self.buf);
        }
    }
}

pub struct PgUpdateLock {
    rel: pg_sys::Relation,
    mode: pg_sys::LOCKMODE,
}

impl Drop for PgUpdateLock {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            unsafe { pg_sys::UnlockPage(self.rel, UPDATE_LOCK_BLKNO, self.mode) }
        }
    }
}

impl RelationRead for PgRelation {
    type ReadGuard<'a> = PgReadGuard;

    #[inline]
    fn read(&self, blkno: u32) -> PgReadGuard {
        unsafe {
            let buf = match &self.hints {
                Some(h) => h.pin(self.rel, blkno),
                None => pg_sys::ReadBufferExtended(self.rel, self.fork, blkno, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut()),
            };
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            PgReadGuard {
                buf,
                page: pg_sys::BufferGetPage(buf) as *const Page,
            }
        }
    }

    fn nblocks(&self) -> u32 {
        unsafe { pg_sys::RelationGetNumberOfBlocksInFork(self.rel, self.fork) }
    }

    // No prefetch: PrefetchBuffer costs a buffer-table lookup even for cached pages, which is
    // the common case for an index that serves top-k queries; the OS page cache does the rest.
    fn prefetch(&self, _blkno: u32) {}

    #[inline]
    fn page_hint(&self, blkno: u32) -> *const u8 {
        match &self.hints {
            Some(h) => h.page_hint(blkno),
            None => std::ptr::null(),
        }
    }
}

impl PgRelation {
    /// Wrap an exclusively locked buffer.
    fn guard(&self, buf: pg_sys::Buffer, new_page: bool) -> PgWriteGuard {
        unsafe {
            match self.logging.get() {
                Logging::Generic => {
                    let state = pg_sys::GenericXLogStart(self.rel);
                    let flags = if new_page { pg_sys::GENERIC_XLOG_FULL_IMAGE as i32 } else { 0 };
                    let page = pg_sys::GenericXLogRegisterBuffer(state, buf, flags) as *mut Page;
                    PgWriteGuard { buf, state, page }
                }
                Logging::Bulk => PgWriteGuard {
                    buf,
                    state: std::ptr::null_mut(),
                    page: pg_sys::BufferGetPage(buf) as *mut Page,
                },
            }
        }
    }
}

impl RelationWrite for PgRelation {
    type WriteGuard<'a> = PgWriteGuard;
    type UpdateLock<'a> = PgUpdateLock;

    fn write(&self, blkno: u32) -> PgWriteGuard {
        let buf = self.read_buffer(blkno);
        unsafe {
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            // A page that was never initialised (a block whose extender failed before writing
            // it, or that it left empty) is logged whole: redo must not read it as a page to
            // apply a delta to, since on a replica or in crash recovery it may not exist, or be
            // all zeros ("WAL contains references to invalid pages"). A delta is only safe on
            // top of a page some earlier record initialised.
            let new_page = (*(pg_sys::BufferGetPage(buf) as *const Page)).is_new();
            self.guard(buf, new_page)
        }
    }

    fn extend(&self) -> (u32, PgWriteGuard) {
        unsafe {
            pg_sys::LockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            // RBM_ZERO_AND_LOCK: the new buffer is locked before it becomes valid, so no other
            // backend that sees the relation grew (its `nblocks`) can lock the page before this
            // one has initialised it. (With P_NEW and RBM_NORMAL there is a moment between the
            // extension and LockBuffer in which another writer could take the page, still all
            // zeros, and WAL-log it.) For local buffers the lock is a no-op, as LockBuffer's is.
            let buf = pg_sys::ReadBufferExtended(
                self.rel,
                self.fork,
                pg_sys::InvalidBlockNumber,
                pg_sys::ReadBufferMode::RBM_ZERO_AND_LOCK,
                std::ptr::null_mut(),
            );
            pg_sys::UnlockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            let blkno = pg_sys::BufferGetBlockNumber(buf);
            (blkno, self.guard(buf, true))
        }
    }

    fn finish_bulk_write(&self) {
        if self.logging.get() == Logging::Bulk {
            if self.needs_wal() {
                self.log_all_pages();
            }
            self.logging.set(Logging::Generic);
        }
    }

    fn lock_update(&self, exclusive: bool) -> PgUpdateLock {
        let mode = if exclusive { pg_sys::ExclusiveLock } else { pg_sys::ShareLock } as pg_sys::LOCKMODE;
        unsafe { pg_sys::LockPage(self.rel, UPDATE_LOCK_BLKNO, mode) };
        PgUpdateLock { rel: self.rel, mode }
    }
}
