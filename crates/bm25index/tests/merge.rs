//! Merges: the memtable into segments, segments into larger ones. Random lives that cross the
//! thresholds compared with brute-force BM25 bit for bit, crashes after every page write of a
//! merge (and of a VACUUM a merge then cleans up after), and merges racing inserts, searches
//! and VACUUM.

mod common;

use common::{brute_force, random_doc, random_query, Doc};
use semvec_bm25::Bm25Params;
use semvec_bm25index::{
    bulk_delete, check, force_merge, insert_with, merge, read_meta, Builder, Hit, MergePolicy, MergeStats, Scan, Strategy,
};
use semvec_storage::page::Page;
use semvec_storage::relation::{MemReadGuard, MemWriteGuard, UpdateGuard};
use semvec_storage::{MemRelation, RelationRead, RelationWrite, Rng, Tid};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn fresh_tid(rng: &mut Rng, used: &mut BTreeSet<Tid>) -> Tid {
    loop {
        let t = Tid::new(rng.below(3000) as u32, 1 + rng.below(60) as u16);
        if used.insert(t) {
            return t;
        }
    }
}

fn pairs(hits: &[Hit]) -> Vec<(Tid, f64)> {
    hits.iter().map(|h| (h.tid, h.score)).collect()
}

fn assert_same(got: &[(Tid, f64)], want: &[(Tid, f64)], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} hits, want {}\n got {got:?}\nwant {want:?}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.0 == w.0 && g.1 == w.1,
            "{what}: hit {i}: got {g:?}, want {w:?}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// The index's top-k (both strategies, and in doubling batches) equals brute force over `counted`.
fn compare<R: RelationRead>(
    rel: &R,
    counted: &BTreeMap<Tid, Doc>,
    rng: &mut Rng,
    vocab: u64,
    params: Bm25Params,
    queries: usize,
    what: &str,
) {
    for qi in 0..queries {
        let q = random_query(rng, vocab, 5);
        let qr: Vec<(&[u8], u32)> = q.iter().map(|(l, c)| (&l[..], *c)).collect();
        let k = 1 + rng.below(20) as usize;
        let want = brute_force(counted, &qr, params, k, |_| true);
        for strategy in [Strategy::BlockMaxWand, Strategy::Exhaustive] {
            let mut scan = Scan::begin(rel, &qr, params).unwrap();
            let got = pairs(&scan.next_batch(rel, k, strategy).unwrap());
            assert_same(&got, &want, &format!("{what}: query {qi} {q:?} k {k} {strategy:?}"));
        }
        let mut scan = Scan::begin(rel, &qr, params).unwrap();
        let mut got = Vec::new();
        for step in [k, 2 * k, 4 * k] {
            got.extend(pairs(&scan.next_batch(rel, step, Strategy::BlockMaxWand).unwrap()));
        }
        let want = brute_force(counted, &qr, params, 7 * k, |_| true);
        assert_same(&got, &want, &format!("{what}: query {qi} {q:?} in batches from k {k}"));
        every_document_once(rel, counted, &qr, params, &format!("{what}: query {qi} {q:?}"));
    }
}

/// All matching documents (in batches), then the unmatched ones: every document exactly once,
/// wherever it is (segments, a frozen memtable, the memtable).
fn every_document_once<R: RelationRead>(rel: &R, counted: &BTreeMap<Tid, Doc>, qr: &[(&[u8], u32)], params: Bm25Params, what: &str) {
    let mut scan = Scan::begin(rel, qr, params).unwrap();
    let mut matched = Vec::new();
    let mut k = 3;
    loop {
        let b = scan.next_batch(rel, k, Strategy::BlockMaxWand).unwrap();
        let short = b.len() < k;
        matched.extend(b.into_iter().map(|h| h.tid));
        if short {
            break;
        }
        k *= 2;
    }
    let mut rest = Vec::new();
    while let Some(chunk) = scan.next_unmatched(rel).unwrap() {
        rest.extend(chunk);
    }
    assert_eq!(
        matched.len(),
        brute_force(counted, qr, params, usize::MAX, |_| true).len(),
        "{what}: matching documents"
    );
    let mut all: Vec<Tid> = matched.iter().chain(&rest).copied().collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(n, all.len(), "{what}: a document came twice");
    assert_eq!(all, counted.keys().copied().collect::<Vec<_>>(), "{what}: every document once");
}

/// A clean index (exact counts) holding exactly `counted`.
fn assert_clean<R: RelationRead>(rel: &R, counted: &BTreeMap<Tid, Doc>, what: &str) {
    let r = check(rel, true).unwrap();
    assert!(r.is_clean(), "{what}: {:?}", r.problems);
    assert_eq!(
        (r.n_docs, r.total_len),
        (counted.len() as u64, counted.values().map(|d| d.len).sum::<u64>()),
        "{what}"
    );
}

fn add(total: &mut MergeStats, s: MergeStats) {
    total.memtables += s.memtables;
    total.mem_pages += s.mem_pages;
    total.mem_docs += s.mem_docs;
    total.segment_merges += s.segment_merges;
    total.segments_merged += s.segments_merged;
    total.segments_written += s.segments_written;
    total.aborted += s.aborted;
}

