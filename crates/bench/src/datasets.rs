//! The benchmark's data sets, prepared once into the cache (`.cache/bench/<name>/`):
//! `base.fvecs` (indexed rows, id = row number), `queries.fvecs` (held out), `inserts.fvecs` (rows added
//! one by one after the build), `base.copy` (the base as a binary COPY stream of `(id int4, embedding
//! vector)`, for `\copy items FROM 'base.copy' (FORMAT binary)`), and `gt-<base>x<queries>.ivecs`, the
//! exact top-10 of every query computed by brute force.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::exact::{exact_top_k, Metric};
use crate::pgvec::VectorValue;
use crate::vecio::{copy_binary, read_fvecs, read_idx_images_gz, read_ivecs, write_fvecs, write_ivecs, Vectors};

pub const K: usize = 10;
pub const QUERIES: usize = 1000;
pub const INSERTS: usize = 5000;

const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";
const DEBIAN_TRANSLATIONS: &str = "/var/lib/apt/lists";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetName {
    /// Fashion-MNIST, 784-d pixel vectors, Euclidean (ann-benchmarks' fashion-mnist-784-euclidean).
    FashionMnist,
    /// Debian package descriptions embedded by semvec's embed(), cosine.
    Debian,
    /// The Debian embeddings grown to 1M rows by `benches/grow_data.py` (`.cache/bench/grown/debian-1m`,
    /// issue 15), cosine; inserts are real Debian rows.
    DebianGrown,
    /// The Debian embeddings grown to 100k rows and lifted to 3072 dimensions by `benches/grow_data.py
    /// --project 3072` (`.cache/bench/grown/debian-3072-100k`, issue 15), cosine; inserts grown alike.
    #[value(name = "debian-3072")]
    Debian3072,
}

impl DatasetName {
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Debian => "debian",
            DatasetName::DebianGrown => "grown/debian-1m",
            DatasetName::Debian3072 => "grown/debian-3072-100k",
        }
    }

    pub fn metric(self) -> Metric {
        match self {
            DatasetName::FashionMnist => Metric::L2,
            DatasetName::Debian | DatasetName::DebianGrown | DatasetName::Debian3072 => Metric::Cosine,
        }
    }
}

/// A data set cut to the sizes of one run, with its ground truth.
pub struct Dataset {
    pub name: DatasetName,
    pub metric: Metric,
    pub base: Vectors,
    pub queries: Vectors,
    pub inserts: Vectors,
    /// For each query, the ids of its exact `K` nearest base rows.
    pub truth: Vec<Vec<u32>>,
}

pub fn dataset_dir(cache: &Path, name: DatasetName) -> PathBuf {
    cache.join(name.dir_name())
}

fn prepared(dir: &Path) -> bool {
    ["base.fvecs", "queries.fvecs", "inserts.fvecs", "base.copy"]
        .iter()
        .all(|f| dir.join(f).exists())
}

