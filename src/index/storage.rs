//! The core crate's page/relation traits on PostgreSQL buffers.
//!
//! A read guard is a pinned buffer with a share lock; a write guard an exclusive lock plus one
//! Generic WAL record (or, while an index is being built, a dirty buffer that the build WAL-logs
//! in bulk afterwards with `log_newpage_range`).

use pgrx::pg_sys;
use semvec_hnsw::{Page, RelationRead, RelationWrite, BLCKSZ};
use std::ops::{Deref, DerefMut};

const _: () = assert!(std::mem::size_of::<Page>() == BLCKSZ);

/// The buffer calls of the read path, declared without pgrx's per-call `sigsetjmp` guard: a scan
/// reads one page per candidate, and the guard costs as much as the lookup. An ERROR raised inside
/// them (I/O failure, corrupt page) unwinds to PostgreSQL's handler like in C; the scan state they
/// would skip is owned by the query's memory context and freed with it.
mod raw {
    use pgrx::pg_sys::{BlockNumber, Buffer, BufferAccessStrategy, ForkNumber, ReadBufferMode, Relation};
    unsafe extern "C-unwind" {
        pub fn ReadBufferExtended(
            reln: Relation,
            fork: ForkNumber::Type,
            block: BlockNumber,
            mode: ReadBufferMode::Type,
            strategy: BufferAccessStrategy,
        ) -> Buffer;
        pub fn LockBuffer(buffer: Buffer, mode: std::ffi::c_int);
        pub fn UnlockReleaseBuffer(buffer: Buffer);
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
    pub logging: Logging,
}

impl PgRelation {
    pub fn new(rel: pg_sys::Relation, logging: Logging) -> PgRelation {
        PgRelation { rel, fork: pg_sys::ForkNumber::MAIN_FORKNUM, logging }
    }

    pub fn with_fork(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type, logging: Logging) -> PgRelation {
        PgRelation { rel, fork, logging }
    }

    /// WAL-log every page of the fork as full images (after a bulk build).
    pub fn log_all_pages(&self) {
        unsafe {
            let n = pg_sys::RelationGetNumberOfBlocksInFork(self.rel, self.fork);
            if n > 0 {
                pg_sys::log_newpage_range(self.rel, self.fork, 0, n, true);
            }
        }
    }

    fn read_buffer(&self, blkno: u32) -> pg_sys::Buffer {
        unsafe {
            pg_sys::ReadBufferExtended(self.rel, self.fork, blkno, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut())
        }
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
        unsafe { raw::UnlockReleaseBuffer(self.buf) }
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

    fn read(&self, blkno: u32) -> PgReadGuard {
        unsafe {
            let buf = raw::ReadBufferExtended(self.rel, self.fork, blkno, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            PgReadGuard { buf, page: pg_sys::BufferGetPage(buf) as *const Page }
        }
    }

    fn nblocks(&self) -> u32 {
        unsafe { pg_sys::RelationGetNumberOfBlocksInFork(self.rel, self.fork) }
    }

    // No prefetch: PrefetchBuffer costs a buffer-table lookup even for cached pages, which is
    // the common case for an index that serves top-k queries; the OS page cache does the rest.
    fn prefetch(&self, _blkno: u32) {}
}

impl PgRelation {
    /// Wrap an exclusively locked buffer.
    fn guard(&self, buf: pg_sys::Buffer, new_page: bool) -> PgWriteGuard {
        unsafe {
            match self.logging {
                Logging::Generic => {
                    let state = pg_sys::GenericXLogStart(self.rel);
                    let flags = if new_page { pg_sys::GENERIC_XLOG_FULL_IMAGE as i32 } else { 0 };
                    let page = pg_sys::GenericXLogRegisterBuffer(state, buf, flags) as *mut Page;
                    PgWriteGuard { buf, state, page }
                }
                Logging::Bulk => {
                    PgWriteGuard { buf, state: std::ptr::null_mut(), page: pg_sys::BufferGetPage(buf) as *mut Page }
                }
            }
        }
    }
}

impl RelationWrite for PgRelation {
    type WriteGuard<'a> = PgWriteGuard;
    type UpdateLock<'a> = PgUpdateLock;

    fn write(&self, blkno: u32) -> PgWriteGuard {
        let buf = self.read_buffer(blkno);
        unsafe { pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32) };
        self.guard(buf, false)
    }

    fn extend(&self) -> (u32, PgWriteGuard) {
        unsafe {
            pg_sys::LockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            let buf = self.read_buffer(pg_sys::InvalidBlockNumber);
            // Lock the new page before others can see the relation grew.
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            pg_sys::UnlockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            let blkno = pg_sys::BufferGetBlockNumber(buf);
            (blkno, self.guard(buf, true))
        }
    }

    fn lock_update(&self, exclusive: bool) -> PgUpdateLock {
        let mode = if exclusive { pg_sys::ExclusiveLock } else { pg_sys::ShareLock } as pg_sys::LOCKMODE;
        unsafe { pg_sys::LockPage(self.rel, UPDATE_LOCK_BLKNO, mode) };
        PgUpdateLock { rel: self.rel, mode }
    }
}
