//! `ntk._ntk`: the compiled half of the Python package. The Python half
//! (`ntk/__init__.py`) converts inputs (any real dtype to C-contiguous
//! float64 or float32) and shapes the results like neural-tangents and
//! scikit-learn; everything numeric happens here, in the workspace crates.
//!
//! Every long call runs on a worker thread with the GIL released while the
//! calling thread waits for it and polls for signals: Ctrl-C sets a flag
//! that the work's progress callback turns into `ControlFlow::Break`, so an
//! interrupt lands within one unit of work (a block of 256 columns, 32
//! image pairs, a chunk of samples) and raises `KeyboardInterrupt`.
//!
//! Feature streaming, feature ridge and the feature spec are
//! `ntk_pipeline`'s, shared with the command line; this file maps
//! arguments and arrays.

use faer::{Mat, MatRef, Par};
use ntk_features::{
    ArchSpec, Architecture, FeatureError, FeatureMap, Input, KernelKind, Method, Polynomial, Real,
    Shape, kernels_cancellable,
};
use ntk_pipeline::{
    AnyMap, CHUNK, FeatureRidge, FeatureSpec, Lambda, Layout, Options, PipelineError, Precision,
    SCALE_SAMPLES, Shard, Stream, Targets, ValFeatures,
};
use ntk_solve::{DiagReg, FixedGram, FixedScale, KernelRidge, MseEnsemble, SolveError};
use numpy::{
    PyArray1, PyArrayMethods, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How often the waiting thread looks for signals.
const POLL: Duration = Duration::from_millis(50);

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A library error as a Python exception: `ValueError` with the Rust
/// message, or the pending interrupt for a cancelled run.
enum Failure {
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
    fn into_py(self, interrupt: Option<PyErr>) -> PyErr {
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
fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
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
fn run<R: Send>(
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

fn control(stop: &dyn Fn() -> bool) -> ControlFlow<()> {
    if stop() {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

/// A sample shape from a NumPy array's shape: `(n, d)` vectors or
/// `(n, H, W, C)` images.
fn sample_shape(shape: &[usize], what: &str) -> Result<(usize, Shape), Failure> {
    match *shape {
        [n, dim] => Ok((n, Shape::Vector { dim })),
        [n, h, w, c] => Ok((n, Shape::Image { h, w, c })),
        _ => Err(Failure::Usage(format!(
            "{what} must have shape (n, d) for vectors or (n, H, W, C) for images (NHWC), got {shape:?}"
        ))),
    }
}

/// The shape of one sample: `(d,)` or `(H, W, C)`.
fn one_sample_shape(shape: &[usize]) -> PyResult<Shape> {
    match *shape {
        [dim] => Ok(Shape::Vector { dim }),
        [h, w, c] => Ok(Shape::Image { h, w, c }),
        _ => Err(PyValueError::new_err(format!(
            "a sample shape is (d,) or (H, W, C), got {shape:?}"
        ))),
    }
}

fn input<'a>(data: &'a [f64], n: usize, shape: Shape) -> Input<'a> {
    match shape {
        Shape::Vector { dim } => Input::Vectors(MatRef::from_column_major_slice(data, dim, n)),
        Shape::Image { h, w, c } => Input::Images { data, n, h, w, c },
    }
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArrayDyn<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))
}

/// `(rows, cols)` C-order NumPy array from a column-major matrix read as its transpose.
fn to_numpy<'py, T: numpy::Element + Copy>(
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

/// Checks an architecture string against a sample shape and returns its
/// canonical form (`str(arch)`), so that mistakes surface when a kernel
/// function is made, not when it is first called.
#[pyfunction]
fn describe(arch: &str, sample_shape: Vec<usize>) -> PyResult<String> {
    let shape = one_sample_shape(&sample_shape)?;
    let a = build(arch, shape).map_err(|f| f.into_py(None))?;
    Ok(a.to_string())
}

/// Every feature method of the library's registry as `(name, summary)`,
/// in the order the documentation lists them.
#[pyfunction]
fn methods() -> Vec<(&'static str, &'static str)> {
    Method::ALL
        .iter()
        .map(|m| (m.name(), m.summary()))
        .collect()
}

/// Parses the architecture string without an input shape (presets such as
/// Myrtle5 are sized later, at the first call).
#[pyfunction]
fn check_arch(arch: &str) -> PyResult<()> {
    ArchSpec::parse(arch).map(|_| ()).map_err(value_error)
}

fn build(arch: &str, shape: Shape) -> Result<Architecture, Failure> {
    Ok(ArchSpec::parse(arch)?.build(shape)?)
}

/// Exact NNGP and NTK kernels `(n1, n2)` of `arch` between `x1` and `x2`
/// (`None`: `x1` with itself).
#[pyfunction]
#[pyo3(signature = (arch, x1, x2=None, threads=None))]
fn kernels<'py>(
    py: Python<'py>,
    arch: &str,
    x1: PyReadonlyArrayDyn<'py, f64>,
    x2: Option<PyReadonlyArrayDyn<'py, f64>>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let d1 = slice(&x1, "x1")?;
    let s1 = sample_shape(x1.shape(), "x1").map_err(|f| f.into_py(None))?;
    let b = match &x2 {
        Some(x2) => {
            let s2 = sample_shape(x2.shape(), "x2").map_err(|f| f.into_py(None))?;
            if s2.1 != s1.1 {
                return Err(PyValueError::new_err(format!(
                    "x2's samples have shape {}, x1's {}",
                    s2.1, s1.1
                )));
            }
            Some((slice(x2, "x2")?, s2.0))
        }
        None => None,
    };
    let k = run(py, threads, |par, stop| {
        let a = build(arch, s1.1)?;
        let i1 = input(d1, s1.0, s1.1);
        let i2 = b.map(|(d, n)| input(d, n, s1.1));
        Ok(kernels_cancellable(&a, i1, i2, par, &mut |_, _| {
            control(stop)
        })?)
    })?;
    Ok((
        to_numpy(py, k.nngp.as_ref(), false)?,
        to_numpy(py, k.ntk.as_ref(), false)?,
    ))
}

/// Dual coefficients `(n, k)` of kernel ridge: `(K + αI) A = Y`.
#[pyfunction]
#[pyo3(signature = (k, y, alpha, threads=None))]
fn kernel_ridge<'py>(
    py: Python<'py>,
    k: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    alpha: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let (n, m) = (k.shape()[0], k.shape()[1]);
    let (ny, outputs) = (y.shape()[0], y.shape()[1]);
    let kd = k
        .as_slice()
        .map_err(|_| PyValueError::new_err("the kernel matrix must be C-contiguous"))?;
    let yd = y
        .as_slice()
        .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
    let coeffs = run(py, threads, |_, _| {
        if n != m {
            return Err(Failure::Usage(format!(
                "the training kernel must be square, got ({n}, {m})"
            )));
        }
        if ny != n {
            return Err(Failure::Usage(format!(
                "y has {ny} samples, the kernel {n}"
            )));
        }
        // C-order (n, n) read column-major is Kᵀ = K for a symmetric K;
        // the solver reads the lower triangle only.
        let kk = MatRef::from_column_major_slice(kd, n, n);
        // C-order (n, k) read column-major is the (k, n) targets the solver takes.
        let yy = MatRef::from_column_major_slice(yd, outputs, n);
        Ok(KernelRidge::fit(kk, yy, alpha)?.coefficients().to_owned())
    })?;
    to_numpy(py, coeffs.as_ref(), false)
}

