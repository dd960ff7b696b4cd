//! Runs the whole benchmark against one server: load, exact scan, HNSW build, search sweep on one and
//! two connections, single-row inserts. Every stage records its error instead of stopping the run, so a
//! system that lacks a feature shows `n/a` and the reason next to the other's figures.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use postgres::{Client, Config, NoTls, Statement};

use crate::datasets::{Dataset, K};
use crate::pgvec::VectorParam;

/// Where a system listens and which extension provides `vector` there.
#[derive(Clone, Debug)]
pub struct System {
    pub label: String,
    pub extension: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    /// More hnsw options for this system's index (`quantization = 'sq8'`).
    pub index_with: Option<String>,
    /// pgvector's way past its 2000 dimensions: index `embedding::halfvec(dims)` and re-rank that
    /// index's nearest rows by the full vectors.
    pub halfvec_rerank: Option<Rerank>,
}

/// How many of the halfvec index's nearest rows the re-rank query orders by the full vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rerank {
    /// All that the index returns: `hnsw.ef_search` rows.
    EfSearch,
    Rows(u32),
}

/// What every system is run with, so that both see the same work.
#[derive(Clone, Debug)]
pub struct Settings {
    pub maintenance_work_mem: String,
    pub parallel_workers: u32,
    pub m: u32,
    pub ef_construction: u32,
    pub ef_search: Vec<u32>,
    pub min_time: Duration,
    pub warmup_queries: usize,
    pub seqscan_queries: usize,
    pub synchronous_commit: bool,
}

