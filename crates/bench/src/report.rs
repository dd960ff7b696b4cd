//! The side-by-side table (markdown), recall-matched QPS, machine facts and a JSON dump.

use std::fmt::Write as _;

use crate::runner::{EfPoint, SystemResult};

/// QPS at a target recall, read off the ef_search sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Matched {
    /// Linearly interpolated between the two sweep points around the target.
    At(f64),
    /// The smallest ef_search already beats the target: its QPS is a lower bound.
    AtLeast(f64),
    /// No ef_search reached the target.
    Unreached,
}

/// Walks the sweep in ef_search order and interpolates QPS linearly in recall between the first pair
/// of neighbouring points that straddles `target`.
pub fn qps_at_recall(points: &[(f64, f64)], target: f64) -> Matched {
    let Some(&(r0, q0)) = points.first() else {
        return Matched::Unreached;
    };
    if r0 >= target {
        return Matched::AtLeast(q0);
    }
    for w in points.windows(2) {
        let ((ra, qa), (rb, qb)) = (w[0], w[1]);
        if ra < target && rb >= target {
            let t = (target - ra) / (rb - ra);
            return Matched::At(qa + t * (qb - qa));
        }
    }
    Matched::Unreached
}

impl Matched {
    fn value(self) -> Option<f64> {
        match self {
            Matched::At(v) | Matched::AtLeast(v) => Some(v),
            Matched::Unreached => None,
        }
    }

    fn cell(self) -> String {
        match self {
            Matched::At(v) => format!("{v:.0}"),
            Matched::AtLeast(v) => format!("≥{v:.0}"),
            Matched::Unreached => "not reached".into(),
        }
    }
}

/// What the run was: printed above the table.
pub struct Header {
    pub title: String,
    pub command: String,
    pub lines: Vec<String>,
}

struct Row {
    name: String,
    cells: Vec<String>,
    values: Vec<Option<f64>>,
}

fn num(v: Option<f64>, fmt: impl Fn(f64) -> String) -> String {
    v.map_or("n/a".to_string(), fmt)
}