/// A seeded feature map of one architecture for one sample shape: the same
/// object maps training and test samples with the same random maps.
#[pyclass(name = "_FeatureMap", module = "ntk._ntk", frozen)]
struct PyFeatureMap {
    map: AnyMap,
    description: String,
}

impl PyFeatureMap {
    /// Features `(n, D′)` of `x` under `m` (this object's map in `T`).
    fn features<'py, T: Real + numpy::Element>(
        &self,
        py: Python<'py>,
        m: &FeatureMap<T>,
        x: &PyReadonlyArrayDyn<'py, T>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let n = self.check_samples(x.shape(), "x")?;
        let data = slice(x, "x")?;
        let z = run(py, threads, |par, stop| {
            let mut z = Mat::<T>::zeros(m.dim(), n);
            apply(m, data, z.as_mut(), par, stop)?;
            Ok(z)
        })?;
        to_numpy(py, z.as_ref(), true)
    }

    fn input_shape(&self) -> Shape {
        self.map.input_shape()
    }
    fn check_samples(&self, shape: &[usize], what: &str) -> PyResult<usize> {
        let (n, s) = sample_shape(shape, what).map_err(|f| f.into_py(None))?;
        if s != self.input_shape() {
            return Err(PyValueError::new_err(format!(
                "{what}'s samples have shape {s}; this feature map was made for {}",
                self.input_shape()
            )));
        }
        Ok(n)
    }
}

