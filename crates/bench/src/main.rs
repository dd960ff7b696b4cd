use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use semvec_bench::datasets::{self, DatasetName};
use semvec_bench::report::{self, Header};
use semvec_bench::runner::{self, Rerank, Settings, System};
use semvec_bench::{bm25bench, bm25corpus};

mod embed_bench;

/// Side-by-side benchmark of semvec and pgvector on real data (loopback only).
#[derive(Parser)]
#[command(name = "semvec-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare a data set's cache files (vectors, binary COPY stream, ground truth).
    Prepare {
        #[arg(long, value_enum, default_value = "fashion-mnist")]
        dataset: DatasetName,
        #[command(flatten)]
        common: Common,
    },
    /// Embed the Debian package descriptions with semvec's embed() and cache them as a data set.
    EmbedDebian {
        /// SQL expression over the text column `body` that yields a vector.
        #[arg(long, default_value = "embed(body)")]
        embed_sql: String,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Rows/s of semvec's embed() (one call per row) and embed_batch() on Debian package descriptions,
    /// per semvec.embed_threads, against Python onnxruntime running the same model on the same texts.
    EmbedThroughput {
        /// Texts to embed (the first ones of the Debian data set's fixed shuffle).
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Texts per embed_batch() call (default: the server's semvec.embed_batch_size, 32).
        #[arg(long)]
        batch: Option<usize>,
        /// semvec.embed_threads values, also Python's intra-op threads.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Timed passes over all texts per figure (the best counts), on both sides.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Registered semvec model (default: the server's semvec.default_model).
        #[arg(long)]
        model: Option<String>,
        /// Python interpreter with numpy, onnxruntime and tokenizers.
        #[arg(long, env = "PYTHON", default_value = "python3")]
        python: String,
        /// Measure semvec only.
        #[arg(long)]
        skip_python: bool,
        /// Also write the markdown report here (default: <cache>/results/embed-throughput-<count>-<time>.md).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// BM25 benchmark corpora grown from the Debian descriptions (issue 14): corpus-<N>.copy,
    /// inserts-<N>.copy, sources.copy, queries.tsv and stats.md under <cache>/bm25 (benches/bm25.md).
    Bm25Corpus {
        /// Corpus sizes (documents); each is a prefix of one deterministic stream.
        #[arg(long, value_delimiter = ',', default_value = "64000,256000,1000000")]
        docs: Vec<usize>,
        /// Documents per insert set (the stream's next ones after each size).
        #[arg(long, default_value_t = 20000)]
        inserts: usize,
        /// Queries (real synopses, half of held-out packages).
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Regenerate even when the cache matches.
        #[arg(long)]
        force: bool,
        /// Print only the directory (for scripts).
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The Debian data set's embeddings (from embed-debian) per description, as the binary COPY file
    /// <cache>/bm25/source-vectors.copy `(id int4, embedding vector)`; prints its path, or nothing
    /// when the data set is not embedded.
    Bm25Vectors {
        #[command(flatten)]
        common: Common,
    },
    /// Top-k latency of one ranking statement ($1 = query text, an integer parameter = query id)
    /// over queries.tsv: a warm-up pass (results optionally written), then timed passes per
    /// connection count; prints markdown rows `| label | connections | queries | p50 | p95 | mean | QPS |`.
    Bm25Latency {
        #[arg(long)]
        queries: PathBuf,
        #[arg(long)]
        sql: String,
        #[arg(long, default_value = "")]
        label: String,
        /// Statements run on every connection first (repeatable).
        #[arg(long)]
        setup: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        connections: Vec<usize>,
        /// Use the first N queries only.
        #[arg(long)]
        limit: Option<usize>,
        /// Timed passes over the queries (split across the connections).
        #[arg(long, default_value_t = 1)]
        passes: usize,
        /// Skip the untimed warm-up pass.
        #[arg(long)]
        no_warmup: bool,
        /// Write the warm-up pass's results (qid, rank, id, score) here.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Append one JSON line per connection count here.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Compares two result files of bm25-latency: ids and scores (relative tolerance) per rank.
    Bm25Compare {
        a: PathBuf,
        b: PathBuf,
        #[arg(long, default_value_t = 1e-9)]
        rel: f64,
        /// Compare ids as sets within groups of tied scores (for orderings that break ties differently).
        #[arg(long)]
        ties: bool,
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
    /// Single-row autocommit inserts from a COPY text file (id, body) through --sql ($1 id, $2 body).
    Bm25Insert {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "INSERT INTO docs (id, body) VALUES ($1, $2)")]
        sql: String,
        #[arg(long)]
        setup: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Cache folder (default: <checkout>/.cache/bench).
    #[arg(long, env = "SEMVEC_BENCH_CACHE")]
    cache: Option<PathBuf>,
    /// Unix socket folder (or 127.0.0.1) of both servers.
    #[arg(long, default_value = "/tmp")]
    host: String,
    #[arg(long, default_value = "postgres")]
    user: String,
    #[arg(long, default_value = "bench")]
    dbname: String,
    #[arg(long, default_value_t = 28815)]
    semvec_port: u16,
    #[arg(long, default_value_t = 28818)]
    pgvector_port: u16,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Small run (10k base rows, 200 queries, 1 s per ef_search): about a minute per system on 2 cores.
    #[arg(long)]
    quick: bool,
    #[arg(long, value_enum, default_value = "fashion-mnist")]
    dataset: DatasetName,
    /// Systems to run, in table order: semvec, semvec-sq8, semvec-sq4, pgvector, pgvector-halfvec,
    /// pgvector-halfvec-N (benches/README.md).
    #[arg(long, value_delimiter = ',', default_value = "semvec,pgvector")]
    systems: Vec<String>,
    /// Base rows (default 60000, quick 10000).
    #[arg(long)]
    base: Option<usize>,
    /// Queries (default 1000, quick 200).
    #[arg(long)]
    queries: Option<usize>,
    /// Single-row inserts after the build (default 5000).
    #[arg(long)]
    inserts: Option<usize>,
    /// Queries for the exact (sequential scan) figure (default 20, quick 10).
    #[arg(long)]
    seqscan_queries: Option<usize>,
    /// The `hnsw.ef_search` sweep (15 and 30 put a point near recall 0.95 and 0.98 on 384-d embeddings, so
    /// the matched-recall figures interpolate over a short span).
    #[arg(long, value_delimiter = ',', default_value = "10,15,20,30,40,80,160")]
    ef_search: Vec<u32>,
    /// Minimum seconds of querying per ef_search value and connection count (default 3, quick 1).
    #[arg(long)]
    min_time: Option<f64>,
    #[arg(long, default_value_t = 16)]
    m: u32,
    #[arg(long, default_value_t = 64)]
    ef_construction: u32,
    #[arg(long, default_value = "1GB")]
    maintenance_work_mem: String,
    #[arg(long, default_value_t = 2)]
    parallel_workers: u32,
    /// Keep synchronous_commit on for the insert figure (then it mostly measures the disk's flush).
    #[arg(long)]
    synchronous_commit: bool,
    /// Also write the markdown report here (default: <cache>/results/<dataset>-<mode>-<time>.md).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

fn cache_dir(c: &Common) -> PathBuf {
    let dir = c
        .cache
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/bench"));
    let _ = std::fs::create_dir_all(&dir);
    dir.canonicalize().unwrap_or(dir)
}

/// Connects to `sys`'s database, creating it first when the server does not have it.
fn connect_creating_db(sys: &System) -> Result<postgres::Client> {
    let mut admin = runner::connect(sys, "postgres", None)?;
    if admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&sys.dbname])?
        .is_none()
    {
        admin.batch_execute(&format!("CREATE DATABASE \"{}\"", sys.dbname.replace('"', "")))?;
    }
    drop(admin);
    runner::connect(sys, &sys.dbname, None)
}

fn system(label: &str, c: &Common) -> Result<System> {
    // pgvector past its 2000 dimensions (issue 15), on the pgvector server: a halfvec expression index
    // whose ef_search nearest rows (pgvector-halfvec) or nearest N (pgvector-halfvec-N) are re-ranked.
    let halfvec_rerank = match label.strip_prefix("pgvector-halfvec") {
        Some("") => Some(Rerank::EfSearch),
        Some(rows) => rows.strip_prefix('-').and_then(|n| n.parse().ok()).map(Rerank::Rows),
        None => None,
    };
    let (extension, port) = match label {
        "semvec" => ("semvec", c.semvec_port),
        // semvec's compressed hnsw (issue 15), on the semvec server.
        "semvec-sq8" | "semvec-sq4" => ("semvec", c.semvec_port),
        _ if label == "pgvector" || halfvec_rerank.is_some() => ("vector", c.pgvector_port),
        other => {
            anyhow::bail!("unknown system {other:?} (semvec, semvec-sq8, semvec-sq4, pgvector, pgvector-halfvec or pgvector-halfvec-N)")
        }
    };
    Ok(System {
        label: label.into(),
        extension: extension.into(),
        host: c.host.clone(),
        port,
        user: c.user.clone(),
        dbname: c.dbname.clone(),
        index_with: label.strip_prefix("semvec-").map(|q| format!("quantization = '{q}'")),
        halfvec_rerank,
    })
}

fn now_stamp() -> String {
    date("+%Y%m%d-%H%M%S")
}

fn date(format: &str) -> String {
    std::process::Command::new("date")
        .args(["-u", format])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "now".into())
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Prepare { dataset, common }) => {
            let cache = cache_dir(&common);
            datasets::prepare(&cache, dataset)?;
            let d = datasets::load(&cache, dataset, usize::MAX, datasets::QUERIES, datasets::INSERTS)?;
            println!(
                "{}: {} base, {} queries, {} inserts, {} dims, ground truth ready in {}",
                dataset.dir_name(),
                d.base.len(),
                d.queries.len(),
                d.inserts.len(),
                d.base.dim,
                datasets::dataset_dir(&cache, dataset).display()
            );
            Ok(())
        }
        Some(Command::EmbedDebian { embed_sql, batch, common }) => {
            let sys = system("semvec", &common)?;
            // A fresh project cluster (the README's demo) has no bench database yet.
            let mut client = connect_creating_db(&sys)?;
            client.batch_execute("CREATE EXTENSION IF NOT EXISTS semvec")?;
            // One statement embeds at a time: give ONNX Runtime every core (the default is 1).
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            client.batch_execute(&format!("SET semvec.embed_threads = {cores}"))?;
            datasets::embed_debian(&mut client, &cache_dir(&common), &embed_sql, batch)
        }
        Some(Command::EmbedThroughput {
            count,
            batch,
            threads,
            rounds,
            model,
            python,
            skip_python,
            out,
            common,
        }) => {
            if count == 0 || threads.is_empty() || threads.contains(&0) {
                anyhow::bail!("--count and every --threads value must be at least 1");
            }
            let sys = system("semvec", &common)?;
            let mut client = connect_creating_db(&sys)?;
            let options = embed_bench::Options {
                count,
                batch,
                threads,
                rounds,
                model,
                python: (!skip_python).then_some(python),
                python_script: {
                    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/models/bench_python_ort.py");
                    p.canonicalize().unwrap_or(p)
                },
                out,
                cache: cache_dir(&common),
                stamp: now_stamp(),
                started: date("+%F %T UTC"),
                command: format!("semvec-bench {}", std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
            };
            embed_bench::run(&mut client, &options)
        }
        Some(Command::Bm25Corpus {
            docs,
            inserts,
            queries,
            force,
            quiet,
            common,
        }) => {
            if docs.is_empty() || docs.contains(&0) {
                anyhow::bail!("--docs: sizes must be at least 1");
            }
            let out = bm25corpus::generate(&cache_dir(&common), &docs, inserts, queries, force)?;
            if quiet {
                println!("{}", out.dir.display());
            } else {
                println!("{}", out.report);
                eprintln!("{} in {}", if out.cached { "cached" } else { "written" }, out.dir.display());
            }
            Ok(())
        }
        Some(Command::Bm25Vectors { common }) => {
            if let Some(p) = bm25corpus::source_vectors(&cache_dir(&common))? {
                println!("{}", p.display());
            }
            Ok(())
        }
        Some(Command::Bm25Latency {
            queries,
            sql,
            label,
            setup,
            connections,
            limit,
            passes,
            no_warmup,
            results,
            json,
            common,
        }) => {
            let sys = system("semvec", &common)?;
            let qs = bm25bench::read_queries(&queries)?;
            let opts = bm25bench::LatencyOptions {
                label: label.clone(),
                sql,
                setup,
                connections,
                limit,
                passes,
                warmup: !no_warmup,
                results,
                json,
            };
            let connect = || runner::connect(&sys, &sys.dbname, None);
            for l in bm25bench::latency(&connect, &qs, &opts)? {
                println!(
                    "| {label} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
                    l.connections, l.queries, l.p50_ms, l.p95_ms, l.mean_ms, l.qps
                );
            }
            Ok(())
        }
        Some(Command::Bm25Compare { a, b, rel, ties, k }) => {
            let (n, bad, notes) = bm25bench::compare(&bm25bench::read_results(&a)?, &bm25bench::read_results(&b)?, rel, !ties, k);
            for note in notes {
                eprintln!("  {note}");
            }
            println!("{n} {bad}");
            Ok(())
        }
        Some(Command::Bm25Insert { file, sql, setup, common }) => {
            let sys = system("semvec", &common)?;
            let mut c = runner::connect(&sys, &sys.dbname, None)?;
            let (rows, secs) = bm25bench::insert(&mut c, &file, &sql, &setup)?;
            println!("{rows} {secs:.3} {:.1}", rows as f64 / secs);
            Ok(())
        }
        None => run(cli.run),
    }
}

fn run(a: RunArgs) -> Result<()> {
    let cache = cache_dir(&a.common);
    let q = a.quick;
    let n_base = a.base.unwrap_or(if q { 10_000 } else { 60_000 });
    let n_queries = a.queries.unwrap_or(if q { 200 } else { 1000 });
    let n_inserts = a.inserts.unwrap_or(datasets::INSERTS);
    let settings = Settings {
        maintenance_work_mem: a.maintenance_work_mem.clone(),
        parallel_workers: a.parallel_workers,
        m: a.m,
        ef_construction: a.ef_construction,
        ef_search: a.ef_search.clone(),
        min_time: Duration::from_secs_f64(a.min_time.unwrap_or(if q { 1.0 } else { 3.0 })),
        warmup_queries: if q { 50 } else { 200 },
        seqscan_queries: a.seqscan_queries.unwrap_or(if q { 10 } else { 20 }),
        synchronous_commit: a.synchronous_commit,
    };
    let systems: Vec<System> = a.systems.iter().map(|s| system(s, &a.common)).collect::<Result<_>>()?;

    let data = datasets::load(&cache, a.dataset, n_base, n_queries, n_inserts)?;
    // Other work on the machine skews every figure: say how busy it was.
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    let t0 = std::time::Instant::now();
    let started = date("+%F %T UTC");
    let results: Vec<_> = systems.iter().map(|s| runner::run_system(s, &settings, &data)).collect();

    let mode = if q { "quick" } else { "full" };
    let command = format!("benches/run.sh {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
    let header = Header {
        title: format!("semvec vs pgvector — {} ({mode})", a.dataset.dir_name()),
        command: command.trim().to_string(),
        lines: vec![
            format!("started: {started}"),
            format!("machine: {}", report::machine()),
            format!(
                "data: {} — {} base rows, {} queries, {} dims, {} distance, top-{}, recall against brute-force ground truth (ties count)",
                a.dataset.dir_name(),
                data.base.len(),
                data.queries.len(),
                data.base.dim,
                data.metric.name(),
                datasets::K
            ),
            format!(
                "index: hnsw (m = {}, ef_construction = {}); session: maintenance_work_mem = {}, max_parallel_maintenance_workers = {}, jit = off; logged tables",
                settings.m, settings.ef_construction, settings.maintenance_work_mem, settings.parallel_workers
            ),
            format!(
                "queries: prepared `ORDER BY embedding {} $1 LIMIT 10`, binary parameters, enable_seqscan = off; ≥ {:.1} s per ef_search and connection count, QPS = median over {} windows (robust to bursts of other load); exact scan: {} queries, enable_indexscan = off, no parallel workers; inserts: {} single-row autocommit transactions, synchronous_commit = {}",
                data.metric.operator(),
                settings.min_time.as_secs_f64(),
                10,
                settings.seqscan_queries.min(data.queries.len()),
                data.inserts.len(),
                if settings.synchronous_commit { "on" } else { "off" }
            ),
            format!("run time: {:.0} s; load average at start: {}", t0.elapsed().as_secs_f64(), load_average),
        ],
    };
    let mut header = header;
    for s in systems.iter().filter(|s| s.halfvec_rerank.is_some()) {
        header.lines.push(format!(
            "{}: index `USING hnsw ({})`, queries `{}`",
            s.label,
            runner::index_key(s, &data),
            runner::search_sql(s, &data, "hnsw.ef_search")
        ));
    }
    if let Some(note) = std::env::var("SEMVEC_BENCH_NOTE")
        .ok()
        .filter(|_| a.systems.iter().any(|s| s.starts_with("semvec")))
    {
        header.lines.push(format!("note: {note}"));
    }
    let md = report::markdown(&header, &results, &settings.ef_search);
    println!("\n{md}");
    let out = a.out.clone().unwrap_or_else(|| {
        cache
            .join("results")
            .join(format!("{}-{mode}-{}.md", a.dataset.dir_name(), now_stamp()))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &md)?;
    std::fs::write(
        out.with_extension("json"),
        serde_json::to_string_pretty(&report::json(&header, &results))?,
    )?;
    eprintln!("report written to {} (and .json)", out.display());
    Ok(())
}
