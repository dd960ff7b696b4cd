//! In-database embedding: `embed()`, `embed_batch()`, `chunk_text()`, and the model registry.
//!
//! The pipeline (tokenise, run ONNX Runtime, pool, normalise) is the `semvec-embed` crate; this
//! module only finds models in the `semvec_model` catalog table, checks privileges and paths,
//! caches one loaded model per backend, and converts types. ONNX Runtime is loaded lazily in the
//! backend that first embeds (never in the postmaster); its worker threads never call Postgres.

use crate::datatype::vector::vector_datum;
use crate::error::{
    raise, OrRaise, DUPLICATE_OBJECT, INSUFFICIENT_PRIVILEGE, INTERNAL_ERROR, INVALID_PARAMETER_VALUE, UNDEFINED_FILE, UNDEFINED_OBJECT,
};
use crate::fmgr::*;
use crate::gucs;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;
use semvec_embed::{Embedder, EmbedderConfig, Pooling};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A row of `semvec_model`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRow {
    pub name: String,
    pub model_path: String,
    pub tokenizer_path: String,
    pub dims: i32,
    pub pooling: String,
    pub normalize: bool,
    pub max_tokens: i32,
    pub model_sha256: String,
    pub tokenizer_sha256: String,
}

struct Loaded {
    threads: usize,
    embedder: Rc<Embedder>,
    /// The catalog row it was loaded from: a model dropped and registered again under the same
    /// name with other files (or settings) is loaded again.
    row: ModelRow,
    /// The start of the statement that last checked `row` against the catalog (once per statement,
    /// so that a statement embedding many rows reads the catalog once).
    checked_at: pg_sys::TimestampTz,
}

thread_local! {
    static MODELS: RefCell<HashMap<String, Loaded>> = RefCell::new(HashMap::new());
}

/// `<sharedir>/extension/semvec`.
pub fn share_dir() -> PathBuf {
    unsafe {
        let mut buf = [0 as std::ffi::c_char; pg_sys::MAXPGPATH as usize];
        pg_sys::get_share_path(
            std::ptr::addr_of!(pg_sys::my_exec_path) as *const std::ffi::c_char,
            buf.as_mut_ptr(),
        );
        let share = std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        PathBuf::from(share).join("extension").join("semvec")
    }
}

pub fn model_dir() -> PathBuf {
    gucs::string(&gucs::SEMVEC_MODEL_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| share_dir().join("models"))
}

fn runtime_path() -> PathBuf {
    gucs::string(&gucs::SEMVEC_ONNXRUNTIME_PATH)
        .map(PathBuf::from)
        .unwrap_or_else(|| share_dir().join("lib").join("libonnxruntime.so.1.32.0"))
}

fn ensure_runtime() {
    semvec_embed::init_runtime(&runtime_path()).or_raise();
}

/// An SPI call on the model catalog failed without a Postgres ERROR of its own (those propagate
/// with their own SQLSTATE, e.g. 42501 when the role may not write `semvec_model`): say what failed.
fn spi_failed(what: &str, e: pgrx::spi::SpiError) -> ! {
    raise(INTERNAL_ERROR, format!("could not {what}: {e}"), None, None)
}