fn apply<T: Real>(
    map: &FeatureMap<T>,
    x: &[T],
    out: faer::MatMut<'_, T>,
    par: Par,
    stop: &dyn Fn() -> bool,
) -> Result<(), Failure> {
    Ok(map.apply_into_cancellable(x, out, par, &mut |_, _| control(stop))?)
}

/// The pipeline's stream on `par`, stopped by `stop`, in blocks of
/// `ntk_pipeline::BLOCK` samples, as the CLI streams.
fn stream<'a>(par: Par, stop: &'a dyn Fn() -> bool) -> Stream<'a, Failure> {
    let mut s = Stream::new(par);
    s.stop = Some(stop);
    s
}

/// The options of a feature map, as `ntk/__init__.py` passes them (a dict
/// with every key; `None`: the library's default).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SpecArgs {
    dim: usize,
    method: String,
    kernel: String,
    seed: u64,
    dtype: String,
    degree: Option<usize>,
    tolerance: Option<f64>,
    max_degree: Option<usize>,
    inner_dim: Option<usize>,
    node_dim: Option<usize>,
    polynomial: String,
    match_tails: Option<bool>,
    calibrate: Option<bool>,
}

impl SpecArgs {
    fn spec(&self) -> PyResult<FeatureSpec> {
        let method: Method = self.method.parse().map_err(value_error)?;
        let kernel: KernelKind = self.kernel.parse().map_err(value_error)?;
        let dtype = match self.dtype.as_str() {
            "float32" => Precision::F32,
            "float64" => Precision::F64,
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype must be 'float32' or 'float64', got '{other}'"
                )));
            }
        };
        let options = Options {
            degree: self.degree,
            tolerance: self.tolerance,
            max_degree: self.max_degree,
            inner_dim: self.inner_dim,
            node_dim: self.node_dim,
            polynomial: self.polynomial.parse().map_err(value_error)?,
            match_tails: self.match_tails.into(),
            calibrate: self.calibrate.into(),
        };
        Ok(options.spec(self.dim, method, kernel, self.seed, dtype))
    }
}