/// A document now and then too large for one memtable page (several parts).
fn some_doc(rng: &mut Rng, vocab: u64) -> Doc {
    if rng.below(40) == 0 {
        random_doc(rng, 5000, 4000)
    } else {
        random_doc(rng, vocab, 40)
    }
}

#[test]
fn a_memtable_merge_keeps_every_score_and_frees_the_memtable() {
    let mut rng = Rng::new(1);
    let vocab = 300;
    let params = Bm25Params::default();
    let rel = MemRelation::new();
    let mut used = BTreeSet::new();
    let mut counted = BTreeMap::new();
    let mut b = Builder::new(&rel, 1 << 20);
    for _ in 0..300 {
        let (t, d) = (fresh_tid(&mut rng, &mut used), random_doc(&mut rng, vocab, 40));
        b.add(t, &d.refs(), d.len).unwrap();
        counted.insert(t, d);
    }
    b.finish();
    let policy = MergePolicy {
        mem_pages: 8,
        ..MergePolicy::default()
    };
    let mut total = MergeStats::default();
    while total.memtables == 0 {
        let (t, d) = (fresh_tid(&mut rng, &mut used), some_doc(&mut rng, vocab));
        add(&mut total, insert_with(&rel, t, &d.refs(), d.len, &policy).unwrap());
        counted.insert(t, d);
        assert_clean(&rel, &counted, "while filling");
    }
    assert_eq!((total.aborted, total.segments_written), (0, 1));
    assert!(total.mem_pages >= 8, "{total:?}");
    let meta = read_meta(&rel).unwrap();
    assert_eq!((meta.segments.len(), meta.frozen_head, meta.mem_pages), (2, None, 1));
    let r = check(&rel, true).unwrap();
    assert_eq!(r.mem_docs, 0);
    assert_eq!(r.unreachable_pages, total.mem_pages, "the old memtable pages, no more");
    compare(&rel, &counted, &mut rng, vocab, params, 30, "after the merge");
}

#[test]
fn the_tiered_policy_merges_similar_sizes_and_caps_the_count() {
    let seg = |n: u64| semvec_bm25index::page::SegmentDesc {
        dir_head: n as u32,
        dict_head: 0,
        n_docs: n,
        total_len: 0,
    };
    let p = MergePolicy {
        mem_pages: 4,
        merge_factor: 3,
        floor_size: 100,
        max_merge_size: 10_000,
        max_segments: 6,
        lease_secs: 60,
    };
    // Tiers: <=100, <=300, <=900, ...
    assert_eq!(p.pick(&[seg(50), seg(5000), seg(60)]), None);
    assert_eq!(p.pick(&[seg(50), seg(5000), seg(60), seg(10)]), Some(vec![3, 0, 2]));
    assert_eq!(
        p.pick(&[seg(200), seg(250), seg(5000), seg(60), seg(280), seg(290)]),
        Some(vec![0, 1, 4])
    );
    // Too large together: left alone.
    assert_eq!(p.pick(&[seg(5000), seg(6000), seg(7000)]), None);
    // Over max_segments: the smallest, whatever their sizes.
    let many: Vec<_> = [9000, 8000, 7000, 6500, 6000, 5500, 5000].map(seg).to_vec();
    assert_eq!(p.pick(&many), Some(vec![6, 5, 4]));
    // Inserts merge at the threshold, and adopt a frozen memtable whose lease expired.
    let meta = |mem_pages, frozen_head, mem_lease| semvec_bm25index::page::Meta {
        mem_pages,
        frozen_head,
        mem_lease,
        ..semvec_bm25index::page::Meta::empty(1)
    };
    let now = 1_000_000;
    assert!(p.insert_due(&meta(4, None, 0), now) && !p.insert_due(&meta(3, None, 0), now));
    assert!(!p.insert_due(&meta(9, Some(5), now - 59), now) && p.insert_due(&meta(1, Some(5), now - 60), now));
    assert!(p.insert_due(&meta(1, Some(5), 0), now) && p.insert_due(&meta(1, Some(5), now + 100), now));
    assert!(!MergePolicy { mem_pages: 0, ..p }.insert_due(&meta(1000, None, 0), now));
}

