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
    ArchSpec, Architecture, FeatureMap, Input, KernelKind, Method, Polynomial, Real, Shape,
    kernels_cancellable,
};
use ntk_pipeline::{
    AnyMap, CHUNK, FeatureSpec, Lambda, Options, Precision, SCALE_SAMPLES, Targets,
};
use ntk_solve::{DiagReg, KernelRidge, MseEnsemble};
use numpy::{PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod call;
mod shard;
use call::{Failure, control, run, stream, to_numpy, value_error};
use shard::{PyShard, shard_rows};

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