#[pymethods]
impl PyFeatureMap {
    #[new]
    #[pyo3(signature = (arch, sample_shape, spec, fit_sample=None))]
    fn new(
        py: Python<'_>,
        arch: &str,
        sample_shape: Vec<usize>,
        spec: SpecArgs,
        fit_sample: Option<PyReadonlyArray2<'_, f64>>,
    ) -> PyResult<Self> {
        let shape = one_sample_shape(&sample_shape)?;
        let mut spec = spec.spec()?;
        // `polynomial="data"`: the (s, d) C-order sample is sample-major,
        // as the pipeline takes it.
        let sample: Option<(&[f64], usize)> = match (spec.config.polynomial, &fit_sample) {
            (Polynomial::Data, Some(a)) => Some((
                a.as_slice()
                    .map_err(|_| PyValueError::new_err("fit_sample must be C-contiguous"))?,
                a.shape()[0],
            )),
            (Polynomial::Data, None) => {
                return Err(PyValueError::new_err(
                    "polynomial='data' needs fit_sample: samples (s, d) to fit the polynomials on",
                ));
            }
            (_, Some(_)) => {
                return Err(PyValueError::new_err(
                    "fit_sample is only used with polynomial='data'",
                ));
            }
            (_, None) => None,
        };
        let (map, description) = run(py, Some(1), |_, _| {
            let a = build(arch, shape)?;
            if let Some((v, s)) = sample {
                spec.fit_polynomials(&a, v, s, shape)?;
            }
            Ok((AnyMap::new(&a, shape, &spec)?, a.to_string()))
        })?;
        Ok(Self { map, description })
    }

    /// Output dimension `D′`.
    #[getter]
    fn dim(&self) -> usize {
        self.map.dim()
    }

    /// Canonical architecture string.
    #[getter]
    fn arch(&self) -> String {
        self.description.clone()
    }

    /// Truncation degree of each activation layer.
    #[getter]
    fn degrees(&self) -> Vec<usize> {
        self.map.degrees()
    }

    /// Values per sample.
    #[getter]
    fn sample_len(&self) -> usize {
        self.map.sample_len()
    }