/// One random life with small merge thresholds: builds, inserts crossing them, deletes, VACUUM,
/// explicit and forced merges, each followed by a check and brute-force comparisons.
fn merge_life(seed: u64, total: &mut MergeStats) {
    let mut rng = Rng::new(seed);
    let vocab = 20 + rng.below(300);
    let params = if rng.below(3) == 0 {
        Bm25Params::new(0.9 + rng.next_unit(), rng.next_unit()).unwrap()
    } else {
        Bm25Params::default()
    };
    let policy = MergePolicy {
        mem_pages: 1 + rng.below(6) as u32,
        merge_factor: 2 + rng.below(3) as usize,
        floor_size: 1 << rng.below(12),
        max_merge_size: if rng.below(3) == 0 { 1 << (8 + rng.below(8)) } else { u64::MAX },
        max_segments: 2 + rng.below(10) as usize,
        lease_secs: 60,
    };
    let rel = MemRelation::new();
    let mut used = BTreeSet::new();
    let mut counted: BTreeMap<Tid, Doc> = BTreeMap::new();
    let mut b = Builder::new(&rel, if rng.below(2) == 0 { 0 } else { 1 << 24 });
    for _ in 0..rng.below(600) {
        let (t, d) = (fresh_tid(&mut rng, &mut used), random_doc(&mut rng, vocab, 40));
        b.add(t, &d.refs(), d.len).unwrap();
        counted.insert(t, d);
    }
    let built = b.finish().segments;
    let mut live: BTreeSet<Tid> = counted.keys().copied().collect();
    for step in 0..14 {
        let what = format!("seed {seed} step {step} {policy:?}");
        match rng.below(10) {
            0..=4 => {
                for _ in 0..rng.below(150) {
                    let (t, d) = (fresh_tid(&mut rng, &mut used), some_doc(&mut rng, vocab));
                    add(total, insert_with(&rel, t, &d.refs(), d.len, &policy).unwrap());
                    counted.insert(t, d);
                    live.insert(t);
                }
            }
            5 => {
                // Rows die in the heap; the index keeps counting them until VACUUM.
                let dead: Vec<Tid> = live.iter().copied().filter(|_| rng.below(4) == 0).collect();
                for t in dead {
                    live.remove(&t);
                }
            }
            6 | 7 => {
                let v = bulk_delete(&rel, |t| !live.contains(&t)).unwrap();
                assert_eq!(v.docs_removed, (counted.len() - live.len()) as u64, "{what}");
                assert_eq!(v.docs_remaining, live.len() as u64, "{what}");
                counted.retain(|t, _| live.contains(t));
            }
            8 => add(total, merge(&rel, &policy, rng.below(2) == 0).unwrap()),
            _ => {
                let target = 1 + rng.below(3) as usize;
                add(total, force_merge(&rel, target).unwrap());
                let meta = read_meta(&rel).unwrap();
                assert!(meta.segments.len() <= target, "{what}");
                assert_eq!(check(&rel, true).unwrap().mem_docs, 0, "{what}");
            }
        }
        assert_clean(&rel, &counted, &what);
        let meta = read_meta(&rel).unwrap();
        assert!(meta.frozen_head.is_none(), "{what}");
        let cap = policy.max_segments.max(2).max(built);
        assert!(meta.segments.len() <= cap, "{what}: {} segments", meta.segments.len());
        compare(&rel, &counted, &mut rng, vocab, params, 4, &what);
    }
}

#[test]
fn random_lives_with_merges_match_brute_force_bm25_exactly() {
    let mut total = MergeStats::default();
    for seed in 0..24 {
        merge_life(seed, &mut total);
    }
    // The lives did exercise what they are about.
    assert!(total.memtables > 50 && total.segment_merges > 20 && total.aborted == 0, "{total:?}");
}

// ---------------------------------------------------------------------------------------------
// Crashes: a relation that stops applying page writes after the n-th.

/// The panic payload of a write attempted after the crash.
struct Crashed;

/// A [`MemRelation`] whose write guards work on a copy, applied when dropped (as a WAL record
/// is): after `limit` applied writes the next is dropped and every later `write`/`extend`
/// panics with [`Crashed`], so the state is what a crash at that point leaves.
struct CrashRel {
    inner: MemRelation,
    limit: AtomicU64,
    applied: AtomicU64,
    crashed: AtomicBool,
}

impl CrashRel {
    fn copy_of(pages: &[Box<Page>]) -> CrashRel {
        let inner = MemRelation::new();
        for p in pages {
            let (_, mut g) = inner.extend();
            g.as_bytes_mut().copy_from_slice(p.as_bytes());
        }
        CrashRel {
            inner,
            limit: AtomicU64::new(u64::MAX),
            applied: AtomicU64::new(0),
            crashed: AtomicBool::new(false),
        }
    }

    fn arm(&self, writes: u64) {
        self.applied.store(0, Ordering::SeqCst);
        self.limit.store(writes, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.limit.store(u64::MAX, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }

    fn apply(&self) -> bool {
        if self.crashed.load(Ordering::SeqCst) {
            return false;
        }
        if self.applied.fetch_add(1, Ordering::SeqCst) >= self.limit.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn alive(&self) {
        if self.crashed.load(Ordering::SeqCst) {
            std::panic::panic_any(Crashed);
        }
    }
}

struct CrashGuard<'a> {
    rel: &'a CrashRel,
    page: MemWriteGuard<'a>,
    copy: Box<Page>,
}

impl CrashGuard<'_> {
    fn new<'a>(rel: &'a CrashRel, page: MemWriteGuard<'a>) -> CrashGuard<'a> {
        let mut copy = Page::boxed();
        copy.as_bytes_mut().copy_from_slice(page.as_bytes());
        CrashGuard { rel, page, copy }
    }
}

impl Deref for CrashGuard<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.copy
    }
}

impl DerefMut for CrashGuard<'_> {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.copy
    }
}

impl Drop for CrashGuard<'_> {
    fn drop(&mut self) {
        if self.rel.apply() {
            self.page.as_bytes_mut().copy_from_slice(self.copy.as_bytes());
        }
    }
}

impl RelationRead for CrashRel {
    type ReadGuard<'a> = MemReadGuard<'a>;
    fn read(&self, blkno: u32) -> MemReadGuard<'_> {
        self.inner.read(blkno)
    }
    fn nblocks(&self) -> u32 {
        self.inner.nblocks()
    }
}

