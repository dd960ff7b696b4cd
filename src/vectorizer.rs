//! The vectorizers' background workers (issue 18): `semvec.vectorizer_workers` processes, registered
//! when semvec is in `shared_preload_libraries`, that embed the rows vectorizers queue.
//!
//! A worker connects to `semvec.vectorizer_database` (one database per server) as the bootstrap
//! superuser and repeats passes: one transaction lists the vectorizers with pending rows
//! (`semvec_vectorizer_worker_todo()`), then each of them gets one batch, in a transaction of its
//! own that commits (`semvec_vectorizer_worker_batch()`, which runs `semvec_vectorizer_run_batch()`
//! as the vectorizer's owner, as `CALL semvec_vectorizer_run()` does). Round-robin, so one large
//! backlog does not hold the others up; several workers split the rows through the queue's
//! `FOR UPDATE SKIP LOCKED`. After a pass with nothing to do the worker sleeps on its latch for
//! `semvec.vectorizer_naptime`.
//!
//! Errors: the SQL side catches a batch's error, logs it and keeps it as the vectorizer's last error;
//! what still reaches this loop (a cancel, an error at commit) is caught here, logged, recorded,
//! and the worker goes on after the naptime. Only FATAL ends the process; the postmaster starts it
//! again after [`RESTART_SECONDS`].
//!
//! Signals: SIGTERM as Postgres's own `die()` handles it (a batch in progress is rolled back at its
//! next interrupt check; between batches the worker exits at once, quietly), with exit code 1 so
//! that the postmaster restarts it after `pg_terminate_backend()` (never during a shutdown); SIGINT
//! (`pg_cancel_backend()`) cancels the batch in progress only; SIGHUP reloads the configuration. Embedding runs through `embed_batch()` in this process, whose ONNX Runtime threads
//! never call Postgres; the loaded models stay cached in the worker between batches.

use crate::gucs;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashSet;
use std::ffi::CString;
use std::time::Duration;

/// Seconds the postmaster waits before it starts a worker again that exited (terminated, or FATAL).
pub const RESTART_SECONDS: u64 = 5;

/// Registers the workers; only while the postmaster loads shared_preload_libraries.
pub fn init() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    for n in 1..=gucs::VECTORIZER_WORKERS.get() {
        BackgroundWorkerBuilder::new(&format!("semvec vectorizer worker {n}"))
            .set_type("semvec vectorizer")
            .set_library("semvec")
            .set_function("semvec_vectorizer_worker_main")
            .set_argument(n.into_datum())
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(RESTART_SECONDS)))
            .load();
    }
}

/// The workers' entry point (bgw_function_name), exported under its own name.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn semvec_vectorizer_worker_main(arg: pg_sys::Datum) {
    let n = arg.value() as i32;
    unsafe {
        #[cfg(not(feature = "pg18"))]
        pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(on_sigterm));
        #[cfg(feature = "pg18")]
        pg_sys::pqsignal_be(pg_sys::SIGTERM as i32, Some(on_sigterm));
    }
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    // Background work: a lower priority than the backends, set before ONNX Runtime starts its
    // threads, which inherit it.
    let nice = gucs::VECTORIZER_NICE.get();
    if nice > 0 {
        // SAFETY: setpriority of the calling thread only; no memory is touched.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
            warning!(
                "semvec vectorizer worker {n}: could not set its niceness to {nice}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    let database = gucs::string(&gucs::VECTORIZER_DATABASE).unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("semvec vectorizer worker {n} started for database \"{database}\"");

    let mut worker = Worker {
        n,
        database,
        running: HashSet::new(),
        said_not_installed: false,
    };
    loop {
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if !worker.pass() {
            nap();
        }
        between_transactions(n);
    }
}

/// SIGTERM as Postgres's `die()` handles it in a backend (pgrx's bindings give no pointer to the C
/// function): a batch in progress stops at its next interrupt check with a FATAL, which rolls it back.
unsafe extern "C-unwind" fn on_sigterm(_signal: std::ffi::c_int) {
    unsafe {
        if !pg_sys::proc_exit_inprogress {
            (&raw mut pg_sys::InterruptPending).write_volatile(1);
            (&raw mut pg_sys::ProcDiePending).write_volatile(1);
        }
        pg_sys::SetLatch(pg_sys::MyLatch);
    }
}

struct Worker {
    n: i32,
    database: String,
    /// Vectorizers whose last batch here found rows: the next batch continues their run.
    running: HashSet<i32>,
    said_not_installed: bool,
}

