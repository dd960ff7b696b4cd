//! The client side of `benches/bm25.sh` (issue 14): top-10 latency of one ranking statement over the
//! query set on one and more connections (`bm25-latency`), result-list comparison (`bm25-compare`)
//! and single-row insert throughput (`bm25-insert`).

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use postgres::types::{ToSql, Type};
use postgres::{Client, Row, Statement};

/// One line of `queries.tsv`: `qid<TAB>kind<TAB>package<TAB>text`.
#[derive(Clone, Debug)]
pub struct Query {
    pub qid: i64,
    pub kind: String,
    pub package: String,
    pub text: String,
}

pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        let mut it = line.splitn(4, '\t');
        let (Some(q), Some(k), Some(p), Some(t)) = (it.next(), it.next(), it.next(), it.next()) else {
            bail!("{}: bad line {line:?}", path.display());
        };
        out.push(Query {
            qid: q.parse()?,
            kind: k.into(),
            package: p.into(),
            text: t.into(),
        });
    }
    Ok(out)
}

/// One ranked row: (id, score).
pub type Ranked = Vec<(i64, f64)>;

fn id_of(row: &Row) -> Result<i64> {
    if let Ok(v) = row.try_get::<_, i64>(0) {
        return Ok(v);
    }
    Ok(row.try_get::<_, i32>(0).context("column 1 must be the id (bigint or integer)")? as i64)
}

fn score_of(row: &Row) -> Result<f64> {
    if row.len() < 2 {
        return Ok(f64::NAN);
    }
    if let Ok(v) = row.try_get::<_, f64>(1) {
        return Ok(v);
    }
    Ok(row.try_get::<_, f32>(1).context("column 2 must be the score (float8 or real)")? as f64)
}

/// Runs the prepared ranking statement for one query. Parameters are bound by type: text ones get
/// the query text, integer ones the query id (e.g. to look up a precomputed query vector).
fn run_one(client: &mut Client, stmt: &Statement, q: &Query) -> Result<Ranked> {
    let qid32 = q.qid as i32;
    let params: Vec<&(dyn ToSql + Sync)> = stmt
        .params()
        .iter()
        .map(|t| -> Result<&(dyn ToSql + Sync)> {
            Ok(match *t {
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => &q.text,
                Type::INT8 => &q.qid,
                Type::INT4 => &qid32,
                ref other => bail!("statement parameter of type {other}: only text (query) and integer (query id)"),
            })
        })
        .collect::<Result<_>>()?;
    let rows = client.query(stmt, &params)?;
    rows.iter().map(|r| Ok((id_of(r)?, score_of(r)?))).collect()
}