impl RelationWrite for CrashRel {
    type WriteGuard<'a> = CrashGuard<'a>;
    type UpdateLock<'a> = UpdateGuard<'a>;
    fn write(&self, blkno: u32) -> CrashGuard<'_> {
        self.alive();
        CrashGuard::new(self, self.inner.write(blkno))
    }
    fn extend(&self) -> (u32, CrashGuard<'_>) {
        self.alive();
        let (b, g) = self.inner.extend();
        (b, CrashGuard::new(self, g))
    }
    fn lock_update(&self, exclusive: bool) -> UpdateGuard<'_> {
        self.inner.lock_update(exclusive)
    }
}

/// Silence the panics that simulate crashes (other panics still print).
fn quiet_crashes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Crashed>() {
                default(info);
            }
        }));
    });
}

/// Run `op` on a copy of `base` crashing after n page writes, for every n until it completes;
/// after each crash `verify` the state, then run `recover` (no crash) and `verify` again.
/// Returns how many page writes the complete `op` made.
fn crash_at_every_write(base: &MemRelation, op: impl Fn(&CrashRel), recover: impl Fn(&CrashRel), verify: impl Fn(&CrashRel, &str)) -> u64 {
    quiet_crashes();
    let pages = base.snapshot();
    for n in 0.. {
        let rel = CrashRel::copy_of(&pages);
        rel.arm(n);
        let outcome = catch_unwind(AssertUnwindSafe(|| op(&rel)));
        let crashed = rel.crashed.load(Ordering::SeqCst);
        match outcome {
            Err(e) if !e.is::<Crashed>() => std::panic::resume_unwind(e),
            Err(_) => assert!(crashed),
            Ok(()) => {}
        }
        rel.disarm();
        verify(&rel, &format!("crash after {n} writes"));
        recover(&rel);
        verify(&rel, &format!("crash after {n} writes, then recovery"));
        if !crashed {
            return n;
        }
    }
    unreachable!()
}

/// A life up to the point where the next insert merges the memtable, which then holds dead
/// documents and documents of several parts; the segments are one merge short of a tier merge.
fn state_before_a_merge(seed: u64, policy: &MergePolicy) -> (MemRelation, BTreeMap<Tid, Doc>, BTreeSet<Tid>, Rng) {
    let mut rng = Rng::new(seed);
    let vocab = 150;
    let rel = MemRelation::new();
    let mut used = BTreeSet::new();
    let mut counted = BTreeMap::new();
    let mut b = Builder::new(&rel, 1 << 20);
    for _ in 0..200 {
        let (t, d) = (fresh_tid(&mut rng, &mut used), random_doc(&mut rng, vocab, 40));
        b.add(t, &d.refs(), d.len).unwrap();
        counted.insert(t, d);
    }
    b.finish();
    let no_merge = MergePolicy { mem_pages: 0, ..*policy };
    // One merge through inserts, so there are two segments.
    let mut merged = 0;
    while merged == 0 {
        let (t, d) = (fresh_tid(&mut rng, &mut used), some_doc(&mut rng, vocab));
        merged = insert_with(&rel, t, &d.refs(), d.len, policy).unwrap().memtables;
        counted.insert(t, d);
    }
    assert_eq!(read_meta(&rel).unwrap().segments.len(), 2);
    let mut big = false;
    while read_meta(&rel).unwrap().mem_pages < policy.mem_pages || !big {
        let d = if big {
            random_doc(&mut rng, vocab, 40)
        } else {
            random_doc(&mut rng, 5000, 4000)
        };
        big = true;
        let t = fresh_tid(&mut rng, &mut used);
        assert_eq!(insert_with(&rel, t, &d.refs(), d.len, &no_merge).unwrap(), MergeStats::default());
        counted.insert(t, d);
    }
    // VACUUM some rows away (from segments and memtable), and let others die without VACUUM.
    let mut live: BTreeSet<Tid> = counted.keys().copied().collect();
    let dead: Vec<Tid> = live.iter().copied().filter(|_| rng.below(6) == 0).collect();
    for t in &dead {
        live.remove(t);
    }
    bulk_delete(&rel, |t| !live.contains(&t)).unwrap();
    counted.retain(|t, _| live.contains(t));
    let more: Vec<Tid> = live.iter().copied().filter(|_| rng.below(6) == 0).collect();
    for t in &more {
        live.remove(t);
    }
    assert_clean(&rel, &counted, "before the merge");
    (rel, counted, live, rng)
}