fn ratio(values: &[Option<f64>]) -> String {
    match values {
        [Some(a), Some(b)] if *b != 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

fn rows(results: &[SystemResult], ef_list: &[u32]) -> Vec<Row> {
    let mut rows = Vec::new();
    let row = |name: &str, f: &dyn Fn(&SystemResult) -> Option<f64>, fmt: &dyn Fn(f64) -> String| {
        let values: Vec<Option<f64>> = results.iter().map(f).collect();
        Row {
            name: name.to_string(),
            cells: values.iter().map(|v| num(*v, fmt)).collect(),
            values,
        }
    };
    macro_rules! add {
        ($($arg:expr),*) => { rows.push(row($($arg),*)) };
    }
    add!("load, binary COPY (s) ↓", &|r| r.load_secs, &|v| format!("{v:.2}"));
    add!("table size incl. TOAST (MB) ↓", &|r| r.table_bytes.map(|b| b / 1e6), &|v| format!(
        "{v:.1}"
    ));
    add!("exact scan top-10 (QPS) ↑", &|r| r.seq_qps, &|v| format!("{v:.2}"));
    add!("exact scan recall@10", &|r| r.seq_recall, &|v| format!("{v:.4}"));
    add!("HNSW build (s) ↓", &|r| r.build_secs, &|v| format!("{v:.2}"));
    add!("index size (MB) ↓", &|r| r.index_bytes.map(|b| b / 1e6), &|v| format!("{v:.1}"));
    add!("WAL written by build (MB) ↓", &|r| r.wal_bytes.map(|b| b / 1e6), &|v| format!(
        "{v:.1}"
    ));
    for &ef in ef_list {
        let at = |r: &SystemResult| r.sweep.iter().find(|p| p.ef == ef).cloned();
        let g = |f: fn(&EfPoint) -> Option<f64>| move |r: &SystemResult| at(r).and_then(|p| f(&p));
        add!(&format!("ef_search {ef}: recall@10 ↑"), &g(|p| Some(p.recall)), &|v| format!(
            "{v:.4}"
        ));
        add!(&format!("ef_search {ef}: QPS, 1 connection ↑"), &g(|p| Some(p.qps1)), &|v| format!(
            "{v:.0}"
        ));
        add!(
            &format!("ef_search {ef}: p50 latency (ms) ↓"),
            &g(|p| Some(p.p50_ms)),
            &|v| format!("{v:.3}")
        );
        add!(
            &format!("ef_search {ef}: p99 latency (ms) ↓"),
            &g(|p| Some(p.p99_ms)),
            &|v| format!("{v:.3}")
        );
        add!(&format!("ef_search {ef}: QPS, 2 connections ↑"), &g(|p| p.qps2), &|v| format!(
            "{v:.0}"
        ));
    }
    for target in [0.90, 0.95, 0.99] {
        for (conns, pick) in [
            (1, (|p: &EfPoint| Some(p.qps1)) as fn(&EfPoint) -> Option<f64>),
            (2, |p: &EfPoint| p.qps2),
        ] {
            let matched: Vec<Matched> = results
                .iter()
                .map(|r| {
                    let pts: Vec<(f64, f64)> = r.sweep.iter().filter_map(|p| pick(p).map(|q| (p.recall, q))).collect();
                    qps_at_recall(&pts, target)
                })
                .collect();
            rows.push(Row {
                name: format!(
                    "QPS at recall {target:.2}, {conns} connection{} ↑",
                    if conns > 1 { "s" } else { "" }
                ),
                cells: matched
                    .iter()
                    .zip(results)
                    .map(|(m, r)| if r.sweep.is_empty() { "n/a".into() } else { m.cell() })
                    .collect(),
                values: matched.iter().map(|m| m.value()).collect(),
            });
        }
    }
    add!(
        "single-row inserts into the indexed table (rows/s) ↑",
        &|r| r.inserts_per_sec,
        &|v| format!("{v:.0}")
    );
    rows
}

/// The report as markdown: header, the table (with semvec/pgvector ratios when there are two
/// systems), then each system's errors and notices.
pub fn markdown(header: &Header, results: &[SystemResult], ef_list: &[u32]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n", header.title);
    let _ = writeln!(s, "Command: `{}`\n", header.command);
    for l in &header.lines {
        let _ = writeln!(s, "- {l}");
    }
    for r in results {
        let _ = writeln!(
            s,
            "- {}: PostgreSQL {}, extension {}, shared_buffers {}",
            r.label,
            r.server_version.as_deref().unwrap_or("?"),
            r.ext_version.as_deref().unwrap_or("?"),
            r.shared_buffers.as_deref().unwrap_or("?")
        );
    }
    let two = results.len() == 2;
    let _ = write!(s, "\n| figure |");
    for r in results {
        let _ = write!(s, " {} |", r.label);
    }
    if two {
        let _ = write!(s, " {}/{} |", results[0].label, results[1].label);
    }
    let _ = write!(s, "\n|---|");
    for _ in 0..results.len() + usize::from(two) {
        let _ = write!(s, "---:|");
    }
    s.push('\n');
    for row in rows(results, ef_list) {
        let _ = write!(s, "| {} |", row.name);
        for c in &row.cells {
            let _ = write!(s, " {c} |");
        }
        if two {
            let _ = write!(s, " {} |", ratio(&row.values));
        }
        s.push('\n');
    }
    s.push_str("\n↑ higher is better, ↓ lower is better; ratios are first/second column.\n");
    for r in results {
        for e in &r.errors {
            let _ = writeln!(s, "\n**{} error** — {}", r.label, e.replace('\n', " "));
        }
        if !r.notices.is_empty() {
            let _ = writeln!(s, "\n{} notices during the build: {}", r.label, r.notices.join("; "));
        }
    }
    s
}

pub fn json(header: &Header, results: &[SystemResult]) -> serde_json::Value {
    use serde_json::json;
    json!({
        "title": header.title,
        "command": header.command,
        "info": header.lines,
        "systems": results.iter().map(|r| json!({
            "label": r.label,
            "server_version": r.server_version,
            "extension_version": r.ext_version,
            "shared_buffers": r.shared_buffers,
            "load_secs": r.load_secs,
            "table_bytes": r.table_bytes,
            "exact_scan_qps": r.seq_qps,
            "exact_scan_recall": r.seq_recall,
            "build_secs": r.build_secs,
            "index_bytes": r.index_bytes,
            "wal_bytes": r.wal_bytes,
            "sweep": r.sweep.iter().map(|p| json!({
                "ef_search": p.ef, "recall": p.recall, "qps_1": p.qps1, "p50_ms": p.p50_ms,
                "p99_ms": p.p99_ms, "qps_2": p.qps2,
            })).collect::<Vec<_>>(),
            "inserts": r.inserts,
            "inserts_per_sec": r.inserts_per_sec,
            "notices": r.notices,
            "errors": r.errors,
        })).collect::<Vec<_>>(),
    })
}

/// CPU model, cores, memory and kernel, from /proc.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").and_then(|r| r.split_whitespace().next()?.parse().ok()))
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {:.1} GiB RAM, Linux {}", mem_kb / 1048576.0, kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_qps_interpolates_between_straddling_points() {
        let pts = [(0.80, 1000.0), (0.90, 800.0), (0.98, 400.0)];
        assert_eq!(qps_at_recall(&pts, 0.90), Matched::At(800.0));
        match qps_at_recall(&pts, 0.94) {
            Matched::At(v) => assert!((v - 600.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert_eq!(qps_at_recall(&pts, 0.99), Matched::Unreached);
        assert_eq!(qps_at_recall(&pts, 0.5), Matched::AtLeast(1000.0));
        assert_eq!(qps_at_recall(&[], 0.9), Matched::Unreached);
    }

    fn result(label: &str, build: Option<f64>) -> SystemResult {
        SystemResult {
            label: label.into(),
            build_secs: build,
            sweep: vec![
                EfPoint {
                    ef: 10,
                    recall: 0.85,
                    qps1: 2000.0,
                    p50_ms: 0.5,
                    p99_ms: 1.0,
                    qps2: Some(3500.0),
                },
                EfPoint {
                    ef: 20,
                    recall: 0.97,
                    qps1: 1000.0,
                    p50_ms: 1.0,
                    p99_ms: 2.0,
                    qps2: None,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn table_shows_ratios_and_na_for_a_failed_system() {
        let mut failed = SystemResult {
            label: "semvec".into(),
            ..Default::default()
        };
        failed.errors.push("index build: access method \"hnsw\" does not exist".into());
        let header = Header {
            title: "t".into(),
            command: "c".into(),
            lines: vec![],
        };
        let md = markdown(&header, &[failed, result("pgvector", Some(2.0))], &[10, 20]);
        assert!(md.contains("| figure | semvec | pgvector | semvec/pgvector |"), "{md}");
        assert!(md.contains("| HNSW build (s) ↓ | n/a | 2.00 | — |"), "{md}");
        assert!(md.contains("| QPS at recall 0.95, 1 connection ↑ | n/a | 1167 | — |"), "{md}");
        assert!(
            md.contains("**semvec error** — index build: access method \"hnsw\" does not exist"),
            "{md}"
        );

        let md = markdown(&header, &[result("semvec", Some(1.0)), result("pgvector", Some(2.0))], &[10, 20]);
        assert!(md.contains("| HNSW build (s) ↓ | 1.00 | 2.00 | 0.50 |"), "{md}");
        assert!(md.contains("| ef_search 20: QPS, 2 connections ↑ | n/a | n/a | — |"), "{md}");
        assert!(
            md.contains("| QPS at recall 0.90, 2 connections ↑ | not reached | not reached | — |"),
            "{md}"
        );
    }
}