/// Makes the cache files of a data set when they are missing. For Debian, that is the text corpus
/// only; its vectors come from `embed_debian` (semvec's `embed()`).
pub fn prepare(cache: &Path, name: DatasetName) -> Result<()> {
    let dir = dataset_dir(cache, name);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    match name {
        DatasetName::FashionMnist => {
            if prepared(&dir) {
                return Ok(());
            }
            let train = Path::new(FASHION_DIR).join("train-images-idx3-ubyte.gz");
            let test = Path::new(FASHION_DIR).join("t10k-images-idx3-ubyte.gz");
            if !train.exists() || !test.exists() {
                bail!("{} is missing: apt-get install dataset-fashion-mnist", train.display());
            }
            eprintln!("preparing fashion-mnist in {}", dir.display());
            let base = read_idx_images_gz(&train)?;
            let held_out = read_idx_images_gz(&test)?;
            let queries = held_out.head(QUERIES);
            let inserts = Vectors {
                dim: held_out.dim,
                data: held_out.data[QUERIES * held_out.dim..(QUERIES + INSERTS) * held_out.dim].to_vec(),
            };
            write_split(&dir, &base, &queries, &inserts)
        }
        DatasetName::Debian => {
            let tsv = dir.join("descriptions.tsv");
            if !tsv.exists() {
                let docs = debian_descriptions()?;
                write_descriptions(&tsv, &docs)?;
                eprintln!("wrote {} Debian package descriptions to {}", docs.len(), tsv.display());
            }
            if !prepared(&dir) {
                bail!(
                    "the Debian corpus is text ({}); embed it first with `semvec-bench embed-debian` \
                     (needs semvec's embed())",
                    tsv.display()
                );
            }
            Ok(())
        }
        DatasetName::DebianGrown | DatasetName::Debian3072 => {
            let grow = match name {
                DatasetName::DebianGrown => "--n 1000000 --queries 1000",
                _ => "--n 100000 --queries 1000 --inserts 5000 --project 3072",
            };
            let not_grown = || {
                anyhow!(
                    "{} is not grown yet: benches/grow_data.py --source fvecs:.cache/bench/debian/base.fvecs \
                     {grow} --out {} (benches/README.md)",
                    dir.display(),
                    dir.display()
                )
            };
            if !dir.join("base.fvecs").exists() || !dir.join("queries.fvecs").exists() {
                return Err(not_grown());
            }
            let inserts = dir.join("inserts.fvecs");
            if !inserts.exists() {
                // The 3072-d set grows its own (--inserts); the 384-d one takes real Debian rows.
                if name != DatasetName::DebianGrown {
                    return Err(not_grown());
                }
                let real = dataset_dir(cache, DatasetName::Debian).join("base.fvecs");
                let v = read_fvecs(&real).with_context(|| format!("{} (embed-debian first)", real.display()))?;
                write_fvecs(&inserts, &v.head(INSERTS))?;
            }
            Ok(())
        }
    }
}

fn write_split(dir: &Path, base: &Vectors, queries: &Vectors, inserts: &Vectors) -> Result<()> {
    write_fvecs(&dir.join("queries.fvecs"), queries)?;
    write_fvecs(&dir.join("inserts.fvecs"), inserts)?;
    std::fs::write(dir.join("base.copy"), copy_binary(0, base))?;
    // base.fvecs last: its presence (with the others) marks the set as complete.
    write_fvecs(&dir.join("base.fvecs"), base)?;
    Ok(())
}

/// Loads a prepared data set cut to `n_base` rows and `n_queries` queries (the first ones), with
/// its ground truth, computed by brute force and cached on first use.
pub fn load(cache: &Path, name: DatasetName, n_base: usize, n_queries: usize, n_inserts: usize) -> Result<Dataset> {
    prepare(cache, name)?;
    let dir = dataset_dir(cache, name);
    let base = read_fvecs(&dir.join("base.fvecs"))?.head(n_base);
    let queries = read_fvecs(&dir.join("queries.fvecs"))?.head(n_queries);
    let inserts = read_fvecs(&dir.join("inserts.fvecs"))?.head(n_inserts);
    let metric = name.metric();
    let gt_path = dir.join(format!("gt-{}x{}.ivecs", base.len(), queries.len()));
    let truth = match read_ivecs(&gt_path) {
        Ok(t) if t.len() == queries.len() && t.iter().all(|r| r.len() == K.min(base.len())) => t,
        _ => {
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let t0 = std::time::Instant::now();
            eprintln!(
                "exact top-{K} of {} queries over {} rows ({threads} threads)...",
                queries.len(),
                base.len()
            );
            let t = exact_top_k(&base, &queries, K, metric, threads);
            eprintln!("  done in {:.1} s, cached in {}", t0.elapsed().as_secs_f64(), gt_path.display());
            write_ivecs(&gt_path, &t)?;
            t
        }
    };
    Ok(Dataset {
        name,
        metric,
        base,
        queries,
        inserts,
        truth,
    })
}

/// One package description: the package name and its text (synopsis, then the long description
/// with paragraphs joined by blank-line-free newlines).
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub package: String,
    pub text: String,
}