#[test]
fn a_crash_anywhere_in_an_insert_that_merges_leaves_every_document_exactly_once() {
    let params = Bm25Params::default();
    let policy = MergePolicy {
        mem_pages: 5,
        merge_factor: 3,
        floor_size: 1 << 40, // one tier: the third segment sets off a tier merge
        ..MergePolicy::default()
    };
    for seed in 0..3 {
        let (base, counted, _, rng) = state_before_a_merge(seed, &policy);
        let extra = (
            Tid::new(9999, 1),
            Doc {
                terms: vec![(b"extra".to_vec(), 2), (b"w1".to_vec(), 1)],
                len: 3,
            },
        );
        let op = |rel: &CrashRel| {
            let s = insert_with(rel, extra.0, &extra.1.refs(), extra.1.len, &policy);
            if !rel.crashed.load(Ordering::SeqCst) {
                let s = s.unwrap();
                assert_eq!((s.memtables, s.segment_merges, s.aborted), (1, 1, 0), "{s:?}");
            }
        };
        // A crash leaves the leases taken: pretend they expired.
        let recover = |rel: &CrashRel| {
            merge(rel, &MergePolicy { lease_secs: 0, ..policy }, false).unwrap();
            assert!(read_meta(rel).unwrap().frozen_head.is_none());
        };
        let verify = |rel: &CrashRel, what: &str| {
            let mut counted = counted.clone();
            let q: Vec<(&[u8], u32)> = vec![(b"extra", 1)];
            if !semvec_bm25index::search(rel, &q, params, 1).unwrap().is_empty() {
                counted.insert(extra.0, extra.1.clone());
            }
            assert_clean(rel, &counted, &format!("seed {seed}: {what}"));
            compare(rel, &counted, &mut rng.clone(), 150, params, 6, &format!("seed {seed}: {what}"));
        };
        let writes = crash_at_every_write(&base, op, recover, verify);
        assert!(writes > 10, "{writes} writes");
    }
}

#[test]
fn a_crash_anywhere_in_a_forced_merge_leaves_every_document_exactly_once() {
    let params = Bm25Params::default();
    let policy = MergePolicy {
        mem_pages: 4,
        ..MergePolicy::default()
    };
    let (base, counted, _, rng) = state_before_a_merge(7, &policy);
    // More segments: flush the memtable twice more.
    let mut rng2 = rng.clone();
    let mut counted = counted;
    let mut used: BTreeSet<Tid> = counted.keys().copied().collect();
    used.insert(Tid::new(9999, 1));
    for _ in 0..2 {
        for _ in 0..30 {
            let (t, d) = (fresh_tid(&mut rng2, &mut used), random_doc(&mut rng2, 150, 40));
            insert_with(&base, t, &d.refs(), d.len, &MergePolicy { mem_pages: 0, ..policy }).unwrap();
            counted.insert(t, d);
        }
        assert_eq!(merge(&base, &policy, true).unwrap().memtables, 1);
    }
    for _ in 0..20 {
        let (t, d) = (fresh_tid(&mut rng2, &mut used), random_doc(&mut rng2, 150, 40));
        insert_with(&base, t, &d.refs(), d.len, &MergePolicy { mem_pages: 0, ..policy }).unwrap();
        counted.insert(t, d);
    }
    assert!(read_meta(&base).unwrap().segments.len() >= 4);
    let op = |rel: &CrashRel| {
        let s = force_merge(rel, 1);
        if !rel.crashed.load(Ordering::SeqCst) {
            assert_eq!(s.unwrap().aborted, 0);
            assert_eq!(read_meta(rel).unwrap().segments.len(), 1);
        }
    };
    let recover = |rel: &CrashRel| {
        force_merge(rel, 1).unwrap();
        let meta = read_meta(rel).unwrap();
        assert_eq!((meta.segments.len(), meta.frozen_head), (1, None));
    };
    let verify = |rel: &CrashRel, what: &str| {
        assert_clean(rel, &counted, what);
        compare(rel, &counted, &mut rng.clone(), 150, params, 6, what);
    };
    let writes = crash_at_every_write(&base, op, recover, verify);
    assert!(writes > 20, "{writes} writes");
}

/// A VACUUM that crashed between its steps leaves counts too high and postings whose document
/// it already removed from the document list; a merge of that segment drops them and comes out
/// exact, and the next VACUUM finishes the job.
#[test]
fn a_merge_after_a_crashed_vacuum_comes_out_exact() {
    let params = Bm25Params::default();
    let policy = MergePolicy {
        mem_pages: 4,
        ..MergePolicy::default()
    };
    let (base, counted, live, rng) = state_before_a_merge(11, &policy);
    let survivors: BTreeMap<Tid, Doc> = counted
        .iter()
        .filter(|(t, _)| live.contains(t))
        .map(|(t, d)| (*t, d.clone()))
        .collect();
    assert!(survivors.len() < counted.len());
    let op = |rel: &CrashRel| {
        bulk_delete(rel, |t| !live.contains(&t)).unwrap();
    };
    let recover = |rel: &CrashRel| {
        force_merge(rel, 1).unwrap();
        // Exact counts again, over what the merge kept: the survivors and the rows the crashed
        // VACUUM had not reached yet.
        let r = check(rel, true).unwrap();
        assert!(r.is_clean(), "{:?}", r.problems);
        assert!(r.n_docs >= survivors.len() as u64);
        bulk_delete(rel, |t| !live.contains(&t)).unwrap();
    };
    let verify = |rel: &CrashRel, what: &str| {
        if what.ends_with("recovery") {
            assert_clean(rel, &survivors, what);
            compare(rel, &survivors, &mut rng.clone(), 150, params, 6, what);
        } else {
            assert!(check(rel, false).unwrap().n_docs >= survivors.len() as u64, "{what}");
        }
    };
    let writes = crash_at_every_write(&base, op, recover, verify);
    assert!(writes > 5, "{writes} writes");
}