/// Figures at one `hnsw.ef_search`.
#[derive(Clone, Debug, Default)]
pub struct EfPoint {
    pub ef: u32,
    pub recall: f64,
    pub qps1: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub qps2: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct SystemResult {
    pub label: String,
    pub server_version: Option<String>,
    pub ext_version: Option<String>,
    pub shared_buffers: Option<String>,
    pub load_secs: Option<f64>,
    pub table_bytes: Option<f64>,
    pub seq_qps: Option<f64>,
    pub seq_recall: Option<f64>,
    pub build_secs: Option<f64>,
    pub index_bytes: Option<f64>,
    pub wal_bytes: Option<f64>,
    pub sweep: Vec<EfPoint>,
    pub inserts_per_sec: Option<f64>,
    pub inserts: usize,
    pub notices: Vec<String>,
    pub errors: Vec<String>,
}

pub type Notices = Arc<Mutex<Vec<String>>>;

/// A connection to `dbname` on `sys`; server notices go to `notices` when given.
pub fn connect(sys: &System, dbname: &str, notices: Option<Notices>) -> Result<Client> {
    let mut cfg = Config::new();
    cfg.host(&sys.host)
        .port(sys.port)
        .user(&sys.user)
        .dbname(dbname)
        .application_name("semvec-bench");
    cfg.connect_timeout(Duration::from_secs(10));
    if let Some(n) = notices {
        cfg.notice_callback(move |e| n.lock().unwrap().push(format!("{}: {}", e.severity(), e.message())));
    }
    cfg.connect(NoTls)
        .with_context(|| format!("connect to {} at {}:{} database {dbname}", sys.label, sys.host, sys.port))
}

/// A connection to the benchmark database with the session settings every stage relies on.
fn session(sys: &System, settings: &Settings, notices: Option<Notices>) -> Result<Client> {
    let mut c = connect(sys, &sys.dbname, notices)?;
    c.batch_execute(&format!(
        "SET maintenance_work_mem = '{}'; SET max_parallel_maintenance_workers = {}; SET jit = off; \
         SET client_min_messages = notice",
        settings.maintenance_work_mem.replace('\'', ""),
        settings.parallel_workers
    ))?;
    Ok(c)
}

fn query_sql(data: &Dataset) -> String {
    format!("SELECT id FROM items ORDER BY embedding {} $1 LIMIT {K}", data.metric.operator())
}

/// The index's key: the column, or (`halfvec_rerank`) its half-precision copy.
pub fn index_key(sys: &System, data: &Dataset) -> String {
    match sys.halfvec_rerank {
        None => format!("embedding {}", data.metric.opclass("vector")),
        Some(_) => format!("(embedding::halfvec({})) {}", data.base.dim, data.metric.opclass("halfvec")),
    }
}

/// The search sweep's query at `ef_search`: `query_sql`, or the halfvec index's nearest rows re-ranked
/// by the full vectors, so that the final top 10 (what recall is computed on) is in full precision.
pub fn search_sql(sys: &System, data: &Dataset, ef_search: impl std::fmt::Display) -> String {
    let rows = match sys.halfvec_rerank {
        None => return query_sql(data),
        Some(Rerank::EfSearch) => ef_search.to_string(),
        Some(Rerank::Rows(n)) => n.to_string(),
    };
    let (op, half) = (data.metric.operator(), format!("halfvec({})", data.base.dim));
    // `$1::vector` first: the parameter stays a full-precision vector for the outer ORDER BY.
    format!(
        "SELECT id FROM (SELECT id, embedding FROM items ORDER BY embedding::{half} {op} $1::vector::{half} \
         LIMIT {rows}) candidates ORDER BY embedding {op} $1 LIMIT {K}"
    )
}

fn run_query(c: &mut Client, stmt: &Statement, q: &[f32]) -> Result<Vec<u32>> {
    Ok(c.query(stmt, &[&VectorParam(q)])?
        .iter()
        .map(|r| r.get::<_, i32>(0) as u32)
        .collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn run_system(sys: &System, settings: &Settings, data: &Dataset) -> SystemResult {
    let mut r = SystemResult {
        label: sys.label.clone(),
        ..Default::default()
    };
    let notices: Notices = Arc::default();
    eprintln!("== {} ({}:{})", sys.label, sys.host, sys.port);
    let mut c = match setup_and_load(sys, settings, data, &mut r, notices.clone()) {
        Ok(c) => c,
        Err(e) => {
            r.errors.push(format!("set-up/load: {e:#}"));
            return r;
        }
    };
    if let Err(e) = exact_scan(&mut c, settings, data, &mut r) {
        r.errors.push(format!("exact scan: {e:#}"));
    }
    notices.lock().unwrap().clear();
    let built = build_index(&mut c, sys, settings, data, &mut r);
    r.notices.extend(notices.lock().unwrap().drain(..));
    if let Err(e) = built {
        r.errors.push(format!("index build: {e:#}"));
        return r;
    }
    if let Err(e) = sweep(&mut c, sys, settings, data, &mut r) {
        r.errors.push(format!("search: {e:#}"));
    }
    if let Err(e) = inserts(&mut c, settings, data, &mut r) {
        r.errors.push(format!("inserts: {e:#}"));
    }
    r
}

fn setup_and_load(sys: &System, settings: &Settings, data: &Dataset, r: &mut SystemResult, notices: Notices) -> Result<Client> {
    let mut admin = connect(sys, "postgres", None)?;
    if admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&sys.dbname])?
        .is_none()
    {
        admin.batch_execute(&format!("CREATE DATABASE \"{}\"", sys.dbname.replace('"', "")))?;
    }
    r.server_version = Some(admin.query_one("SHOW server_version", &[])?.get(0));
    r.shared_buffers = Some(admin.query_one("SHOW shared_buffers", &[])?.get(0));
    drop(admin);

    let mut c = session(sys, settings, Some(notices))?;
    c.batch_execute(&format!(
        "SET client_min_messages = warning; DROP TABLE IF EXISTS items; DROP EXTENSION IF EXISTS {ext} CASCADE; \
         CREATE EXTENSION {ext}; SET client_min_messages = notice",
        ext = sys.extension
    ))?;
    r.ext_version = c
        .query_opt("SELECT extversion FROM pg_extension WHERE extname = $1", &[&sys.extension])?
        .map(|row| row.get(0));
    c.batch_execute(&format!(
        "CREATE TABLE items (id int4 NOT NULL, embedding vector({}))",
        data.base.dim
    ))?;

    let stream = crate::vecio::copy_binary(0, &data.base);
    let t0 = Instant::now();
    let mut w = c.copy_in("COPY items (id, embedding) FROM STDIN (FORMAT binary)")?;
    // In pieces: one write is one CopyData message, and the server refuses messages over 1 GB
    // (1M x 384-d is 1.6 GB).
    for piece in stream.chunks(1 << 20) {
        std::io::Write::write_all(&mut w, piece)?;
    }
    let rows = w.finish()?;
    r.load_secs = Some(t0.elapsed().as_secs_f64());
    if rows as usize != data.base.len() {
        bail!("COPY loaded {rows} rows of {}", data.base.len());
    }
    // Set hint bits and statistics now, so that neither the build nor the scans pay for them.
    c.batch_execute("VACUUM ANALYZE items")?;
    r.table_bytes = Some(c.query_one("SELECT pg_total_relation_size('items')::float8", &[])?.get(0));
    eprintln!("  loaded {} rows in {:.2} s", rows, r.load_secs.unwrap());
    Ok(c)
}

fn exact_scan(c: &mut Client, settings: &Settings, data: &Dataset, r: &mut SystemResult) -> Result<()> {
    let n = settings.seqscan_queries.min(data.queries.len());
    if n == 0 {
        return Ok(());
    }
    c.batch_execute("SET enable_indexscan = off; SET max_parallel_workers_per_gather = 0")?;
    let stmt = c.prepare(&query_sql(data))?;
    run_query(c, &stmt, data.queries.row(0))?; // warm the cache
    let mut recall = 0.0;
    let t0 = Instant::now();
    for i in 0..n {
        let q = data.queries.row(i);
        let ids = run_query(c, &stmt, q)?;
        recall += crate::exact::recall(&data.base, q, &data.truth[i], &ids, data.metric);
    }
    r.seq_qps = Some(n as f64 / t0.elapsed().as_secs_f64());
    r.seq_recall = Some(recall / n as f64);
    c.batch_execute("RESET enable_indexscan; RESET max_parallel_workers_per_gather")?;
    eprintln!("  exact scan: {:.2} QPS, recall {:.4}", r.seq_qps.unwrap(), r.seq_recall.unwrap());
    Ok(())
}

fn build_index(c: &mut Client, sys: &System, settings: &Settings, data: &Dataset, r: &mut SystemResult) -> Result<()> {
    c.batch_execute("CHECKPOINT")?;
    let lsn: String = c.query_one("SELECT pg_current_wal_lsn()::text", &[])?.get(0);
    let sql = format!(
        "CREATE INDEX items_embedding_idx ON items USING hnsw ({}) WITH (m = {}, ef_construction = {}{})",
        index_key(sys, data),
        settings.m,
        settings.ef_construction,
        sys.index_with.as_ref().map(|w| format!(", {w}")).unwrap_or_default()
    );
    let t0 = Instant::now();
    c.batch_execute(&sql)?;
    r.build_secs = Some(t0.elapsed().as_secs_f64());
    r.wal_bytes = Some(
        c.query_one("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8", &[&lsn])?
            .get(0),
    );
    r.index_bytes = Some(c.query_one("SELECT pg_relation_size('items_embedding_idx')::float8", &[])?.get(0));
    eprintln!(
        "  build: {:.2} s, index {:.1} MB, WAL {:.1} MB",
        r.build_secs.unwrap(),
        r.index_bytes.unwrap() / 1e6,
        r.wal_bytes.unwrap() / 1e6
    );
    Ok(())
}

/// Sets a connection up for searching at `ef_search` and prepares the query. Sequential scans are off:
/// on a small table, or with a large ef_search, the planner would rather sort the whole table.
fn prepare_search(c: &mut Client, sys: &System, data: &Dataset, ef: u32) -> Result<Statement> {
    c.batch_execute(&format!("SET hnsw.ef_search = {ef}; SET enable_seqscan = off"))?;
    Ok(c.prepare(&search_sql(sys, data, ef))?)
}

fn sweep(c: &mut Client, sys: &System, settings: &Settings, data: &Dataset, r: &mut SystemResult) -> Result<()> {
    let nq = data.queries.len();
    for &ef in &settings.ef_search {
        let stmt = prepare_search(c, sys, data, ef)?;
        let plan: Vec<String> = c
            .query(
                format!("EXPLAIN (COSTS OFF) {}", search_sql(sys, data, ef)).as_str(),
                &[&VectorParam(data.queries.row(0))],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if !plan.iter().any(|l| l.contains("items_embedding_idx")) {
            bail!("the planner does not use the hnsw index at ef_search {ef}: {}", plan.join(" / "));
        }
        for i in 0..settings.warmup_queries.min(nq) {
            run_query(c, &stmt, data.queries.row(i))?;
        }
        let mut lat = Vec::with_capacity(nq);
        let mut stamps = Vec::with_capacity(nq);
        let mut recall = 0.0;
        let t0 = Instant::now();
        let mut pass = 0;
        while pass == 0 || t0.elapsed() < settings.min_time {
            for i in 0..nq {
                let q = data.queries.row(i);
                let t = Instant::now();
                let ids = run_query(c, &stmt, q)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                stamps.push(t0.elapsed().as_secs_f64());
                if pass == 0 {
                    recall += crate::exact::recall(&data.base, q, &data.truth[i], &ids, data.metric);
                }
            }
            pass += 1;
        }
        let elapsed = t0.elapsed().as_secs_f64();
        lat.sort_by(|a, b| a.total_cmp(b));
        let mut p = EfPoint {
            ef,
            recall: recall / nq as f64,
            qps1: windowed_qps(&stamps, elapsed, window(settings)),
            p50_ms: percentile(&lat, 50.0),
            p99_ms: percentile(&lat, 99.0),
            qps2: None,
        };
        match two_connections(sys, settings, data, ef) {
            Ok(q) => p.qps2 = Some(q),
            Err(e) => r.errors.push(format!("search on 2 connections, ef_search {ef}: {e:#}")),
        }
        eprintln!(
            "  ef_search {:>4}: recall {:.4}  QPS {:>8.1}  p50 {:.3} ms  p99 {:.3} ms  QPS(2 conn) {}",
            ef,
            p.recall,
            p.qps1,
            p.p50_ms,
            p.p99_ms,
            p.qps2.map_or("n/a".into(), |q| format!("{q:.1}"))
        );
        r.sweep.push(p);
    }
    c.batch_execute("RESET hnsw.ef_search; RESET enable_seqscan")?;
    Ok(())
}

/// QPS of two connections on two threads, each running every other query in a loop for `min_time`.
fn two_connections(sys: &System, settings: &Settings, data: &Dataset, ef: u32) -> Result<f64> {
    const THREADS: usize = 2;
    let barrier = Barrier::new(THREADS);
    let results: Vec<Result<(Instant, Vec<Instant>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<(Instant, Vec<Instant>)> {
                    let prepared = (|| -> Result<(Client, Statement)> {
                        let mut c = session(sys, settings, None)?;
                        let stmt = prepare_search(&mut c, sys, data, ef)?;
                        for i in (t..data.queries.len()).step_by(THREADS).take(settings.warmup_queries / THREADS + 1) {
                            run_query(&mut c, &stmt, data.queries.row(i))?;
                        }
                        Ok((c, stmt))
                    })();
                    barrier.wait(); // both start together, even when one failed to connect
                    let (mut c, stmt) = prepared?;
                    let mine: Vec<usize> = (t..data.queries.len()).step_by(THREADS).collect();
                    let t0 = Instant::now();
                    let mut done = Vec::new();
                    'outer: loop {
                        for &i in &mine {
                            run_query(&mut c, &stmt, data.queries.row(i))?;
                            done.push(Instant::now());
                            if t0.elapsed() >= settings.min_time && done.len() >= mine.len() {
                                break 'outer;
                            }
                        }
                    }
                    Ok((t0, done))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("thread panicked"))))
            .collect()
    });
    let mut runs = Vec::new();
    for r in results {
        runs.push(r?);
    }
    // Only the span in which every connection was running counts.
    let start = runs.iter().map(|(t0, _)| *t0).max().unwrap();
    let end = runs.iter().map(|(_, d)| *d.last().unwrap()).min().unwrap();
    let stamps: Vec<f64> = runs
        .iter()
        .flat_map(|(_, d)| d.iter())
        .filter(|&&t| t > start && t <= end)
        .map(|&t| (t - start).as_secs_f64())
        .collect();
    Ok(windowed_qps(&stamps, (end - start).as_secs_f64(), window(settings)))
}

