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

use std::io::Read;

use crate::arrays::Samples;
use crate::error::{Result, usage};
use ntk_data::npy;
use ntk_features::Shape;
use serde_json::{Value, json};

const MAGIC: &[u8; 8] = b"NTKMODEL";
pub(crate) const VERSION: u32 = 1;

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
    /// "ntk" or "nngp".
    pub(crate) kernel: String,
    pub(crate) task: Task,
    pub(crate) lambda: f64,
    pub(crate) x_train: Samples,
    /// `(n, k)` row-major.
    pub(crate) coefficients: Vec<f64>,
    pub(crate) outputs: usize,
}

impl Model {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = json!({
            "format": "ntk-model",
            "version": VERSION,
            "architecture": self.architecture,
            "kernel": self.kernel,
            "task": self.task.name(),
            "lambda": self.lambda,
            "outputs": self.outputs,
            "n_train": self.x_train.n,
            "input_shape": self.x_train.dims()[1..],
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
        Ok(out)
    }

    pub(crate) fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let bad = |reason: &str| usage(format!("{what}: not a valid ntk model file: {reason}"));
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(bad("missing the NTKMODEL magic bytes"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(&format!(
                "format version {version}; this ntk reads version {VERSION}"
            )));
        }
        let hlen = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let hlen = usize::try_from(hlen)
            .ok()
            .filter(|&h| h <= bytes.len() - 20)
            .ok_or_else(|| bad("truncated header"))?;
        let header: Value = serde_json::from_slice(&bytes[20..20 + hlen])
            .map_err(|e| bad(&format!("header is not JSON ({e})")))?;
        let field = |k: &str| {
            header
                .get(k)
                .ok_or_else(|| bad(&format!("header lacks '{k}'")))
        };
        let string = |k: &str| -> Result<String> {
            field(k)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("'{k}' is not a string")))
        };
        let architecture = string("architecture")?;
        let kernel = string("kernel")?;
        let task = match string("task")?.as_str() {
            "classify" => Task::Classify,
            "regress" => Task::Regress,
            other => return Err(bad(&format!("unknown task '{other}'"))),
        };
        let lambda = field("lambda")?
            .as_f64()
            .ok_or_else(|| bad("'lambda' is not a number"))?;
        let mut rest = &bytes[20 + hlen..];
        let x = npy::read_npy_stream(&mut rest, &format!("{what} (training inputs)"))?;
        let x_train = Samples::from_array(&x, &format!("{what} (training inputs)"))?;
        let a = npy::read_npy_stream(&mut rest, &format!("{what} (coefficients)"))?;
        let mut trailing = Vec::new();
        rest.read_to_end(&mut trailing)
            .map_err(|_| bad("unreadable"))?;
        if !trailing.is_empty() {
            return Err(bad("trailing bytes after the coefficients"));
        }
        let outputs = match a.shape.as_slice() {
            [n, k] if *n == x_train.n && *k > 0 => *k,
            other => {
                return Err(bad(&format!(
                    "coefficients have shape {other:?}, expected ({}, k)",
                    x_train.n
                )));
            }
        };
        Ok(Self {
            architecture,
            kernel,
            task,
            lambda,
            x_train,
            coefficients: a.to_f64(),
            outputs,
        })
    }

    pub(crate) fn input_shape(&self) -> Shape {
        self.x_train.shape
    }
}
