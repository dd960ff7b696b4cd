//! `semvec-bench embed-throughput`: rows per second of semvec's in-database `embed()` on real texts
//! (Debian package descriptions), one call per row and batched with `embed_batch()`, at several
//! `semvec.embed_threads`, next to Python `onnxruntime` running the same model file on the same texts
//! (scripts/models/bench_python_ort.py). Both sides embed the same texts in the same order and the
//! same batches; the vectors of the first texts are compared to prove it is the same model.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use semvec_bench::datasets::{self, DatasetName};
use semvec_bench::exact::Metric;
use semvec_bench::pgvec::VectorValue;
use semvec_bench::report;

/// Texts whose vectors are compared between semvec and Python.
const CHECK_TEXTS: usize = 8;
/// Cosine both sides must reach on every compared text to count as the same model.
const MIN_COSINE: f64 = 0.999;
/// Seed of the fixed shuffle the Debian data set is split with (`datasets::embed_debian`).
const DEBIAN_SEED: u64 = 0x5eed;

pub struct Options {
    /// Texts to embed.
    pub count: usize,
    /// Texts per `embed_batch()` call; None = the server's `semvec.embed_batch_size`.
    pub batch: Option<usize>,
    /// `semvec.embed_threads` values (and Python intra-op threads).
    pub threads: Vec<usize>,
    /// Timed passes per measurement; the best counts.
    pub rounds: usize,
    /// Registered semvec model; None = the server's `semvec.default_model`.
    pub model: Option<String>,
    /// Python interpreter; None = skip the Python side.
    pub python: Option<String>,
    pub python_script: PathBuf,
    /// Markdown report (JSON next to it); None = `<cache>/results/embed-throughput-<n>-<time>.md`.
    pub out: Option<PathBuf>,
    pub cache: PathBuf,
    pub stamp: String,
    pub started: String,
    pub command: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `SELECT embed(body) FROM t`: one call (one inference) per row.
    PerCall,
    /// `embed_batch(array_agg(body))` over consecutive ids.
    Batched,
}

impl Mode {
    fn key(self) -> &'static str {
        match self {
            Mode::PerCall => "per_call",
            Mode::Batched => "batched",
        }
    }
}

/// One measurement: rows per wall-clock second and per CPU-second (server backend, or the Python
/// process, all threads included).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rate {
    pub rows_per_s: f64,
    pub rows_per_cpu_s: Option<f64>,
}

pub struct Row {
    pub mode: Mode,
    pub threads: usize,
    pub batch: usize,
    pub semvec: Rate,
    pub python: Option<Rate>,
}

/// The `count` texts of the benchmark: the first ones of the fixed shuffle the Debian data set is
/// split with (its 1000 queries first), so they span the whole archive, not one letter of it.
pub fn pick_texts(docs: &[datasets::Description], count: usize) -> Vec<String> {
    datasets::shuffled(docs.len(), DEBIAN_SEED)
        .into_iter()
        .take(count)
        .map(|i| docs[i].text.clone())
        .collect()
}

/// One JSON string per line, the format `bench_python_ort.py --texts` reads.
pub fn write_texts(path: &Path, texts: &[String]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?);
    for t in texts {
        writeln!(w, "{}", serde_json::to_string(t)?)?;
    }
    w.flush()?;
    Ok(())
}

/// Cosine similarity in double precision (the exact search's cosine distance, from 1); NaN for
/// vectors of different lengths or a zero vector.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    1.0 - Metric::Cosine.distance(a, b)
}

/// Smallest cosine between matching vectors of both lists (over the shorter one); None when empty.
pub fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> Option<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| cosine(x, y))
        .reduce(|m, c| if c < m || c.is_nan() { c } else { m })
}

/// CPU seconds (user + system, all threads) of a local process, from /proc; None when it is not
/// visible (a remote server).
fn process_cpu_seconds(pid: i32, ticks_per_s: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_s)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct Backend {
    pid: i32,
    ticks: f64,
}

impl Backend {
    fn cpu(&self) -> Option<f64> {
        process_cpu_seconds(self.pid, self.ticks)
    }
}

