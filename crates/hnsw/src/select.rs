//! Neighbour selection shared by build, insert and vacuum.

use std::cmp::Ordering;

/// A node (or scratch slot) with its distance to some base point.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scored {
    pub dist: f32,
    pub id: u32,
}

impl PartialEq for Scored {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist.total_cmp(&o.dist).then(self.id.cmp(&o.id))
    }
}

/// HNSW's heuristic (Malkov & Yashunin, alg. 4, as in hnswlib): walk the
/// candidates from closest to farthest and keep one only if it is closer to
/// the base than to every neighbour kept so far, so the kept edges point in
/// different directions. `candidates` must be sorted ascending.
///
/// When the heuristic keeps fewer than half of `max`, the closest candidates
/// it pruned fill the list up to half (the paper's "keep pruned
/// connections", which pgvector applies up to `max`). The extra edges raise
/// recall for the same number of distances a search computes; up to half
/// rather than all slots keeps lists short enough that the build, whose
/// searches walk them too, stays cheap. The result is sorted ascending.
pub(crate) fn select_neighbors(
    candidates: &[Scored],
    max: usize,
    mut dist_between: impl FnMut(u32, u32) -> f32,
    out: &mut Vec<Scored>,
) {
    out.clear();
    if candidates.len() <= max {
        // Fewer candidates than slots: the heuristic could only drop edges.
        // Keeping them all costs nothing in space and helps connectivity.
        out.extend_from_slice(candidates);
        return;
    }
    for &c in candidates {
        if out.len() >= max {
            break;
        }
        if out.iter().all(|s| dist_between(c.id, s.id) >= c.dist) {
            out.push(c);
        }
    }
    let fill_to = max / 2;
    if out.len() < fill_to {
        let kept = out.len();
        for &c in candidates {
            if out.len() >= fill_to {
                break;
            }
            if !out[..kept].iter().any(|s| s.id == c.id) {
                out.push(c);
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_drops_candidates_hidden_behind_a_kept_neighbour() {
        // Points on a line: base at 0, candidates at 1, 2, 3 and -1.5.
        let pos = [1.0f32, 2.0, 3.0, -1.5];
        let mut cands: Vec<Scored> = pos.iter().enumerate().map(|(i, p)| Scored { dist: p.abs(), id: i as u32 }).collect();
        cands.sort();
        let mut out = Vec::new();
        select_neighbors(&cands, 3, |a, b| (pos[a as usize] - pos[b as usize]).abs(), &mut out);
        let ids: Vec<u32> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![0, 3], "2 and 3 are behind 1; -1.5 is on the other side");
    }

    #[test]
    fn pruned_candidates_fill_the_list_up_to_half_its_capacity() {
        // Points on a line, all on one side of the base at 0: the heuristic keeps only the closest.
        let pos: Vec<f32> = (1..=10).map(|i| i as f32).collect();
        let cands: Vec<Scored> = pos.iter().enumerate().map(|(i, p)| Scored { dist: *p, id: i as u32 }).collect();
        let mut out = Vec::new();
        select_neighbors(&cands, 8, |a, b| (pos[a as usize] - pos[b as usize]).abs(), &mut out);
        let ids: Vec<u32> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3], "the kept one plus the three closest pruned ones");
        // A diverse set the heuristic keeps whole is not padded beyond it.
        let mut out2 = Vec::new();
        let spread = [1.0f32, -1.1, 1.2, -1.3, 1.4, -1.5, 1.6, -1.7, 1.8];
        let c2: Vec<Scored> = spread.iter().enumerate().map(|(i, p)| Scored { dist: p.abs(), id: i as u32 }).collect();
        select_neighbors(&c2, 4, |a, b| (spread[a as usize] - spread[b as usize]).abs(), &mut out2);
        assert_eq!(out2.iter().map(|s| s.id).collect::<Vec<_>>(), vec![0, 1]);
    }
}
