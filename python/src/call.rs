//! Calling into the libraries from Python: errors as exceptions
//! ([`Failure`]), long calls on a worker thread with the GIL released and
//! Ctrl-C honoured ([`run`]), the pipeline's stream, and matrices back to
//! NumPy. Shared by the bindings in `lib.rs` and `shard.rs`.

use faer::{MatRef, Par};
use ntk_features::FeatureError;
use ntk_pipeline::{PipelineError, Stream};
use ntk_solve::SolveError;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How often the waiting thread looks for signals.
const POLL: Duration = Duration::from_millis(50);

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A library error as a Python exception: `ValueError` with the Rust
/// message, or the pending interrupt for a cancelled run.
pub(crate) enum Failure {
    Features(FeatureError),
    Solve(SolveError),
    Pipeline(PipelineError),
    Usage(String),
}

impl From<PipelineError> for Failure {
    fn from(e: PipelineError) -> Self {
        Self::Pipeline(e)
    }
}

impl From<FeatureError> for Failure {
    fn from(e: FeatureError) -> Self {
        Self::Features(e)
    }
}
impl From<SolveError> for Failure {
    fn from(e: SolveError) -> Self {
        Self::Solve(e)
    }
}

impl Failure {
    pub(crate) fn into_py(self, interrupt: Option<PyErr>) -> PyErr {
        match self {
            Self::Features(FeatureError::Cancelled { .. }) => {
                interrupt.unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted"))
            }
            Self::Features(e) => value_error(e),
            Self::Solve(e) => value_error(e),
            Self::Pipeline(e) if e.is_cancelled() => {
                interrupt.unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted"))
            }
            Self::Pipeline(e) => value_error(e),
            Self::Usage(m) => PyValueError::new_err(m),
        }
    }
}

/// Thread pools by size, built once: `threads=k` runs on a pool of `k`
/// workers; `None` on rayon's global pool (every core).
pub(crate) fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(value_error)?,
    );
    pools.insert(threads, p.clone());
    Ok(p)
}

/// Runs `work` on a worker thread (inside the pool `threads` asks for)
/// with the GIL released; the calling thread waits, checking for signals.
/// `work` receives the parallelism to use and a `stop()` test for its
/// progress callbacks.
pub(crate) fn run<R: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    work: impl FnOnce(Par, &dyn Fn() -> bool) -> Result<R, Failure> + Send,
) -> PyResult<R> {
    let (par, pool) = match threads {
        Some(0) => return Err(PyValueError::new_err("threads must be at least 1")),
        Some(1) => (Par::Seq, None),
        Some(k) => (Par::rayon(k), Some(pool(k)?)),
        None => (Par::rayon(0), None),
    };
    let stop = AtomicBool::new(false);
    let mut interrupt = None;
    // Set by the worker when it is done (also when it fails).
    let finished = (Mutex::new(false), Condvar::new());
    let result = std::thread::scope(|s| {
        let stop = &stop;
        let finished = &finished;
        let handle = s.spawn(move || {
            let test = || stop.load(Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &pool {
                Some(p) => p.install(|| work(par, &test)),
                None => work(par, &test),
            }));
            *finished.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            finished.1.notify_all();
            r
        });
        loop {
            let done = py.detach(|| {
                let guard = finished.0.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, _) = finished
                    .1
                    .wait_timeout_while(guard, POLL, |done| !*done)
                    .unwrap_or_else(|e| e.into_inner());
                *guard
            });
            if done {
                break;
            }
            if interrupt.is_none()
                && let Err(e) = py.check_signals()
            {
                interrupt = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
        }
        handle.join().unwrap_or_else(Err)
    });
    match result {
        Ok(Ok(r)) => match interrupt {
            // The work finished before it saw the flag: the interrupt still
            // belongs to the user.
            Some(e) => Err(e),
            None => Ok(r),
        },
        Ok(Err(f)) => Err(f.into_py(interrupt)),
        Err(_) => Err(PyValueError::new_err(
            "internal error: the computation panicked (please report this input)",
        )),
    }
}

pub(crate) fn control(stop: &dyn Fn() -> bool) -> ControlFlow<()> {
    if stop() {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

/// `(rows, cols)` C-order NumPy array from a column-major matrix read as its transpose.
pub(crate) fn to_numpy<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    m: MatRef<'_, T>,
    transpose: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (r, c) = if transpose {
        (m.ncols(), m.nrows())
    } else {
        (m.nrows(), m.ncols())
    };
    let mut v = Vec::with_capacity(r * c);
    if transpose {
        // C-order (ncols, nrows) is the column-major layout of m itself.
        for j in 0..m.ncols() {
            v.extend(m.col(j).iter().copied());
        }
    } else {
        for i in 0..m.nrows() {
            v.extend(m.row(i).iter().copied());
        }
    }
    Ok(PyArray1::from_vec(py, v).reshape([r, c])?.into_any())
}

/// The pipeline's stream on `par`, stopped by `stop`, in blocks of
/// `ntk_pipeline::BLOCK` samples, as the CLI streams.
pub(crate) fn stream<'a>(par: Par, stop: &'a dyn Fn() -> bool) -> Stream<'a, Failure> {
    let mut s = Stream::new(par);
    s.stop = Some(stop);
    s
}