impl Worker {
    /// One batch of every vectorizer with pending rows; false when there was nothing to do.
    fn pass(&mut self) -> bool {
        let todo = match in_transaction("semvec vectorizer: looking for pending rows", todo) {
            Ok(Some(todo)) => todo,
            Ok(None) => {
                if !self.said_not_installed {
                    log!(
                        "semvec vectorizer worker {}: database \"{}\" has no semvec extension with vectorizers (0.2.0 or later); looking again every semvec.vectorizer_naptime",
                        self.n,
                        self.database
                    );
                    self.said_not_installed = true;
                }
                return false;
            }
            Err(e) => {
                warning!("semvec vectorizer worker {}: {e}", self.n);
                return false;
            }
        };
        self.said_not_installed = false;
        self.running.retain(|id| todo.ids.contains(id));
        let mut worked = false;
        for &id in &todo.ids {
            between_transactions(self.n);
            let start = !self.running.contains(&id);
            let sql = format!("SELECT {}.semvec_vectorizer_worker_batch($1, $2)", todo.schema);
            let batch = in_transaction(&format!("semvec vectorizer: a batch of vectorizer {id}"), || {
                Spi::get_one_with_args::<i64>(&sql, &[id.into(), start.into()])
            });
            match batch {
                Ok(Ok(Some(claimed))) if claimed > 0 => {
                    self.running.insert(id);
                    worked = true;
                }
                Ok(Ok(_)) => {
                    self.running.remove(&id);
                }
                Ok(Err(e)) => self.failed(&todo.schema, id, &e.to_string()),
                Err(e) => self.failed(&todo.schema, id, &e),
            }
        }
        worked
    }

    /// An error the SQL side did not catch: log it and keep it as the vectorizer's last error.
    fn failed(&mut self, schema: &str, id: i32, error: &str) {
        self.running.remove(&id);
        warning!("semvec vectorizer worker {}: vectorizer {id}: {error}", self.n);
        let sql = format!("UPDATE {schema}.semvec_vectorizer SET last_error = $2, last_error_at = now() WHERE id = $1");
        let _ = in_transaction("semvec vectorizer: recording an error", || {
            Spi::run_with_args(&sql, &[id.into(), error.into()])
        });
    }
}

struct Todo {
    /// The extension's schema, quoted.
    schema: String,
    ids: Vec<i32>,
}

/// The vectorizers with pending rows, or None when the database has no semvec with vectorizers.
fn todo() -> Option<Todo> {
    let schema = Spi::get_one::<String>(
        "SELECT quote_ident(n.nspname)::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE e.extname = 'semvec' AND to_regprocedure(quote_ident(n.nspname) || '.semvec_vectorizer_worker_todo()') IS NOT NULL",
    )
    .ok()
    .flatten()?;
    let ids = Spi::get_one::<Vec<i32>>(&format!("SELECT {schema}.semvec_vectorizer_worker_todo()"))
        .ok()
        .flatten()
        .unwrap_or_default();
    Some(Todo { schema, ids })
}

/// Runs `body` in a transaction of its own and commits it; an ERROR rolls it back and is returned
/// as its message (the worker goes on).
fn in_transaction<R>(activity: &str, body: impl FnOnce() -> R + std::panic::UnwindSafe) -> Result<R, String> {
    let activity = CString::new(activity).unwrap_or_default();
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, activity.as_ptr());
    }
    let result = PgTryBuilder::new(move || {
        let r = body();
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(r)
    })
    .catch_others(|e| {
        Err(match e {
            pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => r.message().to_owned(),
            pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport.message().to_owned(),
        })
    })
    .execute();
    unsafe {
        if result.is_err() {
            pg_sys::AbortCurrentTransaction();
        }
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
    result
}

/// Sleeps for semvec.vectorizer_naptime, or until the latch is set (a signal).
fn nap() {
    let ms = gucs::VECTORIZER_NAPTIME.get().max(1) as std::ffi::c_long;
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            ms,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
}

/// Interrupts between transactions. A SIGTERM ends the worker without an error message, with exit
/// code 1 so that the postmaster starts it again after pg_terminate_backend() (code 0 would
/// unregister it). A cancel (pg_cancel_backend(), SIGINT) has no statement to cancel here: dropped,
/// or it would raise an ERROR outside any transaction and end the worker. (A cancel during a batch
/// is an ERROR in its transaction, caught by in_transaction.) The others are served.
fn between_transactions(n: i32) {
    unsafe {
        if std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0 {
            // cleared first: the message's own interrupt check would turn it into a FATAL
            (&raw mut pg_sys::ProcDiePending).write_volatile(0);
            log!("semvec vectorizer worker {n} exiting on SIGTERM");
            pg_sys::proc_exit(1);
        }
        (&raw mut pg_sys::QueryCancelPending).write_volatile(0);
    }
    pgrx::check_for_interrupts!();
}
