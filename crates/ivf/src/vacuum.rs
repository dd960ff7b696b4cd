//! VACUUM: remove the entries of dead heap rows and point each list's insert hint at its first
//! page that gained room.
//!
//! Each page is first checked under a share lock; only a page with dead entries is locked for
//! writing (one WAL record) and compacted, checking every entry again since inserts may have
//! added some meanwhile. Scans copy what they need under the share lock, so compacting a page
//! never disturbs them.

use crate::error::IvfError;
use crate::insert::for_each_list;
use crate::page::{self, ListLoc, ListTuple, PAGE_ENTRY};
use semvec_storage::page::INVALID_BLOCK;
use semvec_storage::{RelationRead, RelationWrite, Tid};

/// What a bulk delete did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VacuumStats {
    /// Entries removed.
    pub removed: u64,
    /// Entries left.
    pub remaining: u64,
    /// Pages of the relation.
    pub pages: u32,
}

/// Remove every entry whose heap TID `dead` says is gone. `tick` runs once per page, before it
/// is locked (vacuum delay, interrupts).
pub fn bulk_delete<R: RelationWrite>(rel: &R, mut dead: impl FnMut(Tid) -> bool, mut tick: impl FnMut()) -> Result<VacuumStats, IvfError> {
    let mut lists: Vec<(ListLoc, u32)> = Vec::new();
    for_each_list(rel, |_, loc, t| lists.push((loc, t.start_page)))?;
    let mut stats = VacuumStats::default();
    for (loc, start) in lists {
        let mut first_freed = INVALID_BLOCK;
        let mut blkno = start;
        while blkno != INVALID_BLOCK && blkno < rel.nblocks() {
            tick();
            let (any_dead, next, live) = {
                let g = rel.read(blkno);
                if !page::is_page(&g, PAGE_ENTRY) {
                    return Err(IvfError::NotValid);
                }
                let any = (1..=g.len()).filter_map(|o| g.get(o)).any(|t| dead(page::entry_tid(t)));
                (any, g.opaque().next_blkno, g.len() as u64)
            };
            if any_dead {
                let mut g = rel.write(blkno);
                let (removed, kept) = page::remove_tuples(&mut g, |t| dead(page::entry_tid(t)));
                stats.removed += removed as u64;
                stats.remaining += kept as u64;
                if removed > 0 && first_freed == INVALID_BLOCK {
                    first_freed = blkno;
                }
            } else {
                stats.remaining += live;
            }
            blkno = next;
        }
        if first_freed != INVALID_BLOCK {
            let mut g = rel.write(loc.blkno);
            let t = g.get_mut(loc.offset).ok_or(IvfError::NotValid)?;
            page::set_insert_page(t, first_freed);
        }
    }
    stats.pages = rel.nblocks();
    Ok(stats)
}

/// Number of entries in the index.
pub fn count_entries<R: RelationRead>(rel: &R) -> Result<u64, IvfError> {
    let mut starts = Vec::new();
    for_each_list(rel, |_, _, t: ListTuple<'_>| starts.push(t.start_page))?;
    let mut n = 0u64;
    for start in starts {
        let mut blkno = start;
        while blkno != INVALID_BLOCK && blkno < rel.nblocks() {
            let g = rel.read(blkno);
            n += g.len() as u64;
            blkno = g.opaque().next_blkno;
        }
    }
    Ok(n)
}