pub struct LatencyOptions {
    pub label: String,
    pub sql: String,
    pub setup: Vec<String>,
    pub connections: Vec<usize>,
    pub limit: Option<usize>,
    pub passes: usize,
    pub warmup: bool,
    pub results: Option<std::path::PathBuf>,
    pub json: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Latency {
    pub connections: usize,
    pub queries: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
    pub qps: f64,
    pub mean_rows: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn session(connect: &(dyn Fn() -> Result<Client> + Sync), opts: &LatencyOptions) -> Result<(Client, Statement)> {
    let mut c = connect()?;
    for s in &opts.setup {
        c.batch_execute(s).with_context(|| format!("setup `{s}`"))?;
    }
    let stmt = c.prepare(&opts.sql).with_context(|| format!("prepare `{}`", opts.sql))?;
    Ok((c, stmt))
}

/// Warm-up pass (results recorded) then timed passes per connection count.
pub fn latency(connect: &(dyn Fn() -> Result<Client> + Sync), queries: &[Query], opts: &LatencyOptions) -> Result<Vec<Latency>> {
    let queries = &queries[..opts.limit.unwrap_or(queries.len()).min(queries.len())];
    if queries.is_empty() {
        bail!("no queries");
    }
    if opts.warmup || opts.results.is_some() {
        let (mut c, stmt) = session(connect, opts)?;
        let mut out = opts
            .results
            .as_ref()
            .map(|p| std::fs::File::create(p).map(BufWriter::new))
            .transpose()?;
        for q in queries {
            let r = run_one(&mut c, &stmt, q).with_context(|| format!("query {} {:?}", q.qid, q.text))?;
            if let Some(w) = out.as_mut() {
                for (rank, (id, score)) in r.iter().enumerate() {
                    writeln!(w, "{}\t{}\t{id}\t{score:e}", q.qid, rank + 1)?;
                }
            }
        }
        if let Some(mut w) = out {
            w.flush()?;
        }
    }
    let mut res = Vec::new();
    for &nc in &opts.connections {
        let sessions: Vec<(Client, Statement)> = (0..nc).map(|_| session(connect, opts)).collect::<Result<_>>()?;
        let total = queries.len() * opts.passes.max(1);
        let barrier = Arc::new(Barrier::new(nc + 1));
        let mut handles = Vec::new();
        for (j, (mut c, stmt)) in sessions.into_iter().enumerate() {
            let b = barrier.clone();
            let qs: Vec<Query> = (0..total / nc + usize::from(j < total % nc))
                .map(|k| queries[(j * queries.len() / nc + k) % queries.len()].clone())
                .collect();
            handles.push(std::thread::spawn(move || -> Result<(Vec<f64>, usize)> {
                b.wait();
                let mut lat = Vec::with_capacity(qs.len());
                let mut rows = 0;
                for q in &qs {
                    let t = Instant::now();
                    rows += run_one(&mut c, &stmt, q)?.len();
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok((lat, rows))
            }));
        }
        barrier.wait();
        let t0 = Instant::now();
        let mut all = Vec::new();
        let mut rows = 0;
        for h in handles {
            let (l, r) = h.join().map_err(|_| anyhow::anyhow!("client thread panicked"))??;
            all.extend(l);
            rows += r;
        }
        let wall = t0.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        res.push(Latency {
            connections: nc,
            queries: all.len(),
            p50_ms: percentile(&all, 0.5),
            p95_ms: percentile(&all, 0.95),
            mean_ms: all.iter().sum::<f64>() / all.len() as f64,
            qps: all.len() as f64 / wall,
            mean_rows: rows as f64 / all.len() as f64,
        });
    }
    if let Some(p) = &opts.json {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
        for l in &res {
            writeln!(
                f,
                "{}",
                serde_json::json!({
                    "label": opts.label, "connections": l.connections, "queries": l.queries,
                    "p50_ms": l.p50_ms, "p95_ms": l.p95_ms, "mean_ms": l.mean_ms, "qps": l.qps,
                    "mean_rows": l.mean_rows, "sql": opts.sql, "setup": opts.setup,
                })
            )?;
        }
    }
    Ok(res)
}

pub fn read_results(path: &Path) -> Result<std::collections::BTreeMap<i64, Ranked>> {
    let mut out: std::collections::BTreeMap<i64, Ranked> = Default::default();
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        let v: Vec<&str> = line.split('\t').collect();
        if v.len() != 4 {
            bail!("{}: bad line {line:?}", path.display());
        }
        out.entry(v[0].parse()?).or_default().push((v[2].parse()?, v[3].parse()?));
    }
    Ok(out)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// Compares two result files query by query. `exact_ids`: ids must match rank by rank (both sides
/// order ties the same way); otherwise ids are compared as sets within each group of tied scores,
/// except the last group when the list is full (ties cut by the limit may differ legitimately).
/// Returns (queries compared, mismatching queries, descriptions of the first mismatches).
pub fn compare(
    a: &std::collections::BTreeMap<i64, Ranked>,
    b: &std::collections::BTreeMap<i64, Ranked>,
    rel: f64,
    exact_ids: bool,
    k: usize,
) -> (usize, usize, Vec<String>) {
    let mut n = 0;
    let mut bad = 0;
    let mut notes = Vec::new();
    let empty = Vec::new();
    let qids: std::collections::BTreeSet<i64> = a.keys().chain(b.keys()).copied().collect();
    for q in qids {
        n += 1;
        let ra = a.get(&q).unwrap_or(&empty);
        let rb = b.get(&q).unwrap_or(&empty);
        let why = diff(ra, rb, rel, exact_ids, k);
        if let Some(w) = why {
            bad += 1;
            if notes.len() < 10 {
                notes.push(format!("query {q}: {w}"));
            }
        }
    }
    (n, bad, notes)
}

fn diff(a: &Ranked, b: &Ranked, rel: f64, exact_ids: bool, k: usize) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} rows against {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if !close(x.1, y.1, rel) {
            return Some(format!(
                "rank {}: score {:e} (id {}) against {:e} (id {})",
                i + 1,
                x.1,
                x.0,
                y.1,
                y.0
            ));
        }
        if exact_ids && x.0 != y.0 {
            return Some(format!("rank {}: id {} against {} (score {:e})", i + 1, x.0, y.0, x.1));
        }
    }
    if !exact_ids {
        let mut i = 0;
        while i < a.len() {
            let mut j = i + 1;
            while j < a.len() && close(a[j].1, a[i].1, rel) {
                j += 1;
            }
            let cut = j == a.len() && a.len() >= k;
            if !cut {
                let mut sa: Vec<i64> = a[i..j].iter().map(|r| r.0).collect();
                let mut sb: Vec<i64> = b[i..j].iter().map(|r| r.0).collect();
                sa.sort_unstable();
                sb.sort_unstable();
                if sa != sb {
                    return Some(format!("ranks {}..{}: ids {sa:?} against {sb:?}", i + 1, j));
                }
            }
            i = j;
        }
    }
    None
}

/// Single-row autocommit inserts from a COPY text file `id<TAB>body` through `sql` ($1 bigint id,
/// $2 text body); returns (rows, seconds).
pub fn insert(client: &mut Client, file: &Path, sql: &str, setup: &[String]) -> Result<(usize, f64)> {
    for s in setup {
        client.batch_execute(s)?;
    }
    let stmt = client.prepare_typed(sql, &[Type::INT8, Type::TEXT])?;
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let mut rows = Vec::new();
    for line in text.lines() {
        let (id, body) = line.split_once('\t').context("insert file line without a tab")?;
        rows.push((id.parse::<i64>()?, unescape_copy(body)));
    }
    let t = Instant::now();
    for (id, body) in &rows {
        client.execute(&stmt, &[id, body])?;
    }
    Ok((rows.len(), t.elapsed().as_secs_f64()))
}

/// The inverse of `datasets::copy_text`.
pub fn unescape_copy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tie_aware_comparison() {
        let a: Ranked = vec![(1, 3.0), (2, 2.0), (3, 2.0), (4, 1.0)];
        let b: Ranked = vec![(1, 3.0), (3, 2.0), (2, 2.0), (4, 1.0)];
        assert!(diff(&a, &b, 1e-9, false, 10).is_none());
        assert!(diff(&a, &b, 1e-9, true, 10).is_some());
        let c: Ranked = vec![(1, 3.0), (2, 2.0), (3, 2.0), (5, 1.0)];
        assert!(diff(&a, &c, 1e-9, false, 10).is_some());
        // the last tie group of a full list may hold other ids
        assert!(diff(&a, &c, 1e-9, false, 4).is_none());
        let d: Ranked = vec![(1, 3.0 * (1.0 + 1e-12)), (2, 2.0), (3, 2.0), (4, 1.0)];
        assert!(diff(&a, &d, 1e-9, true, 10).is_none());
    }

    #[test]
    fn copy_text_round_trips() {
        let s = "a\\b\tc\nd";
        assert_eq!(unescape_copy(&crate::datasets::copy_text(s)), s);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=200).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 0.5), 100.0);
        assert_eq!(percentile(&v, 0.95), 190.0);
    }
}