/// Reads Debian's English package descriptions (bookworm main) from apt's lists; run
/// `apt-get update -o Acquire::Languages=en` first.
pub fn debian_descriptions() -> Result<Vec<Description>> {
    let list = std::fs::read_dir(DEBIAN_TRANSLATIONS)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("dists_bookworm_main_i18n_Translation-en.lz4"))
        })
        .context("no bookworm main Translation-en list: run `apt-get update -o Acquire::Languages=en`")?;
    let out = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(&list)
        .output()
        .context("run /usr/lib/apt/apt-helper cat-file")?;
    if !out.status.success() {
        bail!(
            "apt-helper cat-file {} failed: {}",
            list.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_translations(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses RFC 822 `Package` / `Description-en` blocks; the first description of a package wins.
pub fn parse_translations(text: &str) -> Vec<Description> {
    let mut docs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for block in text.split("\n\n") {
        let mut package = None;
        let mut lines: Vec<String> = Vec::new();
        let mut in_desc = false;
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("Package: ") {
                package = Some(p.trim().to_string());
                in_desc = false;
            } else if let Some(d) = line.strip_prefix("Description-en: ") {
                lines.push(d.trim().to_string());
                in_desc = true;
            } else if in_desc && line.starts_with(' ') {
                let l = line.trim();
                lines.push(if l == "." { String::new() } else { l.to_string() });
            } else {
                in_desc = false;
            }
        }
        if let Some(p) = package {
            if !lines.is_empty() && seen.insert(p.clone()) {
                // synopsis on its own line, then each paragraph on one line
                let mut text = lines[0].clone();
                let mut para = String::new();
                for l in &lines[1..] {
                    if l.is_empty() {
                        if !para.is_empty() {
                            text.push('\n');
                            text.push_str(&para);
                            para.clear();
                        }
                    } else {
                        if !para.is_empty() {
                            para.push(' ');
                        }
                        para.push_str(l);
                    }
                }
                if !para.is_empty() {
                    text.push('\n');
                    text.push_str(&para);
                }
                docs.push(Description { package: p, text });
            }
        }
    }
    docs
}

/// `descriptions.tsv`: `package<TAB>text`, newlines in the text written as `\n`.
fn write_descriptions(path: &Path, docs: &[Description]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for d in docs {
        writeln!(
            w,
            "{}\t{}",
            d.package,
            d.text.replace('\\', "\\\\").replace('\t', " ").replace('\n', "\\n")
        )?;
    }
    w.flush()?;
    Ok(())
}

/// `s` as a field of `COPY ... FROM STDIN` in text format (backslash, tab, newline and carriage
/// return escaped).
pub fn copy_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

pub fn read_descriptions(path: &Path) -> Result<Vec<Description>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut docs = Vec::new();
    for line in text.lines() {
        let (package, body) = line.split_once('\t').context("descriptions.tsv line without a tab")?;
        let mut t = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => t.push('\n'),
                    Some(o) => t.push(o),
                    None => {}
                }
            } else {
                t.push(c);
            }
        }
        docs.push(Description {
            package: package.to_string(),
            text: t,
        });
    }
    Ok(docs)
}

/// A deterministic permutation (Fisher-Yates on a fixed LCG) so that query/insert/base splits are
/// the same on every machine.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let j = ((s >> 33) % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    idx
}

