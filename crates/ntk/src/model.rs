//! The model file written by `ntk fit` and read by `ntk predict`.
//!
//! Format version 1 (documented in docs/FORMATS.md):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `NTKMODEL` |
//! | 4 | format version, u32 little-endian (= 1) |
//! | 8 | header length `H`, u64 little-endian |
//! | H | UTF-8 JSON header (architecture, kernel, task, λ, shapes) |
//! | … | `.npy` stream: training inputs, f64, `(n, d)` or `(n, H, W, C)` |
//! | … | `.npy` stream: dual coefficients `A`, f64, `(n, k)` |
//!
//! Values are stored in binary f64, so a reloaded model predicts bit for
//! bit what the fitted one would.
//!
//! Format version 2 is a model on explicit features (`ntk fit --features`):
//! the same magic and header layout, a header with `"backend": "features"`
//! and the feature map's options (method, dimension, seed, …: enough to
//! regenerate the map, whose random matrices are never stored), then one
//! `.npy` stream of primal weights `W`, f64, `(D′, k)`.
//!
//! Both versions may carry a `"preprocessing"` header record (`ntk fit
//! --standardize / --normalize / --zca`; absent or `null`: none); when it
//! has ZCA, the whitening matrix follows the last stream as one more `.npy`
//! stream, f64, `(d, d)`.

use std::io::Read;

use crate::arrays::Samples;
use crate::error::{Result, usage};
use crate::prep::Prep;
use ntk_data::npy;
use ntk_features::{KernelKind, Shape};
use serde_json::{Value, json};

const MAGIC: &[u8; 8] = b"NTKMODEL";
pub(crate) const VERSION: u32 = 1;
/// Version of models on features.
pub(crate) const FEATURE_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    Classify,
    Regress,
}

impl Task {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Task::Classify => "classify",
            Task::Regress => "regress",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Canonical architecture string (presets expanded).
    pub(crate) architecture: String,
    /// Which kernel the coefficients are for.
    pub(crate) kernel: KernelKind,
    pub(crate) task: Task,
    pub(crate) lambda: f64,
    pub(crate) x_train: Samples,
    /// `(n, k)` row-major.
    pub(crate) coefficients: Vec<f64>,
    pub(crate) outputs: usize,
    /// Preprocessing fitted on the training inputs (`x_train` is stored
    /// after it), applied by `ntk predict` to new inputs.
    pub(crate) prep: Prep,
}

impl Model {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = json!({
            "format": "ntk-model",
            "version": VERSION,
            "architecture": self.architecture,
            "kernel": self.kernel.name(),
            "task": self.task.name(),
            "lambda": self.lambda,
            "outputs": self.outputs,
            "n_train": self.x_train.n,
            "input_shape": self.x_train.dims()[1..],
            "preprocessing": self.prep.to_json(),
            "written_by": concat!("ntk ", env!("CARGO_PKG_VERSION")),
        })
        .to_string();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        npy::write_npy(&mut out, &self.x_train.dims(), &self.x_train.data)?;
        npy::write_npy(
            &mut out,
            &[self.x_train.n, self.outputs],
            &self.coefficients,
        )?;
        write_prep(&mut out, &self.prep)?;
        Ok(out)
    }

    fn from_parts(header: &Value, rest: &[u8], what: &str) -> Result<Self> {
        let h = Header { v: header, what };
        let bad = |reason: &str| h.bad(reason);
        let architecture = h.string("architecture")?;
        let kernel = h.string("kernel")?;
        let kernel: KernelKind = kernel
            .parse()
            .map_err(|_| bad(&format!("unknown kernel '{kernel}' (ntk or nngp)")))?;
        let task = h.task()?;
        let lambda = h.lambda()?;
        let mut rest = rest;
        let x = npy::read_npy_stream(&mut rest, &format!("{what} (training inputs)"))?;
        let x_train = Samples::from_array(&x, &format!("{what} (training inputs)"))?;
        let a = npy::read_npy_stream(&mut rest, &format!("{what} (coefficients)"))?;
        let prep = h.prep(x_train.shape, &mut rest)?;
        h.end(rest, "last stream")?;
        let outputs = match a.shape.as_slice() {
            [n, k] if *n == x_train.n && *k > 0 => *k,
            other => {
                return Err(bad(&format!(
                    "coefficients have shape {other:?}, expected ({}, k)",
                    x_train.n
                )));
            }
        };
        let coefficients = a.to_f64();
        if coefficients.iter().any(|v| !v.is_finite()) {
            return Err(bad("non-finite coefficients"));
        }
        Ok(Self {
            architecture,
            kernel,
            task,
            lambda,
            x_train,
            coefficients,
            outputs,
            prep,
        })
    }

    pub(crate) fn input_shape(&self) -> Shape {
        self.x_train.shape
    }
}

