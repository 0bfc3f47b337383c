//! What regenerates a feature map: [`FeatureSpec`] (the library's
//! configuration and the [`Precision`]), its JSON in models and summaries,
//! the [`Options`] both skins assemble it from, and the polynomials
//! `polynomial = data` fits to the training set. The random matrices are
//! never stored: the seed regenerates them.

use crate::error::{PipelineError, Result};
use faer::MatRef;
use ntk_features::{
    Architecture, FeatureConfig, KernelKind, Method, Polynomial, ReluPolynomials, Shape, Toggle,
};
use serde_json::{Value, json};

/// Precision of a feature map's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// `f32` features (the ridge still accumulates in `f64`).
    F32,
    /// `f64` features.
    F64,
}

impl Precision {
    /// Both, in the order the command line lists them.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::F64];

    /// The name used on the command line and in model files (`"f32"`, `"f64"`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes one value takes.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

impl core::fmt::Display for Precision {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| PipelineError::InvalidSpec {
                reason: format!("unknown feature dtype '{s}'"),
            })
    }
}

/// The optional choices of a feature map, as the command line and Python
/// take them (`None`: the library's default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Truncation degree.
    pub degree: Option<usize>,
    /// Relative tail tolerance for the automatic degree.
    pub tolerance: Option<f64>,
    /// Largest automatic degree.
    pub max_degree: Option<usize>,
    /// Per-sample (per-position) state budget.
    pub inner_dim: Option<usize>,
    /// PolySketch node dimension or random-feature width.
    pub node_dim: Option<usize>,
    /// Arc-cosine polynomials of `ntksketch` and `cntksketch`.
    pub polynomial: Polynomial,
    /// Tail matching of the Hermite coefficients.
    pub match_tails: Toggle,
    /// Scaling to the exact kernel diagonal.
    pub calibrate: Toggle,
}

/// The feature-map part of a model or a command: everything needed to
/// regenerate the same map (the random matrices are never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// The library's options.
    pub config: FeatureConfig,
    /// The precision of the features.
    pub dtype: Precision,
}

/// Samples `polynomial = data` fits on: enough for the correlations' spread
/// (the fit sees `s(s + 1)/2` pairs), cheap (`O(s²·L)`).
pub const FIT_SAMPLES: usize = 256;

/// The samples `polynomial = data` fits on, of `n`: `min(n, FIT_SAMPLES)`
/// evenly spaced indices (`⌊kn/s⌋`), so that a caller holding only these
/// samples fits the same polynomials (given them alone, in this order, they
/// are all chosen).
pub fn fit_sample_indices(n: usize) -> Vec<usize> {
    let s = n.min(FIT_SAMPLES);
    (0..s).map(|k| k * n / s.max(1)).collect()
}

impl Options {
    /// The spec of `dim` features of `method` approximating `kernel`,
    /// seeded by `seed`, in `dtype`, with these options (the library's
    /// defaults where they say `None`).
    pub fn spec(
        &self,
        dim: usize,
        method: Method,
        kernel: KernelKind,
        seed: u64,
        dtype: Precision,
    ) -> FeatureSpec {
        let mut config = FeatureConfig::new(dim, method, kernel, seed);
        config.degree = self.degree;
        if let Some(t) = self.tolerance {
            config.tolerance = t;
        }
        if let Some(m) = self.max_degree {
            config.max_degree = m;
        }
        config.inner_dim = self.inner_dim;
        config.node_dim = self.node_dim;
        config.polynomial = self.polynomial;
        config.match_tails = self.match_tails;
        config.calibrate = self.calibrate;
        FeatureSpec { config, dtype }
    }
}

impl FeatureSpec {
    /// `polynomial = data`: fits `ntksketch`'s arc-cosine polynomials to at
    /// most [`FIT_SAMPLES`] evenly spaced samples of `x` (`n` samples of
    /// `shape`, sample-major: the training set), unless the spec already
    /// holds them (a model being reused). Other polynomials: nothing to do.
    ///
    /// # Errors
    /// [`PipelineError::PolynomialsNeedVectors`] for images; the fit's own
    /// errors.
    pub fn fit_polynomials(
        &mut self,
        arch: &Architecture,
        x: &[f64],
        n: usize,
        shape: Shape,
    ) -> Result<()> {
        if self.config.polynomial != Polynomial::Data || !self.config.data_polynomials.is_empty() {
            return Ok(());
        }
        let Shape::Vector { dim } = shape else {
            return Err(PipelineError::PolynomialsNeedVectors);
        };
        if x.len() != n * dim {
            return Err(PipelineError::Shape {
                what: "values of the samples to fit polynomials on",
                expected: n * dim,
                got: x.len(),
            });
        }
        let idx = fit_sample_indices(n);
        let s = idx.len();
        let mut sample = Vec::with_capacity(s * dim);
        for i in idx {
            sample.extend_from_slice(&x[i * dim..(i + 1) * dim]);
        }
        self.config
            .fit_polynomials(arch, MatRef::from_column_major_slice(&sample, dim, s))?;
        Ok(())
    }