    /// Features `(n, D′)` of a float64 array.
    #[pyo3(signature = (x, threads=None))]
    fn apply_f64<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let AnyMap::F64(m) = &self.map else {
            return Err(PyValueError::new_err("this map takes float32 samples"));
        };
        self.features(py, m, &x, threads)
    }

    /// Features `(n, D′)` of a float32 array.
    #[pyo3(signature = (x, threads=None))]
    fn apply_f32<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let AnyMap::F32(m) = &self.map else {
            return Err(PyValueError::new_err("this map takes float64 samples"));
        };
        self.features(py, m, &x, threads)
    }

    /// Ridge weights `(D′, k)` of `(ZᵀZ + αI) W = Zᵀ Y`, the features
    /// streamed in blocks (never all held at once). `x` in the map's dtype
    /// (as float64 or float32 array), `y` float64 `(n, k)`.
    #[pyo3(signature = (x, y, alpha, threads=None))]
    fn ridge_fit<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: PyReadonlyArray2<'py, f64>,
        alpha: f64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (ny, outputs) = (y.shape()[0], y.shape()[1]);
        let yd = y
            .as_slice()
            .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
        // C-order (n, k) targets read column-major: the (k, n) the pipeline takes.
        let targets = |n: usize| Targets {
            y: MatRef::from_column_major_slice(yd, outputs, n),
            labels: None,
        };
        let map = &self.map;
        let fitted = match map {
            AnyMap::F64(_) => {
                let x: PyReadonlyArrayDyn<'py, f64> = x.extract()?;
                let n = self.check_samples(x.shape(), "x")?;
                let data = slice(&x, "x")?;
                same_samples(n, ny)?;
                run(py, threads, |par, stop| {
                    let mut s = stream(par, stop);
                    ntk_pipeline::fit(map, data, targets(n), Lambda::Given(alpha), &mut s)
                })?
            }
            AnyMap::F32(_) => {
                let x: PyReadonlyArrayDyn<'py, f32> = x.extract()?;
                let n = self.check_samples(x.shape(), "x")?;
                let data = slice(&x, "x")?;
                same_samples(n, ny)?;
                run(py, threads, |par, stop| {
                    let mut s = stream(par, stop);
                    ntk_pipeline::fit(map, data, targets(n), Lambda::Given(alpha), &mut s)
                })?
            }
        };
        to_numpy(py, fitted.weights.as_ref(), false)
    }

    /// One MPI rank's part of a primal feature ridge (`ntk.distributed`):
    /// the exact sums of the chunks `chunks` (of `ntk_pipeline::CHUNK`
    /// samples), whose rows `rows` start at sample `start`, with `first`
    /// the first `min(256, n)` samples of the whole set (they set the
    /// sums' grid). `y`: every sample's targets, `(n, k)`.
    #[pyo3(signature = (first, rows, start, y, alpha, chunks, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn shard<'py>(
        &self,
        py: Python<'py>,
        first: &Bound<'py, PyAny>,
        rows: &Bound<'py, PyAny>,
        start: usize,
        y: PyReadonlyArray2<'py, f64>,
        alpha: f64,
        chunks: (usize, usize),
        threads: Option<usize>,
    ) -> PyResult<PyShard> {
        let (n, outputs) = (y.shape()[0], y.shape()[1]);
        let yd = y
            .as_slice()
            .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
        let targets = Targets {
            y: MatRef::from_column_major_slice(yd, outputs, n),
            labels: None,
        };
        let map = &self.map;
        let range = chunks.0..chunks.1;
        let shard = match map {
            AnyMap::F64(_) => {
                let f: PyReadonlyArrayDyn<'py, f64> = first.extract()?;
                let r: PyReadonlyArrayDyn<'py, f64> = rows.extract()?;
                let (f, r) = (slice(&f, "first")?, slice(&r, "rows")?);
                run(py, threads, |par, stop| {
                    shard_rows(map, f, r, start, targets, alpha, range, par, stop)
                })?
            }
            AnyMap::F32(_) => {
                let f: PyReadonlyArrayDyn<'py, f32> = first.extract()?;
                let r: PyReadonlyArrayDyn<'py, f32> = rows.extract()?;
                let (f, r) = (slice(&f, "first")?, slice(&r, "rows")?);
                run(py, threads, |par, stop| {
                    shard_rows(map, f, r, start, targets, alpha, range, par, stop)
                })?
            }
        };
        Ok(PyShard(Some(shard)))
    }

    /// Predictions `(n, k)` of ridge weights `w: (D′, k)`, streamed.
    #[pyo3(signature = (x, w, threads=None))]
    fn ridge_predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        w: PyReadonlyArray2<'py, f64>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (rows, k) = (w.shape()[0], w.shape()[1]);
        if rows != self.map.dim() {
            return Err(PyValueError::new_err(format!(
                "weights have {rows} rows, the map {} features",
                self.map.dim()
            )));
        }
        let wd = w
            .as_slice()
            .map_err(|_| PyValueError::new_err("weights must be C-contiguous"))?;
        // C-order (D′, k) read column-major is Wᵀ; copy into W.
        let wt = MatRef::from_column_major_slice(wd, k, rows);
        let wm = wt.transpose().to_owned();
        let map = &self.map;
        let p = match map {
            AnyMap::F64(_) => {
                let x: PyReadonlyArrayDyn<'py, f64> = x.extract()?;
                self.check_samples(x.shape(), "x")?;
                let data = slice(&x, "x")?;
                run(py, threads, |par, stop| {
                    let mut s = stream(par, stop);
                    ntk_pipeline::predict(map, wm.as_ref(), data, &mut s)
                })?
            }
            AnyMap::F32(_) => {
                let x: PyReadonlyArrayDyn<'py, f32> = x.extract()?;
                self.check_samples(x.shape(), "x")?;
                let data = slice(&x, "x")?;
                run(py, threads, |par, stop| {
                    let mut s = stream(par, stop);
                    ntk_pipeline::predict(map, wm.as_ref(), data, &mut s)
                })?
            }
        };
        to_numpy(py, p.as_ref(), true)
    }
}