#[test]
fn check_reports_frozen_memtables_and_pages_on_two_chains() {
    let rel = MemRelation::new();
    semvec_bm25index::init_empty(&rel);
    let policy = MergePolicy {
        mem_pages: 2,
        ..MergePolicy::default()
    };
    for i in 0..200u32 {
        insert_with(
            &rel,
            Tid::new(i, 1),
            &[(b"a", 1), (format!("u{i}").as_bytes(), 1)],
            2,
            &MergePolicy { mem_pages: 0, ..policy },
        )
        .unwrap();
    }
    let blocks = rel.nblocks();
    freeze_by_hand(&rel, semvec_bm25index::now_secs());
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert!(r.frozen);
    assert_eq!((r.n_docs, r.mem_docs, r.unreachable_pages), (200, 200, 0));
    assert_eq!(rel.nblocks(), blocks + 1);
    // Searches see the frozen documents once; a merge adopts them.
    let hits = semvec_bm25index::search(&rel, &[(b"a", 1)], Bm25Params::default(), 1000).unwrap();
    assert_eq!(hits.len(), 200);
    // While its lease holds, neither inserts nor merges touch it; once expired, an insert adopts it.
    assert_eq!(merge(&rel, &policy, true).unwrap(), MergeStats::default());
    let s = insert_with(&rel, Tid::new(500, 1), &[(b"a", 1)], 1, &policy).unwrap();
    assert_eq!(s, MergeStats::default());
    assert!(read_meta(&rel).unwrap().frozen_head.is_some());
    let s = insert_with(&rel, Tid::new(501, 1), &[(b"a", 1)], 1, &MergePolicy { lease_secs: 0, ..policy }).unwrap();
    assert_eq!((s.memtables, s.mem_docs), (1, 200));
    assert!(read_meta(&rel).unwrap().frozen_head.is_none());
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean() && !r.frozen && r.unreachable_pages > 0, "{r:?}");
    assert_eq!(
        semvec_bm25index::search(&rel, &[(b"a", 1)], Bm25Params::default(), 1000)
            .unwrap()
            .len(),
        202
    );
    // A page on two chains is a problem.
    {
        let mut m = rel.write(0);
        let mut meta = semvec_bm25index::page::Meta::decode(m.get(1).unwrap()).unwrap();
        meta.frozen_head = Some(meta.mem_head);
        m.get_mut(1).unwrap().copy_from_slice(&meta.encode());
    }
    let r = check(&rel, true).unwrap();
    assert!(r.problems.iter().any(|p| p.contains("a second time")), "{:?}", r.problems);
}

/// Freeze the memtable by hand, as a crash right after the freeze leaves it.
fn freeze_by_hand(rel: &MemRelation, lease: u32) {
    let (fresh, mut g) = rel.extend();
    semvec_bm25index::page::init_page(&mut g, semvec_bm25index::page::PAGE_MEM);
    g.alloc(&semvec_bm25index::page::MemCounters::default().encode()).unwrap();
    drop(g);
    let mut m = rel.write(0);
    let mut meta = semvec_bm25index::page::Meta::decode(m.get(1).unwrap()).unwrap();
    meta.frozen_head = Some(meta.mem_head);
    meta.mem_head = fresh;
    meta.mem_tail = fresh;
    meta.mem_pages = 1;
    meta.mem_lease = lease;
    m.get_mut(1).unwrap().copy_from_slice(&meta.encode());
}