/// Best of `rounds` passes of `pass`, which returns the vectors of the first texts it embedded.
fn timed(rounds: usize, n: usize, backend: &Backend, mut pass: impl FnMut() -> Result<Vec<Vec<f32>>>) -> Result<(Rate, Vec<Vec<f32>>)> {
    let (mut best, mut best_cpu, mut kept) = (f64::INFINITY, None::<f64>, Vec::new());
    for _ in 0..rounds.max(1) {
        let c0 = backend.cpu();
        let t0 = Instant::now();
        kept = pass()?;
        let wall = t0.elapsed().as_secs_f64();
        best = best.min(wall);
        if let (Some(a), Some(b)) = (c0, backend.cpu()) {
            best_cpu = Some(best_cpu.map_or(b - a, |m: f64| m.min(b - a)));
        }
    }
    let per_cpu = best_cpu.filter(|&c| c > 0.0).map(|c| n as f64 / c);
    Ok((
        Rate {
            rows_per_s: n as f64 / best,
            rows_per_cpu_s: per_cpu,
        },
        kept,
    ))
}

struct ModelInfo {
    name: String,
    model_path: String,
    tokenizer_path: String,
    max_tokens: i32,
    model_sha256: String,
}

pub fn run(client: &mut postgres::Client, o: &Options) -> Result<()> {
    // The texts, and a copy for Python.
    datasets::prepare(&o.cache, DatasetName::Debian).ok(); // writes descriptions.tsv (vectors not needed)
    let tsv = datasets::dataset_dir(&o.cache, DatasetName::Debian).join("descriptions.tsv");
    if !tsv.exists() {
        datasets::prepare(&o.cache, DatasetName::Debian)?; // surfaces why the corpus is missing
    }
    let docs = datasets::read_descriptions(&tsv)?;
    if docs.len() < o.count {
        bail!(
            "only {} Debian descriptions in {}, asked for {}",
            docs.len(),
            tsv.display(),
            o.count
        );
    }
    let texts = pick_texts(&docs, o.count);
    let work = o.cache.join("embed-throughput");
    std::fs::create_dir_all(&work)?;
    let texts_file = work.join(format!("texts-{}.jsonl", texts.len()));
    write_texts(&texts_file, &texts)?;

    // The session: one backend, no parallel workers, the chosen model.
    // The vector cast loads semvec's library, which defines its settings (semvec.embed_batch_size ...).
    client.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS semvec; SELECT '[1]'::vector; SET max_parallel_workers_per_gather = 0; SET jit = off",
    )?;
    if let Some(m) = &o.model {
        client.execute("SELECT set_config('semvec.default_model', $1, false)", &[m])?;
    }
    let model_name: String = client
        .query_one(
            "SELECT coalesce(nullif(current_setting('semvec.default_model', true), ''), 'all-MiniLM-L6-v2')",
            &[],
        )?
        .get(0);
    let row = client
        .query_opt(
            "SELECT model_path, tokenizer_path, max_tokens, model_sha256 FROM semvec_model WHERE name = $1",
            &[&model_name],
        )?
        .with_context(|| format!("semvec has no model {model_name:?} registered (see SELECT * FROM semvec_model)"))?;
    let model = ModelInfo {
        name: model_name,
        model_path: row.get(0),
        tokenizer_path: row.get(1),
        max_tokens: row.get(2),
        model_sha256: row.get(3),
    };
    let batch = match o.batch {
        Some(b) => b,
        None => client
            .query_one("SELECT current_setting('semvec.embed_batch_size')::int", &[])?
            .get::<_, i32>(0) as usize,
    }
    .max(1);
    client.execute("SELECT set_config('semvec.embed_batch_size', $1, false)", &[&batch.to_string()])?;

    client.batch_execute(
        "DROP TABLE IF EXISTS bench_embed_texts; CREATE TEMP TABLE bench_embed_texts (id int4 PRIMARY KEY, body text NOT NULL)",
    )?;
    {
        let mut w = client.copy_in("COPY bench_embed_texts (id, body) FROM STDIN")?;
        for (i, t) in texts.iter().enumerate() {
            writeln!(w, "{i}\t{}", datasets::copy_text(t))?;
        }
        w.finish()?;
    }
    client.batch_execute("ANALYZE bench_embed_texts")?;
    // Tokens per text (count_tokens excludes the two special tokens the model is fed as well).
    let stats = client.query_one(
        "SELECT avg(count_tokens(body) + 2)::float8, max(count_tokens(body) + 2), \
                count(*) FILTER (WHERE count_tokens(body) + 2 > $1), avg(length(body))::float8 FROM bench_embed_texts",
        &[&model.max_tokens],
    )?;
    let (mean_tokens, max_tokens_seen, truncated, mean_chars): (f64, i32, i64, f64) =
        (stats.get(0), stats.get(1), stats.get(2), stats.get(3));
    eprintln!(
        "{} texts, {mean_chars:.0} characters and {mean_tokens:.1} model tokens on average (max {max_tokens_seen}, {truncated} truncated at {}); model {} ({})",
        texts.len(),
        model.max_tokens,
        model.name,
        model.model_path
    );

    let backend = Backend {
        pid: client.query_one("SELECT pg_backend_pid()", &[])?.get(0),
        ticks: clock_ticks(),
    };
    let per_call = client.prepare("SELECT embed(body) FROM bench_embed_texts ORDER BY id")?;
    let batched =
        client.prepare("SELECT unnest(embed_batch(array_agg(body ORDER BY id))) FROM bench_embed_texts WHERE id >= $1 AND id < $2")?;
    let n = texts.len();
    let keep = CHECK_TEXTS.min(n);

    let mut rows = Vec::new();
    let mut semvec_vectors: Vec<(Mode, usize, Vec<Vec<f32>>)> = Vec::new();
    for &t in &o.threads {
        // A new thread count reloads the model in the backend: warm up (load, first inferences) untimed.
        client.execute("SELECT set_config('semvec.embed_threads', $1, false)", &[&t.to_string()])?;
        client.query(&batched, &[&0i32, &(batch.min(n) as i32)])?;
        client.query("SELECT embed(body) FROM bench_embed_texts WHERE id = 0", &[])?;
        for mode in [Mode::PerCall, Mode::Batched] {
            let (rate, kept) = timed(o.rounds, n, &backend, || {
                let mut kept = Vec::with_capacity(keep);
                let mut take = |rows: Vec<postgres::Row>| {
                    for r in rows {
                        if kept.len() < keep {
                            kept.push(r.get::<_, VectorValue>(0).0);
                        }
                    }
                };
                match mode {
                    Mode::PerCall => take(client.query(&per_call, &[])?),
                    Mode::Batched => {
                        for start in (0..n).step_by(batch) {
                            take(client.query(&batched, &[&(start as i32), &((start + batch).min(n) as i32)])?);
                        }
                    }
                }
                Ok(kept)
            })?;
            eprintln!(
                "semvec {:8} threads={t} batch={:3}: {:7.1} rows/s",
                mode.key(),
                if mode == Mode::PerCall { 1 } else { batch },
                rate.rows_per_s
            );
            semvec_vectors.push((mode, t, kept));
            rows.push(Row {
                mode,
                threads: t,
                batch: if mode == Mode::PerCall { 1 } else { batch },
                semvec: rate,
                python: None,
            });
        }
    }
    client.batch_execute("DROP TABLE IF EXISTS bench_embed_texts")?;

    // Python onnxruntime, same model file, same texts, same batches.
    let mut python_error = None;
    let mut python_vectors: Vec<Vec<f32>> = Vec::new();
    let mut python_version = None;
    if let Some(py) = &o.python {
        for (i, row) in rows.iter_mut().enumerate() {
            let out = work.join(format!("python-{}-{}t.json", row.mode.key(), row.threads));
            let _ = std::fs::remove_file(&out);
            let mut cmd = Command::new(py);
            cmd.arg(&o.python_script)
                .args(["--model", &model.model_path, "--tokenizer", &model.tokenizer_path])
                .arg("--texts")
                .arg(&texts_file)
                .args(["--threads", &row.threads.to_string(), "--batch", &row.batch.to_string()])
                .args(["--max-tokens", &model.max_tokens.to_string(), "--rounds", &o.rounds.to_string()])
                .args(["--warmup", &batch.min(n).to_string()])
                .arg("--json")
                .arg(&out);
            if i == 0 {
                cmd.args(["--dump", &keep.to_string()]);
            }
            let failure = match cmd.status() {
                Ok(status) if status.success() => None,
                Ok(status) => Some(status.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failure {
                python_error = Some(format!(
                    "{py} {} failed ({why}); it needs numpy, onnxruntime and tokenizers (scripts/models/setup_models.sh installs them), or pass --skip-python",
                    o.python_script.display()
                ));
                break;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
            row.python = Some(Rate {
                rows_per_s: v["rows_per_s"].as_f64().context("rows_per_s in the Python result")?,
                rows_per_cpu_s: v["rows_per_cpu_s"].as_f64(),
            });
            python_version = v["onnxruntime"].as_str().map(String::from);
            if let Some(e) = v.get("embeddings").and_then(|e| e.as_array()) {
                python_vectors = e
                    .iter()
                    .map(|r| {
                        r.as_array()
                            .map(|x| x.iter().filter_map(|f| f.as_f64()).map(|f| f as f32).collect())
                    })
                    .collect::<Option<Vec<Vec<f32>>>>()
                    .context("embeddings in the Python result")?;
            }
        }
    }

    // Same model on both sides?
    let mut checks = Vec::new();
    let mut check_failed = false;
    for (mode, t, v) in &semvec_vectors {
        if let Some(c) = min_cosine(v, &python_vectors) {
            checks.push(json!({ "semvec_mode": mode.key(), "threads": t, "texts": v.len().min(python_vectors.len()), "min_cosine": c }));
            check_failed |= c.is_nan() || c < MIN_COSINE;
        }
    }
    let first_line = |s: &str| -> String {
        let l = s.lines().next().unwrap_or("");
        if l.chars().count() > 60 {
            format!("{}…", l.chars().take(60).collect::<String>())
        } else {
            l.to_string()
        }
    };
    let check_line = match (semvec_vectors.first(), python_vectors.first()) {
        (Some((_, _, sv)), Some(pv)) if !sv.is_empty() => {
            let overall = checks.iter().filter_map(|c| c["min_cosine"].as_f64()).fold(f64::INFINITY, f64::min);
            format!(
                "same model: cosine(semvec, python) of text 0 (\"{}\") = {:.6}; smallest over the first {} texts and every semvec mode/thread count = {:.6} ({})",
                first_line(&texts[0]),
                cosine(&sv[0], pv),
                keep.min(python_vectors.len()),
                overall,
                if check_failed { format!("BELOW {MIN_COSINE}: not the same model or not the same input") } else { format!("≥ {MIN_COSINE}: OK") }
            )
        }
        _ => "same model: not checked (no Python vectors)".into(),
    };

    // Report.
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    let mut lines = vec![
        format!("started: {}", o.started),
        format!("machine: {}", report::machine()),
        format!(
            "texts: {n} Debian package descriptions (bookworm main, the first {n} of the Debian data set's fixed shuffle; {}), {mean_chars:.0} characters and {mean_tokens:.1} tokens on average, max {max_tokens_seen}, {truncated} truncated at {} tokens",
            texts_file.display(),
            model.max_tokens
        ),
        format!("model: {} — {} (sha256 {}…), tokenizer {}", model.name, model.model_path, &model.model_sha256[..12.min(model.model_sha256.len())], model.tokenizer_path),
        format!(
            "semvec: one backend over a Unix socket/loopback, max_parallel_workers_per_gather = 0; per call = `SELECT embed(body) FROM t ORDER BY id` (one inference per row, vectors fetched in binary); batched = `SELECT unnest(embed_batch(array_agg(body ORDER BY id))) FROM t WHERE id >= $1 AND id < $2` per {batch} ids, semvec.embed_batch_size = {batch}; threads = semvec.embed_threads; warm-up (model load + one batch) untimed; CPU = the backend's user+system time (all its threads)"
        ),
        format!(
            "python: scripts/models/bench_python_ort.py, onnxruntime {} (CPU provider, intra-op threads = threads, inter-op 1, no spinning, like semvec), tokenizers on one thread, padding to the longest text of each batch, same model file and texts in the same order and batches; warm-up {} texts; CPU = the process's user+system time",
            python_version.as_deref().unwrap_or("?"),
            batch.min(n)
        ),
        format!("figures: best of {} timed passes over all {n} texts; load average at start: {load_average}", o.rounds),
    ];
    if let Ok(note) = std::env::var("SEMVEC_BENCH_NOTE") {
        lines.push(format!("note: {note}"));
    }
    let md = markdown(&o.command, &lines, &rows, &check_line, python_error.as_deref());
    println!("\n{md}");
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| o.cache.join("results").join(format!("embed-throughput-{n}-{}.md", o.stamp)));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &md)?;
    let rate_json = |r: &Rate| json!({ "rows_per_s": r.rows_per_s, "rows_per_cpu_s": r.rows_per_cpu_s });
    let doc = json!({
        "title": "semvec embed() throughput vs Python onnxruntime",
        "command": o.command,
        "lines": lines,
        "texts": n,
        "batch": batch,
        "rounds": o.rounds,
        "model": { "name": model.name, "path": model.model_path, "tokenizer": model.tokenizer_path, "sha256": model.model_sha256, "max_tokens": model.max_tokens },
        "mean_tokens": mean_tokens,
        "truncated": truncated,
        "rows": rows.iter().map(|r| json!({
            "mode": r.mode.key(),
            "threads": r.threads,
            "batch": r.batch,
            "semvec": rate_json(&r.semvec),
            "python": r.python.as_ref().map(rate_json),
            "ratio": r.python.map(|p| r.semvec.rows_per_s / p.rows_per_s),
        })).collect::<Vec<_>>(),
        "model_check": { "min_cosine_required": MIN_COSINE, "passed": !check_failed && !checks.is_empty(), "checks": checks },
        "python_error": python_error,
    });
    std::fs::write(out.with_extension("json"), serde_json::to_string_pretty(&doc)?)?;
    eprintln!("report written to {} (and .json)", out.display());
    if check_failed {
        bail!("semvec and Python do not produce the same vectors: {check_line}");
    }
    if let Some(e) = python_error {
        bail!("{e}");
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.1}"))
}