/// The sums of a range of chunks, its samples streamed as the CLI's
/// `featurise_shard` streams them: the first samples outside the range
/// (the grid), then the range.
#[allow(clippy::too_many_arguments)]
fn shard_rows<X: Copy + Into<f64> + Sync>(
    map: &AnyMap,
    first: &[X],
    rows: &[X],
    start: usize,
    targets: Targets<'_>,
    alpha: f64,
    range: std::ops::Range<usize>,
    par: Par,
    stop: &dyn Fn() -> bool,
) -> Result<Shard, Failure> {
    let n = targets.y.ncols();
    let size = map.sample_len();
    let mut fr =
        FeatureRidge::for_chunks(map, targets, Lambda::Given(alpha), CHUNK, range.clone())?;
    let (a, b) = ((range.start * CHUNK).min(n), (range.end * CHUNK).min(n));
    let s = SCALE_SAMPLES.min(n);
    if start != a || rows.len() != (b - a) * size || first.len() != s * size {
        return Err(Failure::Usage(format!(
            "a shard of samples {a}..{b} (and the first {s}) was given {} rows from sample \
             {start} and {} first rows",
            rows.len() / size.max(1),
            first.len() / size.max(1)
        )));
    }
    let mut segments: Vec<(std::ops::Range<usize>, &[X], usize)> = Vec::new();
    if a > 0 {
        segments.push((0..s.min(a), first, 0));
    }
    if b < s {
        segments.push((b..s, first, 0));
    }
    if b > a {
        segments.push((a..b, rows, a));
    }
    for (seg, src, base) in segments {
        let xs = &src[(seg.start - base) * size..(seg.end - base) * size];
        let mut st = stream(par, stop);
        map.stream(xs, &mut st, &mut |i, z| {
            Ok(fr.add(seg.start + i, z, par)?)
        })?;
    }
    Ok(fr.into_shard()?)
}

/// One rank's (or several merged ranks') exact sums of a primal feature
/// ridge with a given λ, as `ntk.distributed` moves them between ranks.
#[pyclass(name = "_Shard", module = "ntk._ntk")]
struct PyShard(Option<Shard>);

const SHARD_MAGIC: &[u8; 8] = b"NTKSHRD1";

impl PyShard {
    fn get(&self) -> PyResult<&Shard> {
        self.0
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))
    }
}