/// Rows of a read-only query (text arguments `$1..`), every column as its text output (NULL:
/// None). Through SPI with `read_only = true`: no command counter increment and no transaction ID,
/// which a parallel worker running embed() may not have (pgrx's `select` passes `read_only =
/// false` once the transaction has an XID, e.g. in a parallel CREATE TABLE AS, and its `get_one`
/// assigns one).
fn spi_read(sql: &str, args: &[&str]) -> Vec<Vec<Option<String>>> {
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            raise(INTERNAL_ERROR, "could not connect to SPI", None, None);
        }
        let csql = std::ffi::CString::new(sql).expect("no NUL in our SQL");
        let mut types: Vec<pg_sys::Oid> = vec![pg_sys::TEXTOID; args.len()];
        let mut values: Vec<Datum> = args.iter().map(|a| (*a).into_datum().expect("text datum")).collect();
        let nulls: Vec<std::ffi::c_char> = vec![b' ' as std::ffi::c_char; args.len()];
        let rc = pg_sys::SPI_execute_with_args(
            csql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            true,
            0,
        );
        let mut rows = Vec::new();
        if rc == pg_sys::SPI_OK_SELECT as i32 && !pg_sys::SPI_tuptable.is_null() {
            let tt = pg_sys::SPI_tuptable;
            let natts = (*(*tt).tupdesc).natts;
            for i in 0..pg_sys::SPI_processed as usize {
                let tuple = *(*tt).vals.add(i);
                let row = (1..=natts)
                    .map(|c| {
                        let p = pg_sys::SPI_getvalue(tuple, (*tt).tupdesc, c);
                        (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
                    })
                    .collect();
                rows.push(row);
            }
        }
        pg_sys::SPI_finish();
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            raise(
                INTERNAL_ERROR,
                format!("could not read the model catalog (SPI code {rc})"),
                None,
                None,
            );
        }
        rows
    }
}

/// The schema the extension lives in, quoted for SQL.
fn ext_schema() -> String {
    spi_read(
        "SELECT quote_ident(n.nspname)::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname IN ('semvec', 'vector') ORDER BY e.extname = 'semvec' DESC LIMIT 1",
        &[],
    )
    .into_iter()
    .next()
    .and_then(|r| r.into_iter().next().flatten())
    .unwrap_or_else(|| "public".into())
}

fn lookup(name: &str) -> Option<ModelRow> {
    let sql = format!(
        "SELECT name, model_path, tokenizer_path, dims, pooling, normalized, max_tokens, model_sha256, tokenizer_sha256 \
         FROM {}.semvec_model WHERE name = $1",
        ext_schema()
    );
    let row = spi_read(&sql, &[name]).into_iter().next()?;
    let col = |i: usize| row.get(i).cloned().flatten();
    Some(ModelRow {
        name: col(0).unwrap_or_default(),
        model_path: col(1).unwrap_or_default(),
        tokenizer_path: col(2).unwrap_or_default(),
        dims: col(3).and_then(|v| v.parse().ok()).unwrap_or_default(),
        pooling: col(4).unwrap_or_default(),
        normalize: col(5).map(|v| v == "t").unwrap_or(true),
        max_tokens: col(6).and_then(|v| v.parse().ok()).unwrap_or(256),
        model_sha256: col(7).unwrap_or_default(),
        tokenizer_sha256: col(8).unwrap_or_default(),
    })
}

fn config_for(row: &ModelRow, threads: usize) -> EmbedderConfig {
    let mut cfg = EmbedderConfig::new(&row.model_path, &row.tokenizer_path);
    cfg.pooling = if row.pooling == "cls" { Pooling::Cls } else { Pooling::Mean };
    cfg.normalize = row.normalize;
    cfg.max_tokens = row.max_tokens.max(1) as usize;
    cfg.intra_threads = threads;
    cfg
}

