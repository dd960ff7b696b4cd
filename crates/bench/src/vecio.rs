//! Vector files: the TEXMEX `.fvecs`/`.ivecs` layouts used in the cache, the IDX image files that
//! Debian's `dataset-fashion-mnist` ships, and pgvector's binary wire layout inside a binary COPY stream.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

/// Row-major `f32` vectors of one dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct Vectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn new(dim: usize) -> Self {
        Vectors { dim, data: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn push(&mut self, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "vector of dimension {} pushed into {}-d set", v.len(), self.dim);
        self.data.extend_from_slice(v);
    }

    /// The first `n` rows (all of them when there are fewer).
    pub fn head(&self, n: usize) -> Vectors {
        let n = n.min(self.len());
        Vectors {
            dim: self.dim,
            data: self.data[..n * self.dim].to_vec(),
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1))
    }
}

/// `.fvecs`: for each vector, its dimension as little-endian `i32`, then that many little-endian `f32`.
pub fn write_fvecs(path: &Path, v: &Vectors) -> Result<()> {
    let mut w = BufWriter::new(File::create(path).with_context(|| format!("create {}", path.display()))?);
    for row in v.rows() {
        w.write_all(&(v.dim as i32).to_le_bytes())?;
        for x in row {
            w.write_all(&x.to_le_bytes())?;
        }
    }
    w.flush()?;
    Ok(())
}

pub fn read_fvecs(path: &Path) -> Result<Vectors> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    parse_fvecs(&bytes).with_context(|| format!("parse {}", path.display()))
}

pub fn parse_fvecs(bytes: &[u8]) -> Result<Vectors> {
    if bytes.is_empty() {
        return Ok(Vectors::new(0));
    }
    ensure!(bytes.len() >= 4, "truncated .fvecs header");
    let dim = i32::from_le_bytes(bytes[0..4].try_into().unwrap());
    ensure!(dim > 0, "bad .fvecs dimension {dim}");
    let dim = dim as usize;
    let stride = 4 + 4 * dim;
    ensure!(
        bytes.len().is_multiple_of(stride),
        "a .fvecs file of {} bytes is not whole {}-d records",
        bytes.len(),
        dim
    );
    let mut out = Vectors {
        dim,
        data: Vec::with_capacity(bytes.len() / stride * dim),
    };
    for rec in bytes.chunks_exact(stride) {
        let d = i32::from_le_bytes(rec[0..4].try_into().unwrap());
        ensure!(d as usize == dim, "mixed dimensions in .fvecs ({d} after {dim})");
        out.data
            .extend(rec[4..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
    }
    Ok(out)
}

/// `.ivecs`: like `.fvecs` with `i32` values; here, the ids of each query's exact nearest neighbours.
pub fn write_ivecs(path: &Path, rows: &[Vec<u32>]) -> Result<()> {
    let mut w = BufWriter::new(File::create(path).with_context(|| format!("create {}", path.display()))?);
    for row in rows {
        w.write_all(&(row.len() as i32).to_le_bytes())?;
        for &x in row {
            w.write_all(&(x as i32).to_le_bytes())?;
        }
    }
    w.flush()?;
    Ok(())
}

pub fn read_ivecs(path: &Path) -> Result<Vec<Vec<u32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        ensure!(at + 4 <= bytes.len(), "truncated .ivecs record in {}", path.display());
        let n = i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        ensure!(at + 4 * n <= bytes.len(), "truncated .ivecs record in {}", path.display());
        out.push(
            bytes[at..at + 4 * n]
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as u32)
                .collect(),
        );
        at += 4 * n;
    }
    Ok(out)
}

/// Reads a gzip-compressed IDX image file (magic 0x00000803: count, rows, columns, then bytes) as
/// vectors of `rows * columns` pixel values 0..=255.
pub fn read_idx_images_gz(path: &Path) -> Result<Vectors> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(BufReader::new(f))
        .read_to_end(&mut bytes)
        .with_context(|| format!("gunzip {}", path.display()))?;
    parse_idx_images(&bytes).with_context(|| format!("parse {}", path.display()))
}

pub fn parse_idx_images(bytes: &[u8]) -> Result<Vectors> {
    ensure!(bytes.len() >= 16, "IDX header truncated");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    if be(0) != 0x0803 {
        bail!("not an IDX image file (magic {:#010x})", be(0));
    }
    let (n, rows, cols) = (be(4), be(8), be(12));
    let dim = rows * cols;
    ensure!(
        bytes.len() == 16 + n * dim,
        "IDX file holds {} bytes, header says {n} x {dim}",
        bytes.len() - 16
    );
    Ok(Vectors {
        dim,
        data: bytes[16..].iter().map(|&b| b as f32).collect(),
    })
}