pub fn markdown(command: &str, lines: &[String], rows: &[Row], check: &str, python_error: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## semvec embed() throughput vs Python onnxruntime\n");
    let _ = writeln!(s, "`{command}`\n");
    for l in lines {
        let _ = writeln!(s, "- {l}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| mode | threads | semvec rows/s | python rows/s | semvec/python | semvec rows/CPU-s | python rows/CPU-s |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let mode = match r.mode {
            Mode::PerCall => "per call: `embed(body)`".to_string(),
            Mode::Batched => format!("batched: `embed_batch()` × {}", r.batch),
        };
        let ratio = r
            .python
            .map_or_else(|| "n/a".into(), |p| format!("{:.2}", r.semvec.rows_per_s / p.rows_per_s));
        let _ = writeln!(
            s,
            "| {mode} | {} | {:.1} | {} | {ratio} | {} | {} |",
            r.threads,
            r.semvec.rows_per_s,
            fmt_opt(r.python.map(|p| p.rows_per_s)),
            fmt_opt(r.semvec.rows_per_cpu_s),
            fmt_opt(r.python.and_then(|p| p.rows_per_cpu_s)),
        );
    }
    let _ = writeln!(s, "\n{check}");
    if let Some(e) = python_error {
        let _ = writeln!(s, "\npython: {e}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: usize) -> datasets::Description {
        datasets::Description {
            package: format!("p{i}"),
            text: format!("text {i}"),
        }
    }

    #[test]
    fn texts_are_the_head_of_the_debian_split_shuffle() {
        let docs: Vec<_> = (0..500).map(doc).collect();
        let texts = pick_texts(&docs, 20);
        let order = datasets::shuffled(500, DEBIAN_SEED);
        assert_eq!(texts, order[..20].iter().map(|&i| format!("text {i}")).collect::<Vec<_>>());
        assert_eq!(texts, pick_texts(&docs, 20), "deterministic");
    }

    #[test]
    fn texts_file_has_one_json_string_per_line_even_with_newlines() {
        let dir = std::env::temp_dir().join(format!("semvec-bench-texts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.jsonl");
        let texts = vec!["a\nb\tc \"q\" \\".to_string(), "zürich".to_string()];
        write_texts(&p, &texts).unwrap();
        let back: Vec<String> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, texts);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cosine_of_scaled_vectors_is_one_and_min_cosine_finds_the_worst_pair() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        let a = vec![vec![1.0, 0.0], vec![1.0, 0.0], vec![1.0, 1.0]];
        let b = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert!(min_cosine(&a, &b).unwrap().abs() < 1e-12, "only the two overlapping pairs count");
        assert_eq!(min_cosine(&a, &[]), None);
        assert!(
            min_cosine(&[vec![1.0]], &[vec![1.0, 2.0]]).unwrap().is_nan(),
            "length mismatch is never a pass"
        );
    }

    #[test]
    fn own_process_cpu_time_is_readable() {
        let pid = std::process::id() as i32;
        let c = process_cpu_seconds(pid, clock_ticks()).expect("own /proc stat");
        assert!(c >= 0.0);
        assert_eq!(process_cpu_seconds(-1, 100.0), None);
    }

    #[test]
    fn table_shows_ratio_and_na_without_python() {
        let rows = vec![
            Row {
                mode: Mode::PerCall,
                threads: 1,
                batch: 1,
                semvec: Rate {
                    rows_per_s: 150.0,
                    rows_per_cpu_s: Some(140.0),
                },
                python: Some(Rate {
                    rows_per_s: 100.0,
                    rows_per_cpu_s: None,
                }),
            },
            Row {
                mode: Mode::Batched,
                threads: 2,
                batch: 32,
                semvec: Rate {
                    rows_per_s: 300.0,
                    rows_per_cpu_s: None,
                },
                python: None,
            },
        ];
        let md = markdown("cmd", &["x".into()], &rows, "same model: ok", None);
        assert!(
            md.contains("| per call: `embed(body)` | 1 | 150.0 | 100.0 | 1.50 | 140.0 | n/a |"),
            "{md}"
        );
        assert!(
            md.contains("| batched: `embed_batch()` × 32 | 2 | 300.0 | n/a | n/a | n/a | n/a |"),
            "{md}"
        );
    }
}
