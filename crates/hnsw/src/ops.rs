//! Page-level helpers shared by insert and vacuum.

use crate::metric::Metric;
use crate::relation::{RelationRead, RelationWrite};
use crate::select::{select_neighbors, Scored};
use crate::tuple::{ElementRef, NeighborsMut, NeighborsRef, Tid};

/// Payload copies, 8-byte aligned, indexed by insertion order.
#[derive(Default)]
pub(crate) struct PayloadArena {
    words: Vec<u64>,
    spans: Vec<(usize, usize)>,
}

impl PayloadArena {
    pub fn clear(&mut self) {
        self.words.clear();
        self.spans.clear();
    }
    pub fn push(&mut self, b: &[u8]) -> u32 {
        let start = self.words.len() * 8;
        self.words.resize(self.words.len() + b.len().div_ceil(8), 0);
        // SAFETY: the words just added cover b.len() bytes from `start`.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), (self.words.as_mut_ptr() as *mut u8).add(start), b.len());
        }
        self.spans.push((start, b.len()));
        (self.spans.len() - 1) as u32
    }
    #[inline]
    pub fn get(&self, i: u32) -> &[u8] {
        let (s, l) = self.spans[i as usize];
        // SAFETY: u64 storage viewed as bytes; the span was written by push.
        unsafe { std::slice::from_raw_parts((self.words.as_ptr() as *const u8).add(s), l) }
    }
}

/// An element copied out of its page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loaded {
    pub live: bool,
    /// Index into the [`PayloadArena`].
    pub slot: u32,
}

/// Copies the elements `tids` (any order) into `arena`; `out[i]` is
/// `Some` when `tids[i]` is an element. One page lock per distinct block.
pub(crate) fn load_elements<R: RelationRead>(rel: &R, tids: &[Tid], arena: &mut PayloadArena, out: &mut Vec<Option<Loaded>>) {
    out.clear();
    out.resize(tids.len(), None);
    let mut order: Vec<usize> = (0..tids.len()).collect();
    order.sort_unstable_by_key(|&i| tids[i]);
    let mut last = u32::MAX;
    for &i in &order {
        if tids[i].block != last {
            rel.prefetch(tids[i].block);
            last = tids[i].block;
        }
    }
    let mut k = 0;
    while k < order.len() {
        let blk = tids[order[k]].block;
        let page = rel.read(blk);
        while k < order.len() && tids[order[k]].block == blk {
            let i = order[k];
            k += 1;
            if let Some(e) = page.get(tids[i].offset).and_then(ElementRef::parse) {
                let slot = arena.push(e.payload());
                out[i] = Some(Loaded { live: e.is_live(), slot });
            }
        }
    }
}

/// The list of `layer` in the neighbour tuple `nbrs`, or `None` if `nbrs`
/// is not a neighbour tuple with that layer.
pub(crate) fn read_layer<R: RelationRead>(rel: &R, nbrs: Tid, layer: u8) -> Option<(Vec<Tid>, usize)> {
    let page = rel.read(nbrs.block);
    let n = page.get(nbrs.offset).and_then(NeighborsRef::parse)?;
    if layer > n.level() {
        return None;
    }
    Some((n.layer(layer).collect(), n.capacity(layer)))
}

/// Replaces `layer` of the neighbour tuple `nbrs` with `new` only if it
/// still equals `expected` (optimistic update, one page lock).
pub(crate) fn replace_layer_if<R: RelationWrite>(rel: &R, nbrs: Tid, layer: u8, expected: &[Tid], new: &[Tid]) -> bool {
    // Check under a share lock first: no write (WAL record) when it changed.
    if read_layer(rel, nbrs, layer).is_none_or(|(cur, _)| cur != expected) {
        return false;
    }
    let mut page = rel.write(nbrs.block);
    let Some(b) = page.get_mut(nbrs.offset) else { return false };
    let Some(mut n) = NeighborsMut::parse(b) else { return false };
    if layer > n.as_ref().level() || !n.as_ref().layer(layer).eq(expected.iter().copied()) {
        return false;
    }
    n.set_layer(layer, new);
    true
}

/// What [`append_if_room`] did.
pub(crate) enum Append {
    /// `new` is in the list now (appended, or already there).
    Done,
    /// The list is full (its TIDs and capacity as read): pruning needed.
    Full(Vec<Tid>, usize),
    /// The neighbour tuple no longer has this layer (slot reused).
    Gone,
}

/// Appends `new` to `layer` of the neighbour tuple `nbrs` when the list has
/// room, checked and written under one page lock: no read-modify-write window
/// in which a concurrent insert's link is lost. Like [`replace_layer_if`], the
/// list is checked under a share lock first, so a full list costs no write.
pub(crate) fn append_if_room<R: RelationWrite>(rel: &R, nbrs: Tid, layer: u8, new: Tid) -> Append {
    let Some((list, cap)) = read_layer(rel, nbrs, layer) else {
        return Append::Gone;
    };
    if list.contains(&new) {
        return Append::Done;
    }
    if list.len() >= cap {
        return Append::Full(list, cap);
    }
    let mut page = rel.write(nbrs.block);
    let Some(mut n) = page.get_mut(nbrs.offset).and_then(NeighborsMut::parse) else {
        return Append::Gone;
    };
    if layer > n.as_ref().level() {
        return Append::Gone;
    }
    let mut l: Vec<Tid> = n.as_ref().layer(layer).collect();
    let cap = n.as_ref().capacity(layer);
    if l.contains(&new) {
        return Append::Done;
    }
    if l.len() >= cap {
        return Append::Full(l, cap);
    }
    l.push(new);
    n.set_layer(layer, &l);
    Append::Done
}

/// Chooses up to `cap` neighbours for `base` among `cands` (element TIDs):
/// scores them, keeps the `pool` closest live ones, runs the heuristic, and
/// fills the list up to `fill_to` with the closest candidates it pruned (the
/// paper's "keep pruned connections"; see [`select_neighbors`]). Returns the
/// chosen TIDs with their distances, ascending.
#[allow(clippy::too_many_arguments)]
pub(crate) fn choose_neighbors<R: RelationRead, M: Metric>(
    rel: &R,
    metric: &M,
    base: &[u8],
    cands: &[Tid],
    cap: usize,
    fill_to: usize,
    pool: usize,
    arena: &mut PayloadArena,
    loaded: &mut Vec<Option<Loaded>>,
) -> Vec<(Tid, f32)> {
    arena.clear();
    load_elements(rel, cands, arena, loaded);
    let mut scored: Vec<Scored> = loaded
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.filter(|l| l.live).map(|l| Scored {
                dist: metric.distance(base, arena.get(l.slot)),
                id: i as u32,
            })
        })
        .collect();
    scored.sort_unstable();
    scored.truncate(pool.max(cap));
    let mut chosen = Vec::new();
    select_neighbors(
        &scored,
        cap,
        fill_to,
        |a, b| {
            let (la, lb) = (loaded[a as usize].unwrap(), loaded[b as usize].unwrap());
            metric.distance(arena.get(la.slot), arena.get(lb.slot))
        },
        &mut chosen,
    );
    chosen.iter().map(|s| (cands[s.id as usize], s.dist)).collect()
}