/// The ZCA matrix stream of a preprocessing, if it has one.
fn write_prep(out: &mut Vec<u8>, prep: &Prep) -> Result<()> {
    if let Some((d, m)) = prep.zca_matrix() {
        npy::write_npy(out, &[d, d], &m)?;
    }
    Ok(())
}

/// A model file of either version.
#[derive(Debug, Clone)]
pub(crate) enum AnyModel {
    Exact(Model),
    Features(FeatureModel),
}

impl AnyModel {
    pub(crate) fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let bad = |reason: &str| usage(format!("{what}: not a valid ntk model file: {reason}"));
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(bad("missing the NTKMODEL magic bytes"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION && version != FEATURE_VERSION {
            return Err(bad(&format!(
                "format version {version}; this ntk reads versions {VERSION} and {FEATURE_VERSION}"
            )));
        }
        let hlen = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let hlen = usize::try_from(hlen)
            .ok()
            .filter(|&h| h <= bytes.len() - 20)
            .ok_or_else(|| bad("truncated header"))?;
        let header: Value = serde_json::from_slice(&bytes[20..20 + hlen])
            .map_err(|e| bad(&format!("header is not JSON ({e})")))?;
        let rest = &bytes[20 + hlen..];
        Ok(if version == VERSION {
            Self::Exact(Model::from_parts(&header, rest, what)?)
        } else {
            Self::Features(FeatureModel::from_parts(&header, rest, what)?)
        })
    }
}

/// Primal ridge on a regenerated feature map.
#[derive(Debug, Clone)]
pub(crate) struct FeatureModel {
    pub(crate) architecture: String,
    pub(crate) task: Task,
    pub(crate) lambda: f64,
    pub(crate) input_shape: Shape,
    pub(crate) spec: ntk_pipeline::FeatureSpec,
    /// Output dimension `D′` of the map when fitted.
    pub(crate) dim: usize,
    pub(crate) outputs: usize,
    /// `(D′, k)` row-major.
    pub(crate) weights: Vec<f64>,
    /// Preprocessing fitted on the training inputs.
    pub(crate) prep: Prep,
}

fn shape_dims(s: Shape) -> Vec<usize> {
    match s {
        Shape::Vector { dim } => vec![dim],
        Shape::Image { h, w, c } => vec![h, w, c],
    }
}

impl FeatureModel {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = json!({
            "format": "ntk-model",
            "version": FEATURE_VERSION,
            "backend": "features",
            "architecture": self.architecture,
            "task": self.task.name(),
            "lambda": self.lambda,
            "outputs": self.outputs,
            "dim": self.dim,
            "input_shape": shape_dims(self.input_shape),
            "features": self.spec.to_json(),
            "preprocessing": self.prep.to_json(),
            "written_by": concat!("ntk ", env!("CARGO_PKG_VERSION")),
        })
        .to_string();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FEATURE_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        npy::write_npy(&mut out, &[self.dim, self.outputs], &self.weights)?;
        write_prep(&mut out, &self.prep)?;
        Ok(out)
    }

