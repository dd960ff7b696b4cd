//! A whole `ambuild` in one object: in memory while it fits, then on disk.

use crate::build::{build_graph_parallel_polling, BuildArena, BuildParams, Cancelled};
use crate::error::HnswError;
use crate::insert::Inserter;
use crate::metric::Metric;
use crate::relation::RelationWrite;
use crate::tuple::{element_tuple_size, Tid, HEAP_TIDS_MAX, MAX_PAYLOAD};
use crate::write::{init_empty, write_graph, IndexOptions};
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// Why a build stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error(transparent)]
    Hnsw(#[from] HnswError),
}

impl BuildError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            BuildError::Cancelled(_) => Cancelled::SQLSTATE,
            BuildError::Hnsw(e) => e.sqlstate(),
        }
    }
}

/// What an [`IndexBuilder`] tells its caller while it works (the glue reports progress and
/// polls for interrupts there). A closure `FnMut()` is a `BuildHooks` that only polls.
pub trait BuildHooks {
    /// Called on the caller's thread about every 20 ms while the graph is built in parallel
    /// (see [`build_graph_parallel_polling`]).
    fn poll(&mut self) {}
    /// The build enters `phase`.
    fn phase(&mut self, _phase: BuildPhase) {}
}

impl<F: FnMut()> BuildHooks for F {
    fn poll(&mut self) {
        self()
    }
}

/// The stages of a build after its rows were gathered (`pg_stat_progress_create_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildPhase {
    /// The in-memory graph of this many elements is being built.
    Graph { elements: usize },
    /// Its pages are being written.
    Write,
}

/// Result of [`IndexBuilder::finish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Heap tuples indexed (`IndexBuildResult.index_tuples`).
    pub heap_tuples: u64,
    /// Heap tuples added before the graph stopped fitting in memory, if it did.
    pub spilled_after: Option<u64>,
}

/// Collects heap tuples for `ambuild` (call [`IndexBuilder::add`] from the
/// table scan callback), builds the graph in memory in parallel, and writes
/// it. When the next tuple would take the build past `memory_limit` bytes
/// (`maintenance_work_mem`), the graph so far is built and written at once
/// and every later tuple goes through the on-disk insert, like pgvector.
///
/// The graph is written with [`write_graph`] (pages in block order, each once) and then
/// [`RelationWrite::finish_bulk_write`] is called: the glue WAL-logs those pages in bulk there,
/// so the on-disk inserts that may follow are logged one change at a time on top of them.
pub struct IndexBuilder<'a, M: Metric + Clone> {
    opts: IndexOptions,
    params: BuildParams,
    metric: M,
    threads: usize,
    memory_limit: usize,
    cancel: &'a AtomicBool,
    progress: &'a AtomicUsize,
    arena: BuildArena,
    inserter: Option<Inserter<M>>,
    heap_tuples: u64,
    spilled_after: Option<u64>,
}

impl<'a, M: Metric + Clone> IndexBuilder<'a, M> {
    pub fn new(
        opts: IndexOptions,
        params: BuildParams,
        metric: M,
        threads: usize,
        memory_limit: usize,
        cancel: &'a AtomicBool,
        progress: &'a AtomicUsize,
    ) -> Self {
        IndexBuilder {
            opts,
            params,
            metric,
            threads,
            memory_limit,
            cancel,
            progress,
            arena: BuildArena::new(),
            inserter: None,
            heap_tuples: 0,
            spilled_after: None,
        }
    }

    /// Adds one heap tuple. Returns `true` exactly when this call moved the
    /// build to disk (the glue emits pgvector's NOTICE "hnsw graph no longer
    /// fits into maintenance_work_mem after N tuples"). `poll` is run on this
    /// thread during any parallel phase (see [`build_graph_parallel_polling`]).
    pub fn add<R: RelationWrite>(
        &mut self,
        rel: &R,
        payload: &[u8],
        heap_tid: Tid,
        hooks: &mut dyn BuildHooks,
    ) -> Result<bool, BuildError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(HnswError::ElementTooLarge {
                size: element_tuple_size(payload.len(), HEAP_TIDS_MAX),
                max: element_tuple_size(MAX_PAYLOAD, HEAP_TIDS_MAX),
            }
            .into());
        }
        let mut spilled_now = false;
        if self.inserter.is_none()
            && !self.arena.is_empty()
            && self.arena.estimate_build_memory(self.params.m, self.threads) + payload.len() > self.memory_limit
        {
            self.flush(rel, hooks)?;
            self.spilled_after = Some(self.heap_tuples);
            self.inserter = Some(Inserter::with_seed(self.metric.clone(), self.params.seed ^ 0xD15C));
            spilled_now = true;
        }
        self.heap_tuples += 1;
        match &mut self.inserter {
            Some(ins) => {
                ins.insert(rel, payload, heap_tid)?;
                self.progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            None => self.arena.push(payload, heap_tid),
        }
        Ok(spilled_now)
    }

    fn flush<R: RelationWrite>(&mut self, rel: &R, hooks: &mut dyn BuildHooks) -> Result<(), BuildError> {
        let arena = std::mem::take(&mut self.arena);
        if arena.is_empty() {
            init_empty(rel, &self.opts);
        } else {
            hooks.phase(BuildPhase::Graph { elements: arena.len() });
            let graph = build_graph_parallel_polling(
                &arena,
                &self.params,
                &self.metric,
                self.threads,
                self.cancel,
                self.progress,
                &mut || hooks.poll(),
            )?;
            hooks.phase(BuildPhase::Write);
            write_graph(rel, &arena, &graph, &self.opts)?;
        }
        rel.finish_bulk_write();
        Ok(())
    }

    /// Heap tuples added so far.
    pub fn heap_tuples(&self) -> u64 {
        self.heap_tuples
    }

    /// Builds and writes whatever is still in memory (or an empty index).
    pub fn finish<R: RelationWrite>(mut self, rel: &R, hooks: &mut dyn BuildHooks) -> Result<BuildStats, BuildError> {
        if self.inserter.is_none() {
            self.flush(rel, hooks)?;
        }
        Ok(BuildStats {
            heap_tuples: self.heap_tuples,
            spilled_after: self.spilled_after,
        })
    }
}