/// pgvector's binary (send/recv) layout of one vector: `int16` dimension, `int16` unused (0), then the
/// values as big-endian `float4`.
pub fn encode_vector(v: &[f32], out: &mut Vec<u8>) {
    out.extend_from_slice(&(v.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

pub fn decode_vector(raw: &[u8]) -> Result<Vec<f32>> {
    ensure!(raw.len() >= 4, "binary vector shorter than its header");
    let dim = i16::from_be_bytes([raw[0], raw[1]]);
    ensure!(
        dim >= 0 && raw.len() == 4 + 4 * dim as usize,
        "binary vector of {} bytes claims {dim} dimensions",
        raw.len()
    );
    Ok(raw[4..]
        .chunks_exact(4)
        .map(|c| f32::from_be_bytes(c.try_into().unwrap()))
        .collect())
}

const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A complete `COPY ... (FORMAT binary)` stream of rows `(id int4, embedding vector)`, with ids
/// `first_id, first_id + 1, ...`, loadable by both servers (and by psql's `\copy`).
pub fn copy_binary(first_id: i32, vectors: &Vectors) -> Vec<u8> {
    let mut out = Vec::with_capacity(21 + vectors.len() * (14 + 4 + 4 * vectors.dim));
    out.extend_from_slice(COPY_SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for (i, row) in vectors.rows().enumerate() {
        out.extend_from_slice(&2i16.to_be_bytes());
        out.extend_from_slice(&4i32.to_be_bytes());
        out.extend_from_slice(&(first_id + i as i32).to_be_bytes());
        out.extend_from_slice(&((4 + 4 * vectors.dim) as i32).to_be_bytes());
        encode_vector(row, &mut out);
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vectors {
        Vectors {
            dim: 3,
            data: vec![1.0, -2.5, 3.25, 0.0, 1e-3, f32::MAX],
        }
    }

    #[test]
    fn fvecs_and_ivecs_round_trip() {
        let dir = std::env::temp_dir().join(format!("semvec-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.fvecs");
        write_fvecs(&f, &sample()).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().len(), 2 * (4 + 12));
        assert_eq!(read_fvecs(&f).unwrap(), sample());
        let i = dir.join("a.ivecs");
        let ids = vec![vec![3, 1, 2], vec![7]];
        write_ivecs(&i, &ids).unwrap();
        assert_eq!(read_ivecs(&i).unwrap(), ids);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fvecs_with_a_partial_record_is_rejected() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&2i32.to_le_bytes());
        bytes.extend_from_slice(&1f32.to_le_bytes());
        assert!(parse_fvecs(&bytes).is_err());
    }

    #[test]
    fn vector_binary_layout_is_dim_unused_then_big_endian_floats() {
        let mut out = Vec::new();
        encode_vector(&[1.0, -2.0], &mut out);
        assert_eq!(out, [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
        assert_eq!(decode_vector(&out).unwrap(), vec![1.0, -2.0]);
        assert!(decode_vector(&out[..7]).is_err());
    }

    #[test]
    fn copy_stream_has_header_rows_and_trailer() {
        let s = copy_binary(10, &sample());
        assert_eq!(&s[..11], COPY_SIGNATURE);
        assert_eq!(&s[11..19], &[0; 8]);
        // first row: 2 fields, int4 id 10, then a 16-byte vector
        assert_eq!(&s[19..21], &[0, 2]);
        assert_eq!(&s[21..25], &4i32.to_be_bytes());
        assert_eq!(&s[25..29], &10i32.to_be_bytes());
        assert_eq!(&s[29..33], &16i32.to_be_bytes());
        assert_eq!(decode_vector(&s[33..49]).unwrap(), sample().row(0));
        assert_eq!(&s[49..51], &[0, 2]);
        assert_eq!(&s[55..59], &11i32.to_be_bytes());
        assert_eq!(&s[s.len() - 2..], &[0xff, 0xff]);
        assert_eq!(s.len(), 19 + 2 * (2 + 8 + 4 + 16) + 2);
    }

    #[test]
    fn idx_images_become_pixel_vectors() {
        let mut b = Vec::new();
        for x in [0x0803u32, 2, 1, 2] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        b.extend_from_slice(&[0, 255, 7, 8]);
        let v = parse_idx_images(&b).unwrap();
        assert_eq!(v.dim, 2);
        assert_eq!(v.row(0), &[0.0, 255.0]);
        assert_eq!(v.row(1), &[7.0, 8.0]);
        b[3] = 0x01;
        assert!(parse_idx_images(&b).is_err());
    }
}