fn window(settings: &Settings) -> f64 {
    settings.min_time.as_secs_f64() / WINDOWS as f64
}

/// Throughput windows per measurement: enough for a median that shrugs off a burst of other work.
const WINDOWS: usize = 10;

/// Queries per second as the median over fixed windows of the completion times (seconds since the
/// start), so that a few windows slowed by other work on the machine do not move the figure; with
/// fewer than three whole windows, the plain average.
pub fn windowed_qps(stamps: &[f64], span: f64, window: f64) -> f64 {
    let n = if window > 0.0 { (span / window).floor() as usize } else { 0 };
    if n < 3 {
        return stamps.len() as f64 / span;
    }
    let mut counts = vec![0usize; n];
    for &t in stamps {
        let w = (t / window) as usize;
        if w < n {
            counts[w] += 1;
        }
    }
    counts.sort_unstable();
    let median = if n % 2 == 1 {
        counts[n / 2] as f64
    } else {
        (counts[n / 2 - 1] + counts[n / 2]) as f64 / 2.0
    };
    median / window
}

fn inserts(c: &mut Client, settings: &Settings, data: &Dataset, r: &mut SystemResult) -> Result<()> {
    let n = data.inserts.len();
    if n == 0 {
        return Ok(());
    }
    if !settings.synchronous_commit {
        // Each insert is its own transaction; without this the commit's WAL flush (the disk) dominates.
        c.batch_execute("SET synchronous_commit = off")?;
    }
    let stmt = c.prepare("INSERT INTO items (id, embedding) VALUES ($1, $2)")?;
    let first = data.base.len() as i32;
    let t0 = Instant::now();
    for (i, row) in data.inserts.rows().enumerate() {
        c.execute(&stmt, &[&(first + i as i32), &VectorParam(row)])?;
    }
    r.inserts_per_sec = Some(n as f64 / t0.elapsed().as_secs_f64());
    r.inserts = n;
    c.batch_execute("RESET synchronous_commit")?;
    eprintln!("  inserts: {n} rows at {:.1} rows/s", r.inserts_per_sec.unwrap());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::DatasetName;
    use crate::exact::Metric;
    use crate::vecio::Vectors;

    #[test]
    fn halfvec_rerank_indexes_the_datasets_dims_and_metric_and_orders_the_final_ten_in_full_precision() {
        let data = |metric, dim| Dataset {
            name: DatasetName::FashionMnist,
            metric,
            base: Vectors::new(dim),
            queries: Vectors::new(dim),
            inserts: Vectors::new(dim),
            truth: Vec::new(),
        };
        let sys = |halfvec_rerank| System {
            label: "pgvector-halfvec".into(),
            extension: "vector".into(),
            host: "/tmp".into(),
            port: 28818,
            user: "postgres".into(),
            dbname: "bench".into(),
            index_with: None,
            halfvec_rerank,
        };
        let l2 = data(Metric::L2, 784);
        assert_eq!(index_key(&sys(None), &l2), "embedding vector_l2_ops");
        assert_eq!(search_sql(&sys(None), &l2, 40), query_sql(&l2));
        assert_eq!(
            index_key(&sys(Some(Rerank::Rows(20))), &l2),
            "(embedding::halfvec(784)) halfvec_l2_ops"
        );
        assert_eq!(
            search_sql(&sys(Some(Rerank::Rows(20))), &l2, 40),
            "SELECT id FROM (SELECT id, embedding FROM items ORDER BY embedding::halfvec(784) <-> $1::vector::halfvec(784) \
             LIMIT 20) candidates ORDER BY embedding <-> $1 LIMIT 10"
        );
        let cosine = data(Metric::Cosine, 3072);
        assert_eq!(
            index_key(&sys(Some(Rerank::EfSearch)), &cosine),
            "(embedding::halfvec(3072)) halfvec_cosine_ops"
        );
        assert!(search_sql(&sys(Some(Rerank::EfSearch)), &cosine, 160)
            .contains("<=> $1::vector::halfvec(3072) LIMIT 160) candidates ORDER BY embedding <=> $1 LIMIT 10"));
    }

    #[test]
    fn windowed_qps_ignores_a_slow_window() {
        // 100 queries a second for 10 s, except second 4, when other work let only 10 through.
        let mut stamps = Vec::new();
        for w in 0..10 {
            let n = if w == 4 { 10 } else { 100 };
            stamps.extend((0..n).map(|i| w as f64 + (i as f64 + 0.5) / n as f64));
        }
        assert_eq!(windowed_qps(&stamps, 10.0, 1.0), 100.0);
        assert!((stamps.len() as f64 / 10.0 - 91.0).abs() < 1e-9, "the plain average would say 91");
        // too short for windows: the average
        assert_eq!(windowed_qps(&stamps[..150], 2.0, 1.0), 75.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