    fn from_parts(header: &Value, rest: &[u8], what: &str) -> Result<Self> {
        let h = Header { v: header, what };
        let bad = |reason: &str| h.bad(reason);
        let field = |k: &str| h.field(k);
        if h.string("backend")? != "features" {
            return Err(bad("version 2 models must have backend 'features'"));
        }
        let architecture = h.string("architecture")?;
        let task = h.task()?;
        let lambda = h.lambda()?;
        let dims: Vec<usize> = field("input_shape")?
            .as_array()
            .ok_or_else(|| bad("'input_shape' is not a list"))?
            .iter()
            .map(|v| v.as_u64().and_then(|x| usize::try_from(x).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("'input_shape' holds a non-integer"))?;
        let input_shape = match dims.as_slice() {
            [d] if *d > 0 => Shape::Vector { dim: *d },
            [h, w, c] if h * w * c > 0 => Shape::Image {
                h: *h,
                w: *w,
                c: *c,
            },
            _ => return Err(bad("'input_shape' must be [d] or [h, w, c]")),
        };
        let spec = ntk_pipeline::FeatureSpec::from_json(field("features")?)
            .map_err(|e| bad(&e.to_string()))?;
        let mut rest = rest;
        let w = npy::read_npy_stream(&mut rest, &format!("{what} (weights)"))?;
        let prep = h.prep(input_shape, &mut rest)?;
        h.end(rest, "last stream")?;
        let (dim, outputs) = match w.shape.as_slice() {
            [d, k] if *d > 0 && *k > 0 => (*d, *k),
            other => {
                return Err(bad(&format!(
                    "weights have shape {other:?}, expected (D, k)"
                )));
            }
        };
        let weights = w.to_f64();
        if weights.iter().any(|v| !v.is_finite()) {
            return Err(bad("non-finite weights"));
        }
        Ok(Self {
            architecture,
            task,
            lambda,
            input_shape,
            spec,
            dim,
            outputs,
            weights,
            prep,
        })
    }
}

/// Reading a model header: every failure names the file and the key.
struct Header<'a> {
    v: &'a Value,
    what: &'a str,
}

impl Header<'_> {
    fn bad(&self, reason: &str) -> crate::error::CliError {
        usage(format!(
            "{}: not a valid ntk model file: {reason}",
            self.what
        ))
    }
    fn field(&self, k: &str) -> Result<&Value> {
        self.v
            .get(k)
            .ok_or_else(|| self.bad(&format!("header lacks '{k}'")))
    }
    fn string(&self, k: &str) -> Result<String> {
        self.field(k)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.bad(&format!("'{k}' is not a string")))
    }
    fn task(&self) -> Result<Task> {
        match self.string("task")?.as_str() {
            "classify" => Ok(Task::Classify),
            "regress" => Ok(Task::Regress),
            other => Err(self.bad(&format!("unknown task '{other}'"))),
        }
    }
    fn lambda(&self) -> Result<f64> {
        self.field("lambda")?
            .as_f64()
            .filter(|l| l.is_finite() && *l >= 0.0)
            .ok_or_else(|| self.bad("'lambda' is not a finite number >= 0"))
    }
    /// The preprocessing record and, when it has ZCA, the matrix stream
    /// that follows the model's last stream.
    fn prep(&self, shape: Shape, rest: &mut &[u8]) -> Result<Prep> {
        let what = self.what;
        Prep::from_json(
            self.v.get("preprocessing"),
            shape,
            &|r: &str| self.bad(r),
            &mut |d| {
                let m = npy::read_npy_stream(rest, &format!("{what} (ZCA matrix)"))?;
                if m.shape != [d, d] {
                    return Err(self.bad(&format!(
                        "the ZCA matrix has shape {:?}, expected ({d}, {d})",
                        m.shape
                    )));
                }
                Ok(m.to_f64())
            },
        )
    }
    /// Nothing may follow the last stream.
    fn end(&self, mut rest: &[u8], after: &str) -> Result<()> {
        let mut trailing = Vec::new();
        rest.read_to_end(&mut trailing)
            .map_err(|_| self.bad("unreadable"))?;
        if trailing.is_empty() {
            Ok(())
        } else {
            Err(self.bad(&format!("trailing bytes after the {after}")))
        }
    }
}