/// The loaded model `name`, loading (and verifying its files against the registered hashes) on
/// first use in this backend.
fn model(name: &str) -> Rc<Embedder> {
    let threads = gucs::SEMVEC_EMBED_THREADS.get().max(1) as usize;
    let statement = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    let cached = |check: &dyn Fn(&Loaded) -> bool| {
        MODELS.with(|m| {
            let mut m = m.borrow_mut();
            let l = m.get_mut(name).filter(|l| l.threads == threads && check(l))?;
            l.checked_at = statement;
            Some(l.embedder.clone())
        })
    };
    if let Some(e) = cached(&|l| l.checked_at == statement) {
        return e;
    }
    let found = lookup(name);
    if let Some(e) = found.as_ref().and_then(|row| cached(&|l| &l.row == row)) {
        return e;
    }
    let Some(row) = found else {
        raise(
            UNDEFINED_OBJECT,
            format!("embedding model \"{name}\" does not exist"),
            None,
            Some("List models with SELECT * FROM semvec_model; register one with semvec_register_model().".into()),
        )
    };
    ensure_runtime();
    for (path, want) in [(&row.model_path, &row.model_sha256), (&row.tokenizer_path, &row.tokenizer_sha256)] {
        let got = semvec_embed::sha256_file(path).or_raise();
        if &got != want {
            raise(
                "XX001",
                format!("file \"{path}\" of embedding model \"{name}\" has changed since it was registered"),
                Some(format!("Registered SHA-256 {want}, found {got}.")),
                Some("Restore the original file, or drop the model and register it again under a new name.".into()),
            );
        }
    }
    let embedder = Rc::new(Embedder::load(config_for(&row, threads)).or_raise());
    if embedder.dim() as i32 != row.dims {
        raise(
            "22023",
            format!(
                "embedding model \"{name}\" produces {} dimensions, registered with {}",
                embedder.dim(),
                row.dims
            ),
            None,
            None,
        );
    }
    MODELS.with(|m| {
        m.borrow_mut().insert(
            name.to_owned(),
            Loaded {
                threads,
                embedder: embedder.clone(),
                row,
                checked_at: statement,
            },
        )
    });
    embedder
}

fn default_model() -> String {
    gucs::string(&gucs::SEMVEC_DEFAULT_MODEL).unwrap_or_else(|| "all-MiniLM-L6-v2".into())
}

/// Embed texts in sub-batches of `semvec.embed_batch_size`, honouring query cancel between them.
pub fn embed_texts(model_name: &str, texts: &[&str]) -> Vec<Vec<f32>> {
    let m = model(model_name);
    let batch = gucs::SEMVEC_EMBED_BATCH_SIZE.get().max(1) as usize;
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch) {
        pgrx::check_for_interrupts!();
        out.extend(m.embed_batch(chunk).or_raise());
    }
    out
}

pg_fn!(fn semvec_embed_text(fcinfo) {
    let text = text_to_string(arg(fcinfo, 0));
    let v = embed_texts(&default_model(), &[text.as_str()]);
    vector_datum(&v[0])
});

pg_fn!(fn semvec_embed_model(fcinfo) {
    let text = text_to_string(arg(fcinfo, 0));
    let name = text_to_string(arg(fcinfo, 1));
    let v = embed_texts(&name, &[text.as_str()]);
    vector_datum(&v[0])
});

/// `embed_batch(text[] [, model])`: one inference per sub-batch, results in input order, NULL
/// for NULL elements.
unsafe fn embed_batch_impl(fcinfo: pg_sys::FunctionCallInfo, arr: Datum, model_name: &str) -> Datum {
    unsafe {
        let array = pgrx::Array::<String>::from_datum(arr, false).expect("array");
        let items: Vec<Option<String>> = array.iter().collect();
        let texts: Vec<&str> = items.iter().flatten().map(|s| s.as_str()).collect();
        let vectors = if texts.is_empty() {
            Vec::new()
        } else {
            embed_texts(model_name, &texts)
        };
        let mut it = vectors.into_iter();
        let mut datums = Vec::with_capacity(items.len());
        let mut nulls = Vec::with_capacity(items.len());
        for item in &items {
            match item {
                Some(_) => {
                    datums.push(vector_datum(&it.next().expect("one vector per text")));
                    nulls.push(false);
                }
                None => {
                    datums.push(Datum::from(0usize));
                    nulls.push(true);
                }
            }
        }
        let elem = pg_sys::get_element_type(pg_sys::get_fn_expr_rettype((*fcinfo).flinfo));
        crate::datatype::array::varlena_array_datum(&datums, &nulls, elem)
    }
}

pg_fn!(fn semvec_embed_batch(fcinfo) {
    embed_batch_impl(fcinfo, arg(fcinfo, 0), &default_model())
});

