//! What regenerates a feature map: [`FeatureSpec`] (the library's
//! configuration and the precision), its JSON in models and summaries, and
//! the polynomials `--polynomial data` fits to the training set. The random
//! matrices are never stored: the seed regenerates them.

use crate::arrays::Samples;
use crate::error::{Result, usage};
use faer::MatRef;
use ntk_features::{
    Architecture, FeatureConfig, Method, Polynomial, ReluPolynomials, Shape, Toggle,
};
use serde_json::{Value, json};

/// Precision of a feature map's values (`--dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    F32,
    F64,
}

impl Precision {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// The feature-map part of a model or a command: everything needed to
/// regenerate the same map (the random matrices are never stored).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureSpec {
    pub(crate) config: FeatureConfig,
    pub(crate) dtype: Precision,
}

impl FeatureSpec {
    /// `--polynomial data`: fits `ntksketch`'s arc-cosine polynomials to at
    /// most [`FIT_SAMPLES`] evenly spaced samples of `x` (the training set),
    /// unless the spec already holds them (a model being reused).
    pub(crate) fn fit_polynomials(&mut self, arch: &Architecture, x: &Samples) -> Result<()> {
        if self.config.polynomial != Polynomial::Data || !self.config.data_polynomials.is_empty() {
            return Ok(());
        }
        let Shape::Vector { dim } = x.shape else {
            return Err(usage(
                "--polynomial data fits ntksketch's polynomials to vector inputs; images use cntksketch's fits",
            ));
        };
        let s = x.n.min(FIT_SAMPLES);
        let mut sample = Vec::with_capacity(s * dim);
        for k in 0..s {
            let i = k * x.n / s.max(1);
            sample.extend_from_slice(&x.data[i * dim..(i + 1) * dim]);
        }
        self.config
            .fit_polynomials(arch, MatRef::from_column_major_slice(&sample, dim, s))?;
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Value {
        let c = &self.config;
        json!({
            "method": c.method.name(),
            "dim": c.dim,
            "kernel": match c.kernel { ntk_features::KernelKind::Ntk => "ntk", ntk_features::KernelKind::Nngp => "nngp" },
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

    pub(crate) fn from_json(
        v: &Value,
        bad: &dyn Fn(&str) -> crate::error::CliError,
    ) -> Result<Self> {
        let get = |k: &str| v.get(k).ok_or_else(|| bad(&format!("features lack '{k}'")));
        let uint = |k: &str| -> Result<usize> {
            get(k)?
                .as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| bad(&format!("features '{k}' is not a whole number")))
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
                .ok_or_else(|| bad(&format!("features '{k}' is not a string")))
        };
        let method: Method = text("method")?
            .parse()
            .map_err(|_| bad("unknown feature method"))?;
        let kernel = match text("kernel")? {
            "ntk" => ntk_features::KernelKind::Ntk,
            "nngp" => ntk_features::KernelKind::Nngp,
            other => return Err(bad(&format!("unknown feature kernel '{other}'"))),
        };
        let dtype = match text("dtype")? {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => return Err(bad(&format!("unknown feature dtype '{other}'"))),
        };
        let seed = get("seed")?
            .as_u64()
            .ok_or_else(|| bad("features 'seed' is not a whole number"))?;
        let mut config = FeatureConfig::new(uint("dim")?, method, kernel, seed);
        config.degree = opt_uint("degree")?;
        config.tolerance = get("tolerance")?
            .as_f64()
            .ok_or_else(|| bad("features 'tolerance' is not a number"))?;
        config.max_degree = uint("max_degree")?;
        config.inner_dim = opt_uint("inner_dim")?;
        config.node_dim = opt_uint("node_dim")?;
        config.match_tails = match get("match_tails")? {
            Value::Null => Toggle::Auto,
            Value::Bool(b) => Toggle::from(Some(*b)),
            _ => return Err(bad("features 'match_tails' is not a boolean or null")),
        };
        // Absent in models written before the 2021 methods: the default.
        config.polynomial = match v.get("polynomial") {
            None => ntk_features::Polynomial::default(),
            Some(p) => p
                .as_str()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("features 'polynomial' is not fit, taylor or data"))?,
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
                            bad(&format!(
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
            Some(_) => return Err(bad("features 'data_polynomials' is not an array")),
        };
        // Absent in models written before calibration existed: their
        // features were not calibrated.
        config.calibrate = match v.get("calibrate") {
            None => Toggle::Off,
            Some(Value::Bool(b)) => Toggle::from(Some(*b)),
            Some(_) => return Err(bad("features 'calibrate' is not a boolean")),
        };
        Ok(Self { config, dtype })
    }
}

/// Samples `--polynomial data` fits on: enough for the correlations' spread
/// (the fit sees `s(s + 1)/2` pairs), cheap (`O(s²·L)`).
const FIT_SAMPLES: usize = 256;