    /// The JSON form (model files, summaries): every option, `calibrate`
    /// resolved so that a later change of the default keeps the map.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        json!({
            "method": c.method.name(),
            "dim": c.dim,
            "kernel": c.kernel.name(),
            "seed": c.seed,
            "degree": c.degree,
            "tolerance": c.tolerance,
            "max_degree": c.max_degree,
            "inner_dim": c.inner_dim,
            "node_dim": c.node_dim,
            "match_tails": c.match_tails.forced(),
            "polynomial": c.polynomial.name(),
            "data_polynomials": c
                .data_polynomials
                .iter()
                .map(|p| json!({ "kappa1": p.kappa1, "kappa0": p.kappa0 }))
                .collect::<Vec<_>>(),
            // Resolved, so that a later change of the default keeps the map.
            "calibrate": c.calibrates(),
            "dtype": self.dtype.name(),
        })
    }

    /// Reads [`to_json`](Self::to_json)'s form back. Keys added after the
    /// first models (`polynomial`, `data_polynomials`, `calibrate`) may be
    /// absent and read as what those models were made with.
    ///
    /// # Errors
    /// [`PipelineError::InvalidSpec`] naming the key that is missing, of the
    /// wrong type, or holds an unknown name.
    pub fn from_json(v: &Value) -> Result<Self> {
        let bad = |reason: String| PipelineError::InvalidSpec { reason };
        let get = |k: &str| v.get(k).ok_or_else(|| bad(format!("features lack '{k}'")));
        let uint = |k: &str| -> Result<usize> {
            get(k)?
                .as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| bad(format!("features '{k}' is not a whole number")))
        };
        let opt_uint = |k: &str| -> Result<Option<usize>> {
            match get(k)? {
                Value::Null => Ok(None),
                _ => uint(k).map(Some),
            }
        };
        let text = |k: &str| -> Result<&str> {
            get(k)?
                .as_str()
                .ok_or_else(|| bad(format!("features '{k}' is not a string")))
        };
        let method: Method = text("method")?
            .parse()
            .map_err(|_| bad("unknown feature method".to_owned()))?;
        let kernel: KernelKind = {
            let k = text("kernel")?;
            k.parse()
                .map_err(|_| bad(format!("unknown feature kernel '{k}'")))?
        };
        let dtype: Precision = text("dtype")?.parse()?;
        let seed = get("seed")?
            .as_u64()
            .ok_or_else(|| bad("features 'seed' is not a whole number".to_owned()))?;
        let mut config = FeatureConfig::new(uint("dim")?, method, kernel, seed);
        config.degree = opt_uint("degree")?;
        config.tolerance = get("tolerance")?
            .as_f64()
            .ok_or_else(|| bad("features 'tolerance' is not a number".to_owned()))?;
        config.max_degree = uint("max_degree")?;
        config.inner_dim = opt_uint("inner_dim")?;
        config.node_dim = opt_uint("node_dim")?;
        config.match_tails = match get("match_tails")? {
            Value::Null => Toggle::Auto,
            Value::Bool(b) => Toggle::from(Some(*b)),
            _ => {
                return Err(bad(
                    "features 'match_tails' is not a boolean or null".to_owned()
                ));
            }
        };
        // Absent in models written before the 2021 methods: the default.
        config.polynomial = match v.get("polynomial") {
            None => Polynomial::default(),
            Some(p) => p.as_str().and_then(|p| p.parse().ok()).ok_or_else(|| {
                bad("features 'polynomial' is not fit, taylor or data".to_owned())
            })?,
        };
        // Absent in models written before data-fitted polynomials: none.
        config.data_polynomials = match v.get("data_polynomials") {
            None => Vec::new(),
            Some(Value::Array(layers)) => {
                let coeffs = |l: &Value, k: &str| -> Result<Vec<f64>> {
                    l.get(k)
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                        .ok_or_else(|| {
                            bad(format!(
                                "features 'data_polynomials' entry lacks a numeric '{k}' array"
                            ))
                        })
                };
                layers
                    .iter()
                    .map(|l| {
                        Ok(ReluPolynomials {
                            kappa1: coeffs(l, "kappa1")?,
                            kappa0: coeffs(l, "kappa0")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            Some(_) => {
                return Err(bad("features 'data_polynomials' is not an array".to_owned()));
            }
        };
        // Absent in models written before calibration existed: their
        // features were not calibrated.
        config.calibrate = match v.get("calibrate") {
            None => Toggle::Off,
            Some(Value::Bool(b)) => Toggle::from(Some(*b)),
            Some(_) => return Err(bad("features 'calibrate' is not a boolean".to_owned())),
        };
        Ok(Self { config, dtype })
    }
}