pg_fn!(fn semvec_embed_batch_model(fcinfo) {
    let name = text_to_string(arg(fcinfo, 1));
    embed_batch_impl(fcinfo, arg(fcinfo, 0), &name)
});

/// Ordered chunks of `input`, each at most `max_tokens` tokens of the model's tokenizer,
/// consecutive chunks overlapping by about `overlap` tokens, cut at sentence ends when possible.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn chunk_text(input: &str, max_tokens: i32, overlap: i32) -> TableIterator<'static, (name!(chunk_no, i32), name!(chunk, String))> {
    if max_tokens < 1 {
        raise(INVALID_PARAMETER_VALUE, "max_tokens must be at least 1", None, None);
    }
    if overlap < 0 || overlap >= max_tokens {
        raise(
            INVALID_PARAMETER_VALUE,
            "overlap must be at least 0 and less than max_tokens",
            None,
            None,
        );
    }
    let m = model(&default_model());
    let chunks = m.chunk_text(input, max_tokens as usize, overlap as usize).or_raise();
    TableIterator::new(chunks.into_iter().enumerate().map(|(i, c)| (i as i32 + 1, c)))
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn count_tokens(input: &str) -> i32 {
    model(&default_model()).count_tokens(input).or_raise() as i32
}

// ---- registry ----------------------------------------------------------------------------------

fn is_superuser() -> bool {
    unsafe { pg_sys::superuser() }
}

