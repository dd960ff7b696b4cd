//! Writing an index: the meta page and list pages once the centers are known
//! ([`write_lists`]), then every row assigned to its nearest center and appended to that list's
//! page chain ([`Loader`]), then the list tuples pointed at their chains ([`Loader::finish`]).
//!
//! Rows are buffered, assigned in parallel batches (rayon, pure computation), and kept grouped
//! by list in memory up to a budget; each flush writes list after list, so when everything fits
//! (the usual case) each list's pages are contiguous and a probe reads them sequentially.
//! Writes only `extend()` new pages or touch pages this build made; nothing else runs during a
//! build, so holding two page guards at once (to link a chain) is safe here.

use crate::error::IvfError;
use crate::kmeans::assign;
use crate::page::{self, init_page, ListLoc, Meta, HEADER, MAX_PAYLOAD, PAGE_ENTRY, PAGE_LIST, PAGE_META};
use crate::types::{IndexMetric, Payloads, VectorType};
use semvec_storage::page::INVALID_BLOCK;
use semvec_storage::{RelationWrite, Tid};

/// Write the meta page (block 0) and the list pages (from block 1) of an empty relation; returns
/// where each list tuple went.
pub fn write_lists<R: RelationWrite>(rel: &R, meta: &Meta, centers: &Payloads) -> Result<Vec<ListLoc>, IvfError> {
    assert_eq!(centers.len(), meta.lists as usize, "one center per list");
    if centers.payload_len() > MAX_PAYLOAD {
        return Err(IvfError::EntryTooLarge {
            size: HEADER + centers.payload_len(),
            max: HEADER + MAX_PAYLOAD,
        });
    }
    {
        let (blkno, mut g) = rel.extend();
        debug_assert_eq!(blkno, page::META_BLKNO);
        init_page(&mut g, PAGE_META);
        g.alloc(&meta.encode()).expect("meta tuple fits");
    }
    let mut locs = Vec::with_capacity(centers.len());
    let (mut blkno, mut g) = rel.extend();
    debug_assert_eq!(blkno, page::HEAD_BLKNO);
    init_page(&mut g, PAGE_LIST);
    for center in centers.iter() {
        let tuple = page::list_tuple(INVALID_BLOCK, INVALID_BLOCK, center);
        let offset = match g.alloc(&tuple) {
            Some(off) => off,
            None => {
                let (next, mut ng) = rel.extend();
                init_page(&mut ng, PAGE_LIST);
                g.opaque_mut().next_blkno = next;
                drop(g);
                (blkno, g) = (next, ng);
                g.alloc(&tuple).expect("a list tuple fits an empty page")
            }
        };
        locs.push(ListLoc { blkno, offset });
    }
    Ok(locs)
}

/// Appends entry tuples to each list's chain of pages during a build.
#[derive(Debug)]
pub struct EntryWriter {
    start: Vec<u32>,
    tail: Vec<u32>,
}

impl EntryWriter {
    pub fn new(lists: usize) -> EntryWriter {
        EntryWriter {
            start: vec![INVALID_BLOCK; lists],
            tail: vec![INVALID_BLOCK; lists],
        }
    }

    /// Append `tuples` (concatenated tuples of `tuple_len` bytes) to list `list`.
    pub fn append<R: RelationWrite>(&mut self, rel: &R, list: usize, tuples: &[u8], tuple_len: usize) {
        if tuples.is_empty() && self.tail[list] != INVALID_BLOCK {
            return;
        }
        let (mut blkno, mut g) = if self.tail[list] == INVALID_BLOCK {
            let (b, mut g) = rel.extend();
            init_page(&mut g, PAGE_ENTRY);
            self.start[list] = b;
            (b, g)
        } else {
            (self.tail[list], rel.write(self.tail[list]))
        };
        for t in tuples.chunks_exact(tuple_len) {
            if g.alloc(t).is_none() {
                let (next, mut ng) = rel.extend();
                init_page(&mut ng, PAGE_ENTRY);
                g.opaque_mut().next_blkno = next;
                drop(g);
                (blkno, g) = (next, ng);
                g.alloc(t).expect("an entry fits an empty page");
            }
        }
        self.tail[list] = blkno;
    }