/// The hook for the Debian data set: embeds every description inside semvec with `embed_sql` (an SQL
/// expression over the column `body`, e.g. `embed(body)`), then writes the usual cache files with a
/// fixed split: 1000 queries, 5000 inserts, the rest as base.
pub fn embed_debian(client: &mut postgres::Client, cache: &Path, embed_sql: &str, batch: usize) -> Result<()> {
    prepare(cache, DatasetName::Debian).ok(); // writes descriptions.tsv; vectors are what we make here
    let dir = dataset_dir(cache, DatasetName::Debian);
    let docs = read_descriptions(&dir.join("descriptions.tsv"))?;
    client.batch_execute(
        "DROP TABLE IF EXISTS bench_debian_docs; \
         CREATE TABLE bench_debian_docs (id int4 PRIMARY KEY, package text NOT NULL, body text NOT NULL)",
    )?;
    {
        let mut w = client.copy_in("COPY bench_debian_docs (id, package, body) FROM STDIN")?;
        for (i, d) in docs.iter().enumerate() {
            writeln!(w, "{}\t{}\t{}", i, copy_text(&d.package), copy_text(&d.text))?;
        }
        w.finish()?;
    }
    let sql = format!("SELECT id, ({embed_sql})::vector FROM bench_debian_docs WHERE id >= $1 AND id < $2 ORDER BY id");
    let stmt = client
        .prepare(&sql)
        .with_context(|| format!("prepare `{sql}` (does semvec have embed()?)"))?;
    let mut all: Vec<Option<Vec<f32>>> = vec![None; docs.len()];
    let t0 = std::time::Instant::now();
    for start in (0..docs.len()).step_by(batch.max(1)) {
        let end = (start + batch).min(docs.len());
        for row in client.query(&stmt, &[&(start as i32), &(end as i32)])? {
            let id: i32 = row.get(0);
            let v: VectorValue = row.get(1);
            all[id as usize] = Some(v.0);
        }
        eprintln!("embedded {end}/{} in {:.0} s", docs.len(), t0.elapsed().as_secs_f64());
    }
    let dim = all.iter().flatten().next().map(|v| v.len()).context("no embeddings")?;
    let order = shuffled(docs.len(), 0x5eed);
    let pick = |ids: &[usize]| -> Result<Vectors> {
        let mut v = Vectors::new(dim);
        for &i in ids {
            v.push(all[i].as_deref().with_context(|| format!("no embedding for document {i}"))?);
        }
        Ok(v)
    };
    let queries = pick(&order[..QUERIES])?;
    let inserts = pick(&order[QUERIES..QUERIES + INSERTS])?;
    let base_ids = &order[QUERIES + INSERTS..];
    let base = pick(base_ids)?;
    // Row i of base.fvecs is document base_ids[i]: keep the map for inspecting results.
    let mut map = std::io::BufWriter::new(std::fs::File::create(dir.join("base-documents.txt"))?);
    for &i in base_ids {
        writeln!(map, "{}", docs[i].package)?;
    }
    map.flush()?;
    write_split(&dir, &base, &queries, &inserts)?;
    eprintln!(
        "debian: {} base, {} queries, {} inserts of {} dims in {}",
        base.len(),
        queries.len(),
        inserts.len(),
        dim,
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Package: 0ad\nDescription-md5: d9\nDescription-en: Real-time strategy game\n 0 A.D. is a free\n game.\n .\n Second paragraph.\n\nPackage: zile\nDescription-md5: aa\nDescription-en: very small editor\n\nPackage: 0ad\nDescription-en: duplicate\n";

    #[test]
    fn translations_parse_into_synopsis_and_paragraphs() {
        let docs = parse_translations(SAMPLE);
        assert_eq!(docs.len(), 2, "the second 0ad block is a duplicate");
        assert_eq!(docs[0].package, "0ad");
        assert_eq!(docs[0].text, "Real-time strategy game\n0 A.D. is a free game.\nSecond paragraph.");
        assert_eq!(
            docs[1],
            Description {
                package: "zile".into(),
                text: "very small editor".into()
            }
        );
    }

    #[test]
    fn descriptions_file_round_trips_tabs_newlines_and_backslashes() {
        let dir = std::env::temp_dir().join(format!("semvec-bench-desc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.tsv");
        let docs = vec![Description {
            package: "a".into(),
            text: "x\\ny\nz".into(),
        }];
        write_descriptions(&p, &docs).unwrap();
        assert_eq!(read_descriptions(&p).unwrap(), docs);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shuffle_is_a_fixed_permutation() {
        let a = shuffled(1000, 7);
        assert_eq!(a, shuffled(1000, 7));
        assert_ne!(a, shuffled(1000, 8));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..1000).collect::<Vec<_>>());
    }
}