fn has_read_server_files() -> bool {
    Spi::connect(|c| {
        c.select("SELECT pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')", Some(1), &[])?
            .first()
            .get_one::<bool>()
    })
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Resolve a model file path: relative paths are below the model directory; non-superusers may
/// only name files below it (symlinks and `..` resolved first).
fn resolve(path: &str, what: &str) -> PathBuf {
    let dir = model_dir();
    let p = Path::new(path);
    let joined = if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
    let canon = std::fs::canonicalize(&joined).unwrap_or_else(|_| {
        raise(
            UNDEFINED_FILE,
            format!("{what} file \"{}\" does not exist", joined.display()),
            None,
            Some(format!(
                "Model files are looked up below {} unless the path is absolute.",
                dir.display()
            )),
        )
    });
    if !is_superuser() {
        let dir_canon = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
        if !canon.starts_with(&dir_canon) {
            raise(
                INSUFFICIENT_PRIVILEGE,
                format!("{what} file must be below the model directory \"{}\"", dir_canon.display()),
                Some("Only superusers may register models from other locations.".into()),
                None,
            );
        }
    }
    canon
}

fn check_register_privilege() {
    if !is_superuser() && !has_read_server_files() {
        raise(
            INSUFFICIENT_PRIVILEGE,
            "permission denied to register an embedding model",
            Some("Registering a model reads server files.".into()),
            Some("Use a superuser, or a role granted pg_read_server_files.".into()),
        );
    }
}

/// Register (or confirm) a model; returns its dimensions. A name keeps its content forever: the
/// same files are accepted again, different content under the same name is refused.
pub fn register(name: &str, model_path: &str, tokenizer_path: &str, pooling: &str, normalize: bool, max_tokens: i32) -> i32 {
    check_register_privilege();
    if name.is_empty() {
        raise(INVALID_PARAMETER_VALUE, "model name must not be empty", None, None);
    }
    if pooling != "mean" && pooling != "cls" {
        raise(
            INVALID_PARAMETER_VALUE,
            format!("invalid pooling \"{pooling}\""),
            None,
            Some("Use 'mean' or 'cls'.".into()),
        );
    }
    if !(1..=8192).contains(&max_tokens) {
        raise(INVALID_PARAMETER_VALUE, "max_tokens must be between 1 and 8192", None, None);
    }
    let model_file = resolve(model_path, "model");
    let tokenizer_file = resolve(tokenizer_path, "tokenizer");
    let model_sha256 = semvec_embed::sha256_file(&model_file).or_raise();
    let tokenizer_sha256 = semvec_embed::sha256_file(&tokenizer_file).or_raise();
    if let Some(existing) = lookup(name) {
        if existing.model_sha256 == model_sha256
            && existing.tokenizer_sha256 == tokenizer_sha256
            && existing.pooling == pooling
            && existing.normalize == normalize
            && existing.max_tokens == max_tokens
        {
            return existing.dims;
        }
        raise(
            DUPLICATE_OBJECT,
            format!("embedding model \"{name}\" is already registered with different content"),
            Some("A model name always means the same weights, which is what lets embed() be IMMUTABLE.".into()),
            Some("Register the new files under a new name.".into()),
        );
    }
    ensure_runtime();
    let mut row = ModelRow {
        name: name.to_owned(),
        model_path: model_file.to_string_lossy().into_owned(),
        tokenizer_path: tokenizer_file.to_string_lossy().into_owned(),
        dims: 0,
        pooling: pooling.to_owned(),
        normalize,
        max_tokens,
        model_sha256,
        tokenizer_sha256,
    };
    // Loading proves the files are a usable model and tokenizer, and tells the dimensions.
    let embedder = Embedder::load(config_for(&row, 1)).or_raise();
    row.dims = embedder.dim() as i32;
    let sql = format!(
        "INSERT INTO {}.semvec_model (name, model_path, tokenizer_path, dims, pooling, normalized, max_tokens, model_sha256, tokenizer_sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ext_schema()
    );
    Spi::run_with_args(
        &sql,
        &[
            row.name.clone().into(),
            row.model_path.clone().into(),
            row.tokenizer_path.clone().into(),
            row.dims.into(),
            row.pooling.clone().into(),
            row.normalize.into(),
            row.max_tokens.into(),
            row.model_sha256.clone().into(),
            row.tokenizer_sha256.clone().into(),
        ],
    )
    .unwrap_or_else(|e| spi_failed("register the model", e));
    row.dims
}

#[pg_extern(volatile, strict, sql = false)]
fn semvec_register_model(name: &str, model_path: &str, tokenizer_path: &str, pooling: &str, normalize: bool, max_tokens: i32) -> i32 {
    register(name, model_path, tokenizer_path, pooling, normalize, max_tokens)
}

#[pg_extern(volatile, strict, sql = false)]
fn semvec_drop_model(name: &str) -> bool {
    check_register_privilege();
    let sql = format!("DELETE FROM {}.semvec_model WHERE name = $1 RETURNING 1", ext_schema());
    let deleted: Option<i32> = match Spi::get_one_with_args(&sql, &[name.into()]) {
        Ok(v) => v,
        // No such model: DELETE ... RETURNING produced no row to read.
        Err(pgrx::spi::SpiError::InvalidPosition) => None,
        Err(e) => spi_failed("drop the model", e),
    };
    MODELS.with(|m| m.borrow_mut().remove(name));
    deleted.is_some()
}

/// Register every model folder (holding `model.onnx` and `tokenizer.json`) of the model
/// directory; called by CREATE EXTENSION. Missing files or runtime only raise a NOTICE.
#[pg_extern(volatile, sql = false)]
fn semvec_register_installed_models() -> i32 {
    let dir = model_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        pgrx::notice!("semvec: no model directory at {}; embed() needs a registered model", dir.display());
        return 0;
    };
    if !runtime_path().is_file() {
        pgrx::notice!(
            "semvec: ONNX Runtime not found at {}; models not registered",
            runtime_path().display()
        );
        return 0;
    }
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("model.onnx").is_file() && e.path().join("tokenizer.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let base = dir.join(name);
        register(
            name,
            &base.join("model.onnx").to_string_lossy(),
            &base.join("tokenizer.json").to_string_lossy(),
            "mean",
            true,
            256,
        );
    }
    names.len() as i32
}