    /// Give every list at least one (possibly empty) page and record each chain's first and last
    /// page in its list tuple.
    pub fn finish<R: RelationWrite>(mut self, rel: &R, locs: &[ListLoc]) {
        for list in 0..locs.len() {
            if self.tail[list] == INVALID_BLOCK {
                self.append(rel, list, &[], 1);
            }
        }
        // one write per list page
        let mut i = 0;
        while i < locs.len() {
            let blkno = locs[i].blkno;
            let mut g = rel.write(blkno);
            while i < locs.len() && locs[i].blkno == blkno {
                let t = g.get_mut(locs[i].offset).expect("list tuple");
                page::set_start_page(t, self.start[i]);
                page::set_insert_page(t, self.tail[i]);
                i += 1;
            }
        }
    }
}

/// Assigns rows to lists and writes them (see the module docs).
pub struct Loader<'a> {
    metric: IndexMetric,
    centers: &'a Payloads,
    pool: Option<&'a rayon::ThreadPool>,
    batch: Payloads,
    tids: Vec<Tid>,
    batch_size: usize,
    spool: Vec<Vec<u8>>,
    spooled: usize,
    budget: usize,
    tuple_len: usize,
    writer: EntryWriter,
    indexed: u64,
}

impl<'a> Loader<'a> {
    /// A loader for rows of `vtype` into lists with `centers`, buffering up to `budget` bytes;
    /// batches are assigned on `pool` (the ambient rayon pool when None).
    pub fn new(vtype: &VectorType, centers: &'a Payloads, budget: usize, pool: Option<&'a rayon::ThreadPool>) -> Loader<'a> {
        let len = vtype.payload_len();
        Loader {
            metric: vtype.index_metric(),
            centers,
            pool,
            batch: Payloads::new(len),
            tids: Vec::new(),
            // about 2^30 distance terms per batch, so a batch takes well under a second
            batch_size: ((1usize << 30) / (centers.len().max(1) * len.max(1))).clamp(64, 4096),
            spool: vec![Vec::new(); centers.len()],
            spooled: 0,
            budget,
            tuple_len: HEADER + len,
            writer: EntryWriter::new(centers.len()),
            indexed: 0,
        }
    }

    /// Rows taken so far.
    pub fn indexed(&self) -> u64 {
        self.indexed
    }

    /// Take one row. Every so often this assigns a batch in parallel and, past the budget,
    /// writes pages.
    pub fn push<R: RelationWrite>(&mut self, rel: &R, tid: Tid, payload: &[u8]) -> Result<(), IvfError> {
        if payload.len() != self.batch.payload_len() {
            return Err(IvfError::PayloadSize {
                expected: self.batch.payload_len(),
                actual: payload.len(),
            });
        }
        self.batch.push(payload);
        self.tids.push(tid);
        self.indexed += 1;
        if self.batch.len() >= self.batch_size {
            self.assign_batch();
            if self.spooled > self.budget {
                self.flush(rel);
            }
        }
        Ok(())
    }

    fn assign_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let (metric, centers, batch) = (&self.metric, self.centers, &self.batch);
        let lists = match self.pool {
            Some(pool) => pool.install(|| assign(metric, centers, batch)),
            None => assign(metric, centers, batch),
        };
        for (i, &list) in lists.iter().enumerate() {
            page::encode_entry(self.tids[i], self.batch.get(i), &mut self.spool[list as usize]);
        }
        self.spooled += lists.len() * self.tuple_len;
        self.batch.clear();
        self.tids.clear();
    }

    fn flush<R: RelationWrite>(&mut self, rel: &R) {
        for (list, tuples) in self.spool.iter_mut().enumerate() {
            if !tuples.is_empty() {
                self.writer.append(rel, list, tuples, self.tuple_len);
                *tuples = Vec::new();
            }
        }
        self.spooled = 0;
    }

    /// Write what is left and point the list tuples at their chains; returns the rows indexed.
    pub fn finish<R: RelationWrite>(mut self, rel: &R, locs: &[ListLoc]) -> u64 {
        self.assign_batch();
        self.flush(rel);
        self.writer.finish(rel, locs);
        self.indexed
    }
}

/// Build a whole index from rows already in memory (tests, tools): k-means on `samples` must
/// have given `centers`.
pub fn build_from<'r, R: RelationWrite>(
    rel: &R,
    vtype: &VectorType,
    centers: &Payloads,
    rows: impl IntoIterator<Item = (Tid, &'r [u8])>,
) -> Result<u64, IvfError> {
    let meta = Meta {
        vtype: *vtype,
        lists: centers.len() as u32,
    };
    let locs = write_lists(rel, &meta, centers)?;
    let mut loader = Loader::new(vtype, centers, usize::MAX, None);
    for (tid, p) in rows {
        loader.push(rel, tid, p)?;
    }
    Ok(loader.finish(rel, &locs))
}