#[pymethods]
impl PyShard {
    /// The sums as bytes (sent between the ranks of one job; not a file
    /// format).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let sh = self.get()?;
        if !sh.val_indices().is_empty() {
            return Err(PyValueError::new_err("a shard with validation samples"));
        }
        let l = sh.layout();
        let sums = sh.sums();
        let mut out = Vec::with_capacity(64 + 16 * FixedGram::word_count(l.dim, l.outputs));
        out.extend_from_slice(SHARD_MAGIC);
        let f32s = matches!(sh.val_features(), ntk_pipeline::Block::F32(_));
        for v in [
            l.samples,
            l.chunk,
            l.dim,
            l.outputs,
            sums.samples(),
            usize::from(f32s),
        ] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        out.extend_from_slice(&sums.scale().gram.to_le_bytes());
        out.extend_from_slice(&sums.scale().cross.to_le_bytes());
        out.extend_from_slice(&(sh.ranges().len() as u64).to_le_bytes());
        for r in sh.ranges() {
            out.extend_from_slice(&(r.start as u64).to_le_bytes());
            out.extend_from_slice(&(r.end as u64).to_le_bytes());
        }
        for w in sums.words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        Ok(PyBytes::new(py, &out))
    }

    /// The inverse of `to_bytes`.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let bad = || PyValueError::new_err("not the bytes of a shard");
        if data.len() < 8 + 6 * 8 + 8 + 8 || &data[..8] != SHARD_MAGIC {
            return Err(bad());
        }
        let mut at = 8;
        let u64_at = |at: &mut usize| -> PyResult<u64> {
            let v = data.get(*at..*at + 8).ok_or_else(bad)?;
            *at += 8;
            Ok(u64::from_le_bytes(v.try_into().expect("8 bytes")))
        };
        let mut v = [0usize; 6];
        for x in &mut v {
            *x = u64_at(&mut at)? as usize;
        }
        let [samples, chunk, dim, outputs, fitted, f32s] = v;
        let scale = FixedScale {
            gram: i32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")),
            cross: i32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes")),
        };
        at += 8;
        let count = u64_at(&mut at)? as usize;
        let mut ranges = Vec::new();
        for _ in 0..count.min(data.len() / 16) {
            let a = u64_at(&mut at)? as usize;
            let b = u64_at(&mut at)? as usize;
            ranges.push(a..b);
        }
        let words = FixedGram::word_count(dim, outputs);
        if ranges.len() != count || data.len() != at + 16 * words {
            return Err(bad());
        }
        let sums = FixedGram::from_words(
            dim,
            outputs,
            scale,
            fitted,
            data[at..]
                .chunks_exact(16)
                .map(|c| i128::from_le_bytes(c.try_into().expect("16 bytes"))),
        )
        .map_err(value_error)?;
        let layout = Layout {
            samples,
            chunk,
            dim,
            outputs,
        };
        let val = if f32s == 1 {
            ValFeatures::F32(Mat::zeros(dim, 0))
        } else {
            ValFeatures::F64(Mat::zeros(dim, 0))
        };
        let shard = Shard::from_parts(
            layout,
            ranges,
            sums,
            val,
            Mat::zeros(outputs, 0),
            Vec::new(),
            Vec::new(),
        )
        .map_err(value_error)?;
        Ok(Self(Some(shard)))
    }

    /// Adds another shard of the same problem (any order: the same bits).
    fn merge(&mut self, other: &PyShard) -> PyResult<()> {
        let o = other.get()?;
        let s = self
            .0
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))?;
        s.merge(o).map_err(value_error)
    }

    /// The chunks not in this shard yet, as `(start, end)` ranges.
    fn missing(&self) -> PyResult<Vec<(usize, usize)>> {
        Ok(self
            .get()?
            .missing()
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect())
    }

    /// The ridge weights `(D′, k)` once every chunk is in (consumes the
    /// sums).
    #[pyo3(signature = (alpha, threads=None))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        alpha: f64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sh = self
            .0
            .take()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))?;
        let fitted = run(py, threads, move |par, _| {
            Ok(sh.finish(Lambda::Given(alpha), par)?)
        })?;
        to_numpy(py, fitted.weights.as_ref(), false)
    }
}

fn same_samples(n: usize, ny: usize) -> PyResult<()> {
    if n == ny {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!("y has {ny} samples, x {n}")))
    }
}

/// neural-tangents' `gradient_descent_mse_ensemble` on one regime's
/// kernels: `ntk_solve::MseEnsemble` with NumPy's layouts (C-order `(n, k)`
/// targets, cross kernels `K(X*, X)` of shape `(n*, n)` as neural-tangents
/// returns them).
#[pyclass(name = "_MseEnsemble", module = "ntk._ntk", frozen)]
struct PyMseEnsemble {
    inner: MseEnsemble,
    n: usize,
}

/// A C-order `(rows, cols)` array read column-major: its transpose, no copy.
fn transposed<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<MatRef<'a, f64>> {
    let (r, c) = (a.shape()[0], a.shape()[1]);
    let d = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))?;
    Ok(MatRef::from_column_major_slice(d, c, r))
}