#[test]
fn explicit_merges_take_a_frozen_memtable_and_then_the_memtable() {
    let no_merge = MergePolicy {
        mem_pages: 0,
        ..MergePolicy::default()
    };
    for forced in [false, true] {
        let rel = MemRelation::new();
        semvec_bm25index::init_empty(&rel);
        for i in 0..100u32 {
            insert_with(&rel, Tid::new(i, 1), &[(b"a", 1)], 1, &no_merge).unwrap();
        }
        // A frozen memtable whose lease expired long ago (or, for force_merge, holds).
        freeze_by_hand(&rel, if forced { semvec_bm25index::now_secs() } else { 1 });
        for i in 100..150u32 {
            insert_with(&rel, Tid::new(i, 1), &[(b"a", 1)], 1, &no_merge).unwrap();
        }
        let s = if forced {
            force_merge(&rel, 1).unwrap()
        } else {
            merge(&rel, &no_merge, true).unwrap()
        };
        assert_eq!((s.memtables, s.mem_docs, s.aborted), (2, 150, 0), "forced {forced}");
        let r = check(&rel, true).unwrap();
        assert!(r.is_clean() && !r.frozen, "{r:?}");
        assert_eq!((r.n_docs, r.mem_docs, r.segments), (150, 0, if forced { 1 } else { 2 }));
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency.

#[test]
fn merges_racing_inserts_searches_and_vacuum_lose_and_duplicate_nothing() {
    let rel = MemRelation::new();
    let mut b = Builder::new(&rel, 1 << 20);
    let n_built = 600u32;
    for i in 0..n_built {
        b.add(Tid::new(i, 1), &[(b"common", 1), (format!("u{i}").as_bytes(), 1)], 2)
            .unwrap();
    }
    b.finish();
    // Every third built row dies; VACUUM removes it while everything else runs.
    let dead = |t: Tid| t.block < n_built && t.block.is_multiple_of(3);
    let policy = MergePolicy {
        mem_pages: 2,
        merge_factor: 3,
        floor_size: 1 << 10,
        ..MergePolicy::default()
    };
    let writers = 3u32;
    let per = 400u32;
    let stop = AtomicBool::new(false);
    let merged = AtomicU64::new(0);
    let aborted = AtomicU64::new(0);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for w in 0..writers {
            let (rel, merged, aborted) = (&rel, &merged, &aborted);
            handles.push(s.spawn(move || {
                let mut rng = Rng::new(w as u64);
                for i in 0..per {
                    let id = 1000 + w * per + i;
                    let filler: Vec<Vec<u8>> = if rng.below(40) == 0 {
                        (0..1500).map(|j| format!("f{w}_{i}_{j}").into_bytes()).collect()
                    } else {
                        Vec::new()
                    };
                    let u = format!("u{id}").into_bytes();
                    let mut terms: Vec<(&[u8], u32)> = vec![(b"common", 1), (&u, 1)];
                    terms.extend(filler.iter().map(|f| (&f[..], 1)));
                    let st = insert_with(rel, Tid::new(id, 1), &terms, terms.len() as u64, &policy).unwrap();
                    merged.fetch_add((st.memtables + st.segment_merges) as u64, Ordering::Relaxed);
                    aborted.fetch_add(st.aborted as u64, Ordering::Relaxed);
                }
            }));
        }
        // Searchers: every scan sees each document at most once, and every built row that does
        // not die exactly once.
        for r in 0..2 {
            let (rel, stop) = (&rel, &stop);
            s.spawn(move || {
                let q: Vec<(&[u8], u32)> = vec![(b"common", 1)];
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) || rounds < 5 {
                    let hits = semvec_bm25index::search(rel, &q, Bm25Params::default(), 100_000).unwrap();
                    let tids: BTreeSet<Tid> = hits.iter().map(|h| h.tid).collect();
                    assert_eq!(tids.len(), hits.len(), "searcher {r}: a document twice");
                    let built = (0..n_built).map(|i| Tid::new(i, 1)).filter(|t| !dead(*t));
                    for t in built {
                        assert!(tids.contains(&t), "searcher {r}: {t:?} missing");
                    }
                    rounds += 1;
                }
            });
        }
        {
            let (rel, merged, aborted) = (&rel, &merged, &aborted);
            handles.push(s.spawn(move || {
                // Maintenance while the writers run: merges (some flushing), one VACUUM.
                for n in 0..8 {
                    if n == 3 {
                        // (Removals can count twice: from a merge's input and from its output.)
                        let v = bulk_delete(rel, dead).unwrap();
                        assert!(v.docs_removed >= (0..n_built).filter(|i| i.is_multiple_of(3)).count() as u64);
                    } else {
                        let st = merge(rel, &policy, n % 2 == 0).unwrap();
                        // Counted with the writers' merges: which side gets to run one depends
                        // on scheduling (a loaded machine gave the writers only 3 once).
                        merged.fetch_add((st.memtables + st.segment_merges) as u64, Ordering::Relaxed);
                        aborted.fetch_add(st.aborted as u64, Ordering::Relaxed);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    let expect: Vec<u32> = (0..n_built)
        .filter(|&i| !dead(Tid::new(i, 1)))
        .chain(1000..1000 + writers * per)
        .collect();
    assert_eq!(r.n_docs, expect.len() as u64);
    assert!(merged.load(Ordering::Relaxed) > 3, "merges ran: {}", merged.load(Ordering::Relaxed));
    for id in expect {
        let u = format!("u{id}").into_bytes();
        let hits = semvec_bm25index::search(&rel, &[(&u[..], 1)], Bm25Params::default(), 5).unwrap();
        assert_eq!(
            hits.iter().map(|h| h.tid).collect::<Vec<_>>(),
            vec![Tid::new(id, 1)],
            "document {id}"
        );
    }
    for i in (0..n_built).filter(|&i| dead(Tid::new(i, 1))) {
        let u = format!("u{i}").into_bytes();
        assert!(semvec_bm25index::search(&rel, &[(&u[..], 1)], Bm25Params::default(), 5)
            .unwrap()
            .is_empty());
    }
    println!(
        "merges {}, aborted {}",
        merged.load(Ordering::Relaxed),
        aborted.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------------------------
// Interleavings: a VACUUM at every page write of a merge, a merge at every page write of a
// VACUUM (deterministic, unlike the race above).

type Hook = Box<dyn FnOnce(&MemRelation)>;

/// A [`MemRelation`] that runs a hook (on the relation itself) at the n-th `write`/`extend`
/// call, or the first one after while the caller holds the update lock (the hook takes it too).
struct HookRel {
    inner: MemRelation,
    calls: AtomicU64,
    at: u64,
    locked: AtomicBool,
    hook: std::sync::Mutex<Option<Hook>>,
}

impl HookRel {
    fn copy_of(pages: &[Box<Page>], at: u64, hook: Hook) -> HookRel {
        let inner = MemRelation::new();
        for p in pages {
            let (_, mut g) = inner.extend();
            g.as_bytes_mut().copy_from_slice(p.as_bytes());
        }
        HookRel {
            inner,
            calls: AtomicU64::new(0),
            at,
            locked: AtomicBool::new(false),
            hook: std::sync::Mutex::new(Some(hook)),
        }
    }

    fn tick(&self) {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.at && !self.locked.load(Ordering::SeqCst) {
            let hook = self.hook.lock().unwrap().take();
            if let Some(h) = hook {
                h(&self.inner);
            }
        }
    }

    fn fired(&self) -> bool {
        self.hook.lock().unwrap().is_none()
    }
}

struct HookLock<'a>(#[allow(dead_code)] UpdateGuard<'a>, &'a AtomicBool);

impl Drop for HookLock<'_> {
    fn drop(&mut self) {
        self.1.store(false, Ordering::SeqCst);
    }
}

impl RelationRead for HookRel {
    type ReadGuard<'a> = MemReadGuard<'a>;
    fn read(&self, blkno: u32) -> MemReadGuard<'_> {
        self.inner.read(blkno)
    }
    fn nblocks(&self) -> u32 {
        self.inner.nblocks()
    }
}

impl RelationWrite for HookRel {
    type WriteGuard<'a> = MemWriteGuard<'a>;
    type UpdateLock<'a> = HookLock<'a>;
    fn write(&self, blkno: u32) -> MemWriteGuard<'_> {
        self.tick();
        self.inner.write(blkno)
    }
    fn extend(&self) -> (u32, MemWriteGuard<'_>) {
        self.tick();
        self.inner.extend()
    }
    fn lock_update(&self, exclusive: bool) -> HookLock<'_> {
        let g = self.inner.lock_update(exclusive);
        self.locked.store(true, Ordering::SeqCst);
        HookLock(g, &self.locked)
    }
}

/// For every n until the hook no longer fires: run `op` on a copy of `base` with `hook` run at
/// its n-th page write, then `verify`. Returns how many interleavings ran.
fn interleave(base: &MemRelation, op: impl Fn(&HookRel), hook: impl Fn() -> Hook, verify: impl Fn(&HookRel, &str)) -> u64 {
    let pages = base.snapshot();
    for n in 1.. {
        let rel = HookRel::copy_of(&pages, n, hook());
        op(&rel);
        if !rel.fired() {
            return n - 1;
        }
        verify(&rel, &format!("hook at write {n}"));
    }
    unreachable!()
}

#[test]
fn a_vacuum_anywhere_inside_a_merge_removes_its_rows_for_good() {
    let params = Bm25Params::default();
    let policy = MergePolicy {
        mem_pages: 4,
        ..MergePolicy::default()
    };
    let (base, counted, live, rng) = state_before_a_merge(21, &policy);
    let survivors: BTreeMap<Tid, Doc> = counted
        .iter()
        .filter(|(t, _)| live.contains(t))
        .map(|(t, d)| (*t, d.clone()))
        .collect();
    let live = std::sync::Arc::new(live);
    let aborted = AtomicU64::new(0);
    let op = |rel: &HookRel| {
        let s = force_merge(rel, 1).unwrap();
        aborted.fetch_add(s.aborted as u64, Ordering::Relaxed);
    };
    let hook = || -> Hook {
        let live = live.clone();
        Box::new(move |rel: &MemRelation| {
            bulk_delete(rel, |t| !live.contains(&t)).unwrap();
        })
    };
    let verify = |rel: &HookRel, what: &str| {
        // Whatever the merge published or gave up, the VACUUM's rows are gone.
        assert_clean(rel, &survivors, what);
        compare(rel, &survivors, &mut rng.clone(), 150, params, 4, what);
        // And the next merge finishes the job.
        force_merge(rel, 1).unwrap();
        assert_clean(rel, &survivors, what);
        assert_eq!(read_meta(rel).unwrap().segments.len(), 1, "{what}");
    };
    let n = interleave(&base, op, hook, verify);
    assert!(n > 20, "{n} interleavings");
    assert!(aborted.load(Ordering::Relaxed) > 0, "some merges had to give up");
}

#[test]
fn a_merge_anywhere_inside_a_vacuum_cannot_bring_rows_back() {
    let params = Bm25Params::default();
    let policy = MergePolicy {
        mem_pages: 4,
        ..MergePolicy::default()
    };
    let (base, counted, live, rng) = state_before_a_merge(22, &policy);
    let survivors: BTreeMap<Tid, Doc> = counted
        .iter()
        .filter(|(t, _)| live.contains(t))
        .map(|(t, d)| (*t, d.clone()))
        .collect();
    let remaining = AtomicU64::new(0);
    let op = |rel: &HookRel| {
        let v = bulk_delete(rel, |t| !live.contains(&t)).unwrap();
        remaining.store(v.docs_remaining, Ordering::Relaxed);
    };
    let hook = || -> Hook {
        Box::new(|rel: &MemRelation| {
            force_merge(rel, 1).unwrap();
        })
    };
    let verify = |rel: &HookRel, what: &str| {
        assert_clean(rel, &survivors, what);
        compare(rel, &survivors, &mut rng.clone(), 150, params, 4, what);
        assert_eq!(remaining.load(Ordering::Relaxed), survivors.len() as u64, "{what}");
    };
    let n = interleave(&base, op, hook, verify);
    assert!(n > 5, "{n} interleavings");
}
