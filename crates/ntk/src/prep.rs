//! Input preprocessing of `ntk eval` and `ntk fit` (`--standardize`,
//! `--normalize`, `--zca REG`), in that order (the 2022 paper's CIFAR-10
//! order): every statistic comes from the training inputs only, the same
//! transform is applied to every input, and `ntk fit` stores it in the
//! model so that `ntk predict` applies it to new inputs.

use crate::arrays::Samples;
use crate::error::{Result, usage};
use faer::Mat;
use ntk_data::preprocess::{ChannelStats, Zca, normalize_samples};
use ntk_features::Shape;
use serde_json::{Value, json};

/// Largest sample size ZCA accepts: its `d × d` matrix (and the covariance
/// and eigenvectors beside it) is 2 GB each at this size.
pub(crate) const MAX_ZCA_DIM: usize = 16_384;

/// What the flags ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PrepFlags {
    pub(crate) standardize: bool,
    pub(crate) normalize: bool,
    pub(crate) zca: Option<f64>,
}

impl PrepFlags {
    pub(crate) fn any(&self) -> bool {
        self.standardize || self.normalize || self.zca.is_some()
    }
}

/// A fitted preprocessing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prep {
    /// Per channel (images) or per feature (vectors).
    pub(crate) standardize: Option<ChannelStats>,
    /// Each sample centred to mean 0 and scaled to unit norm.
    pub(crate) normalize: bool,
    /// The regularisation asked for and the fitted whitening.
    pub(crate) zca: Option<(f64, Zca)>,
}

fn channels(shape: Shape) -> usize {
    match shape {
        Shape::Vector { dim } => dim,
        Shape::Image { c, .. } => c,
    }
}

fn sample_len(x: &Samples) -> usize {
    x.data.len() / x.n
}

impl Prep {
    pub(crate) fn is_none(&self) -> bool {
        self.standardize.is_none() && !self.normalize && self.zca.is_none()
    }

    /// Fits on the training inputs and transforms them in place.
    pub(crate) fn fit(flags: PrepFlags, x: &mut Samples) -> Result<Self> {
        let mut prep = Self::default();
        if flags.standardize {
            let stats = ChannelStats::fit(&x.data, channels(x.shape))?;
            stats.standardize(&mut x.data)?;
            prep.standardize = Some(stats);
        }
        if flags.normalize {
            let len = sample_len(x);
            normalize_samples(&mut x.data, len)
                .map_err(|e| usage(format!("--normalize on the training inputs: {e}")))?;
            prep.normalize = true;
        }
        if let Some(reg) = flags.zca {
            let d = sample_len(x);
            if d > MAX_ZCA_DIM {
                return Err(usage(format!(
                    "--zca on samples of {d} values needs {d} x {d} matrices ({:.1} GB each); \
                     at most {MAX_ZCA_DIM} values per sample are accepted",
                    (d * d * 8) as f64 / 1e9
                )));
            }
            let zca = Zca::fit(&x.data, d, reg)?;
            zca.apply(&mut x.data)?;
            prep.zca = Some((reg, zca));
        }
        check_finite(x, "the preprocessed training inputs")?;
        Ok(prep)
    }

    /// Applies the fitted transform to inputs other than the training set.
    pub(crate) fn apply(&self, x: &mut Samples, what: &str) -> Result<()> {
        if let Some(stats) = &self.standardize {
            stats.standardize(&mut x.data)?;
        }
        if self.normalize {
            let len = sample_len(x);
            normalize_samples(&mut x.data, len)
                .map_err(|e| usage(format!("--normalize on {what}: {e}")))?;
        }
        if let Some((_, zca)) = &self.zca {
            zca.apply(&mut x.data)?;
        }
        check_finite(x, what)
    }

    /// The model header's record (`null` when nothing is done); the ZCA
    /// matrix itself is stored as a `.npy` stream (see [`Self::zca_matrix`]).
    pub(crate) fn to_json(&self) -> Value {
        if self.is_none() {
            return Value::Null;
        }
        json!({
            "order": ["standardize", "normalize", "zca"],
            "standardize": self.standardize.as_ref().map(|s| json!({"mean": s.mean, "std": s.std})),
            "normalize": self.normalize,
            "zca": self.zca.as_ref().map(|(reg, z)| json!({
                "reg": reg,
                "lambda": z.lambda,
                "dim": z.matrix.nrows(),
            })),
        })
    }

    /// `(d, d)` row-major whitening matrix, if ZCA is part of it.
    pub(crate) fn zca_matrix(&self) -> Option<(usize, Vec<f64>)> {
        self.zca.as_ref().map(|(_, z)| {
            let m = &z.matrix;
            let d = m.nrows();
            (
                d,
                (0..d)
                    .flat_map(|i| (0..d).map(move |j| m[(i, j)]))
                    .collect(),
            )
        })
    }

    /// Reads the header record back; `zca` supplies the matrix stream when
    /// the record names one (called only then, with the sample size);
    /// `shape` is the model's input shape, which the record must fit.
    pub(crate) fn from_json(
        v: Option<&Value>,
        shape: Shape,
        bad: &dyn Fn(&str) -> crate::error::CliError,
        zca: &mut dyn FnMut(usize) -> Result<Vec<f64>>,
    ) -> Result<Self> {
        let v = match v {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(v) => v,
        };
        let mut prep = Self::default();
        let size = match shape {
            Shape::Vector { dim } => dim,
            Shape::Image { h, w, c } => h * w * c,
        };
        match v.get("standardize") {
            None | Some(Value::Null) => {}
            Some(s) => {
                let list = |k: &str| -> Result<Vec<f64>> {
                    s.get(k)
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                        .filter(|a| a.len() == channels(shape) && a.iter().all(|x| x.is_finite()))
                        .ok_or_else(|| {
                            bad(&format!(
                                "preprocessing.standardize.{k} must list {} finite numbers",
                                channels(shape)
                            ))
                        })
                };
                let (mean, std) = (list("mean")?, list("std")?);
                if std.iter().any(|&s| s < 0.0) {
                    return Err(bad("preprocessing.standardize.std must be >= 0"));
                }
                prep.standardize = Some(ChannelStats { mean, std });
            }
        }
        prep.normalize = match v.get("normalize") {
            None | Some(Value::Null) => false,
            Some(b) => b
                .as_bool()
                .ok_or_else(|| bad("preprocessing.normalize must be true or false"))?,
        };
        match v.get("zca") {
            None | Some(Value::Null) => {}
            Some(z) => {
                let num = |k: &str| {
                    z.get(k)
                        .and_then(Value::as_f64)
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| bad(&format!("preprocessing.zca.{k} must be a number >= 0")))
                };
                let (reg, lambda) = (num("reg")?, num("lambda")?);
                if z.get("dim").and_then(Value::as_u64) != Some(size as u64) {
                    return Err(bad(&format!(
                        "preprocessing.zca.dim must equal the sample size {size}"
                    )));
                }
                let values = zca(size)?;
                if values.iter().any(|x| !x.is_finite()) {
                    return Err(bad("non-finite ZCA matrix"));
                }
                let matrix = Mat::from_fn(size, size, |i, j| values[i * size + j]);
                prep.zca = Some((reg, Zca { matrix, lambda }));
            }
        }
        Ok(prep)
    }
}

fn check_finite(x: &Samples, what: &str) -> Result<()> {
    match x.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(usage(format!(
            "{what}: preprocessing produced a non-finite value (sample {}, element {})",
            k / sample_len(x),
            k % sample_len(x)
        ))),
    }
}