#[pymethods]
impl PyMseEnsemble {
    #[new]
    #[pyo3(signature = (k_train, y, diag_reg, absolute, learning_rate))]
    fn new(
        py: Python<'_>,
        k_train: PyReadonlyArray2<'_, f64>,
        y: PyReadonlyArray2<'_, f64>,
        diag_reg: f64,
        absolute: bool,
        learning_rate: f64,
    ) -> PyResult<Self> {
        let n = k_train.shape()[0];
        // The solver reads the lower triangle of Kᵀ, i.e. the upper of K.
        let k = transposed(&k_train, "the training kernel")?;
        let yy = transposed(&y, "y_train")?;
        let reg = if absolute {
            DiagReg::Absolute(diag_reg)
        } else {
            DiagReg::Relative(diag_reg)
        };
        let inner = run(py, Some(1), |_, _| {
            Ok(MseEnsemble::new(k, yy, reg, learning_rate)?)
        })?;
        Ok(Self { inner, n })
    }

    /// Mean `(n*, k)` at time `t` (`inf`: the end of training) from `K(X*, X)`.
    fn mean<'py>(
        &self,
        py: Python<'py>,
        k_test_train: PyReadonlyArray2<'py, f64>,
        t: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kx = transposed(&k_test_train, "the test-train kernel")?;
        let m = run(py, Some(1), |_, _| Ok(self.inner.mean(kx, t)?))?;
        to_numpy(py, m.as_ref(), true)
    }

    /// NNGP regime: the covariance `(n*, n*)` at time `t`.
    fn nngp_covariance<'py>(
        &self,
        py: Python<'py>,
        k_test_train: PyReadonlyArray2<'py, f64>,
        k_test_test: PyReadonlyArray2<'py, f64>,
        t: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kx = transposed(&k_test_train, "the test-train kernel")?;
        let kt = transposed(&k_test_test, "the test-test kernel")?;
        // `kt` is K**ᵀ: its transpose is K** itself.
        let c = run(py, Some(1), |_, _| {
            Ok(self.inner.nngp_covariance(kx, kt.transpose(), t)?)
        })?;
        to_numpy(py, c.as_ref(), false)
    }

    /// NTK regime: the covariance `(n*, n*)` at time `t`, from the NTK
    /// test-train kernel and the NNGP train, test-train and test kernels.
    fn ntk_covariance<'py>(
        &self,
        py: Python<'py>,
        ntk_test_train: PyReadonlyArray2<'py, f64>,
        nngp_train: PyReadonlyArray2<'py, f64>,
        nngp_test_train: PyReadonlyArray2<'py, f64>,
        nngp_test: PyReadonlyArray2<'py, f64>,
        t: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = transposed(&ntk_test_train, "the NTK test-train kernel")?;
        let b = transposed(&nngp_train, "the NNGP training kernel")?;
        let c = transposed(&nngp_test_train, "the NNGP test-train kernel")?;
        let d = transposed(&nngp_test, "the NNGP test kernel")?;
        if b.nrows() != self.n {
            return Err(PyValueError::new_err(format!(
                "the NNGP training kernel has {} rows, the training set {}",
                b.nrows(),
                self.n
            )));
        }
        // `b` and `d` are Kᵀ and K**ᵀ: their transposes are the kernels.
        let cov = run(py, Some(1), |_, _| {
            Ok(self
                .inner
                .ntk_covariance(a, b.transpose(), c, d.transpose(), t)?)
        })?;
        to_numpy(py, cov.as_ref(), false)
    }
}

/// The compiled module.
#[pymodule]
fn _ntk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The fixed chunks of a primal feature ridge and the samples that set
    // its sums' grid (`ntk.distributed` cuts the data by them).
    m.add("CHUNK", CHUNK)?;
    m.add("SCALE_SAMPLES", SCALE_SAMPLES)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_ridge, m)?)?;
    m.add_function(wrap_pyfunction!(describe, m)?)?;
    m.add_function(wrap_pyfunction!(check_arch, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_class::<PyFeatureMap>()?;
    m.add_class::<PyShard>()?;
    m.add_class::<PyMseEnsemble>()?;
    Ok(())
}
