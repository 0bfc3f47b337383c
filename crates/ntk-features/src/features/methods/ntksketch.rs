//! `ntksketch` (Zandieh et al. 2021, Algorithm 1): each Relu layer's
//! arc-cosine kernels `κ₁`, `κ₀` replaced by polynomials — the 2021 code's
//! nonnegative monotone fits, their Taylor series, or fits weighted by a
//! sample of the data ([`FeatureConfig::fit_polynomials`]) — on the shared
//! polynomial stage, the norm carried exactly. Relu layers of vectors;
//! `cntksketch` is the same layer at every position of an image.

use super::interface::{ActCx, Built, FeatureMethod};
use super::poly;
use crate::arch::Architecture;
use crate::shape::Shape;
use crate::error::{FeatureError, Result};
use crate::features::coeffs::Coeffs;
use crate::features::config::{
    DEFAULT_POLY_DEGREE, FeatureConfig, MAX_FIT_SAMPLES, Method, Polynomial, ReluPolynomials,
};
use crate::plan::{Op, Plan, Step};
use crate::recursion::{pair_layers, vector_self};
use dual_activations::{Activation, DualActivation, polyfit, taylor};
use faer::MatRef;
use sketch_core::Real;

/// The `ntksketch` method.
pub(crate) struct NtkSketch;

impl FeatureMethod for NtkSketch {
    const NAME: &'static str = "ntksketch";
    const SUMMARY: &'static str =
        "Relu, vectors: arc-cosine polynomials, PolySketch (Zandieh et al. 2021)";
    // Its arc-cosine polynomials are not exact at ρ = 1, so the exact
    // diagonal would rescale every entry by the fit's error there.
    const CALIBRATES: bool = false;

    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        relu_layer(cx, dual, false)
    }

    fn finish(config: &FeatureConfig, activations: usize) -> Result<()> {
        if config.polynomial == Polynomial::Data && activations != config.data_polynomials.len() {
            return Err(FeatureError::InvalidOption {
                what: "data_polynomials",
                reason: format!(
                    "{} fitted layers for an architecture with {activations} Relu layers; fit them on this architecture",
                    config.data_polynomials.len()
                ),
            });
        }
        Ok(())
    }
}

/// A Relu layer of `ntksketch` (`image == false`) or `cntksketch`
/// (`image == true`): the other input kind and other activations are
/// refused.
pub(super) fn relu_layer<T: Real>(
    cx: &mut ActCx<'_>,
    dual: DualActivation,
    want_image: bool,
) -> Result<Built<T>> {
    let method = cx.config.method;
    if cx.image != want_image {
        return Err(cx.unsupported(if cx.image {
            "ntksketch is the fully connected method; for images use cntksketch (or hermite)".into()
        } else {
            "cntksketch is the convolutional method; for vectors use ntksketch (or hermite, onepass)".into()
        }));
    }
    if !matches!(dual.activation(), Activation::Relu) {
        return Err(cx.unsupported(format!(
            "{method} sketches the arc-cosine kernels of Relu only; use hermite (any activation)"
        )));
    }
    let degree = cx.config.degree.unwrap_or(DEFAULT_POLY_DEGREE);
    // Every earlier activation was a Relu (others are refused), so the
    // activation index is the Relu index.
    let coeffs = relu_coeffs(dual, cx.layer, cx.index, degree, cx.config)?;
    poly::layer(cx, coeffs)
}

/// `ntksketch`/`cntksketch` coefficients of the `h`-th Relu layer: the
/// arc-cosine polynomials `p₁ ≈ κ₁`, `p₀ ≈ κ₀` of degree `q`, scaled to
/// neural-tangents' Relu (`K = r_x r_y κ₁(ρ)/2`, `K̇ = κ₀(ρ)/2`).
fn relu_coeffs(
    dual: DualActivation,
    layer: usize,
    h: usize,
    degree: usize,
    config: &FeatureConfig,
) -> Result<Coeffs> {
    let err = |source| FeatureError::Activation { layer, source };
    let (p1, p0) = match config.polynomial {
        Polynomial::Fit => (
            polyfit::arccos1_fit(degree, h).map_err(err)?.coeffs,
            polyfit::arccos0_fit(degree, h).map_err(err)?.coeffs,
        ),
        Polynomial::Taylor => (
            taylor::arccos1_taylor(degree),
            taylor::arccos0_taylor(degree),
        ),
        Polynomial::Data => {
            let bad = |reason: String| FeatureError::InvalidOption {
                what: "data_polynomials",
                reason,
            };
            if config.method != Method::NtkSketch {
                return Err(bad(format!(
                    "data-fitted polynomials are for ntksketch, not {}",
                    config.method
                )));
            }
            let p = config.data_polynomials.get(h).ok_or_else(|| {
                bad(format!(
                    "no fitted polynomials for Relu layer {h} (layer {layer}): fit them on this architecture with fit_polynomials"
                ))
            })?;
            for c in [&p.kappa1, &p.kappa0] {
                if c.len() != degree + 1 {
                    return Err(bad(format!(
                        "Relu layer {h} has {} coefficients for degree {degree}; refit after changing the degree",
                        c.len()
                    )));
                }
                if let Some(v) = c.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                    return Err(bad(format!(
                        "coefficient {v} of Relu layer {h} is not finite and nonnegative"
                    )));
                }
            }
            (
                taylor::TaylorCoeffs(p.kappa1.clone()),
                taylor::TaylorCoeffs(p.kappa0.clone()),
            )
        }
    };
    let half_sqrt = |c: &f64| (c.max(0.0) / 2.0).sqrt();
    Ok(Coeffs::fixed(
        dual,
        layer,
        p1.coeffs().iter().map(half_sqrt).collect(),
        p0.coeffs().iter().map(half_sqrt).collect(),
    ))
}

impl FeatureConfig {
    /// Fits `ntksketch`'s arc-cosine polynomials to a sample of the data
    /// (columns of `sample`, `d × s`): for every Relu layer, the exact
    /// correlations `ρ` of the sample's `s(s + 1)/2` pairs entering it (the
    /// exact backend's recursion), weighted by their squared kernel scale
    /// (`q_x q_y` for `κ₁`, the squared NTK entering the layer for `κ₀`,
    /// off-diagonal pairs twice), then
    /// `dual_activations::polyfit::arccos1_data_fit`/`arccos0_data_fit` of
    /// degree `self.degree` (default [`DEFAULT_POLY_DEGREE`]). Sets
    /// `polynomial` to [`Polynomial::Data`] and `data_polynomials`. A few
    /// hundred samples suffice (the cost is `O(s²·L)`).
    ///
    /// # Errors
    /// [`FeatureError::InvalidOption`] unless the method is `ntksketch`, or
    /// for more than [`MAX_FIT_SAMPLES`] samples; [`FeatureError::Empty`],
    /// [`FeatureError::NonFinite`]; the plan's errors for an architecture
    /// that does not fit `d`-dimensional vectors; coefficient and fit
    /// errors of the activations.
    pub fn fit_polynomials(&mut self, arch: &Architecture, sample: MatRef<'_, f64>) -> Result<()> {
        self.validate()?;
        if self.method != Method::NtkSketch {
            return Err(FeatureError::InvalidOption {
                what: "polynomial",
                reason: format!(
                    "data-fitted polynomials are for ntksketch, not {}",
                    self.method
                ),
            });
        }
        let (d, s) = (sample.nrows(), sample.ncols());
        if d == 0 || s == 0 {
            return Err(FeatureError::Empty {
                what: "polynomial fit sample",
            });
        }
        if s > MAX_FIT_SAMPLES {
            return Err(FeatureError::InvalidOption {
                what: "polynomial",
                reason: format!(
                    "{s} fit samples; pass at most {MAX_FIT_SAMPLES} (a few hundred suffice)"
                ),
            });
        }
        for j in 0..s {
            if let Some(i) = (0..d).find(|&i| !sample[(i, j)].is_finite()) {
                return Err(FeatureError::NonFinite {
                    what: "polynomial fit sample",
                    sample: j,
                    index: i,
                });
            }
        }
        let plan = Plan::new(arch, Shape::Vector { dim: d })?;
        let degree = self.degree.unwrap_or(DEFAULT_POLY_DEGREE);
        // Each sample's variances before every step.
        let pre: Vec<Vec<f64>> = (0..s)
            .map(|j| {
                let q0 = (0..d).map(|i| sample[(i, j)].powi(2)).sum::<f64>() / d as f64;
                vector_self(&plan, q0).map(|v| v.0)
            })
            .collect::<Result<_>>()?;
        let pairs: Vec<(usize, usize)> = (0..s).flat_map(|j| (j..s).map(move |i| (i, j))).collect();
        let mut diag = vec![0; s];
        for (k, &(a, b)) in pairs.iter().enumerate() {
            if a == b {
                diag[a] = k;
            }
        }
        // Dimension that carries each layer's sketched part.
        let carrier = self.inner_dim.unwrap_or(self.dim) as f64;
        let mut q: Vec<f64> = pairs
            .iter()
            .map(|&(a, b)| (0..d).map(|i| sample[(i, a)] * sample[(i, b)]).sum::<f64>() / d as f64)
            .collect();
        let mut t = vec![0.0f64; pairs.len()];
        let mut fits = Vec::new();
        let fill = |l: usize, qa: &mut [f64], qb: &mut [f64]| {
            for (k, &(a, b)) in pairs.iter().enumerate() {
                qa[k] = pre[a][l];
                qb[k] = pre[b][l];
            }
        };
        // Each Relu layer is fitted to the correlations its pairs receive.
        let visit = |l: usize, step: &Step, q: &[f64], t: &[f64], qa: &[f64], qb: &[f64]| {
            if matches!(step.op, Op::Activation)
                && matches!(plan.dual(step).activation(), Activation::Relu)
            {
                let (mut rho, mut w1, mut w0) = (Vec::new(), Vec::new(), Vec::new());
                let mut v0 = 0.0;
                // The fitter uses the weights relative to their sum (and the
                // noise terms relative to the same sums), so each family is
                // scaled by its largest diagonal: no overflow for huge inputs.
                let qmax = pre.iter().fold(0.0f64, |m, p| m.max(p[l]));
                let tmax = diag.iter().fold(0.0f64, |m, &k| m.max(t[k].abs()));
                let tmax = if tmax > 0.0 { tmax } else { 1.0 };
                for (k, &(a, b)) in pairs.iter().enumerate() {
                    let v = (qa[k] / qmax) * (qb[k] / qmax);
                    // A zero-variance sample's kernel does not depend on ρ.
                    if v.is_nan() || v <= 0.0 {
                        continue;
                    }
                    let m = if a == b { 1.0 } else { 2.0 };
                    rho.push((q[k] / (qa[k].sqrt() * qb[k].sqrt())).clamp(-1.0, 1.0));
                    w1.push(m * v);
                    w0.push(m * (t[k] / tmax).powi(2));
                    v0 += m * (t[diag[a]] / tmax) * (t[diag[b]] / tmax);
                }
                let v1: f64 = w1.iter().sum();
                let err = |source| FeatureError::Activation {
                    layer: step.layer,
                    source,
                };
                let h = fits.len();
                let kappa1 =
                    polyfit::arccos1_data_fit(degree, h, &rho, &w1, v1 / carrier).map_err(err)?;
                let kappa0 =
                    polyfit::arccos0_data_fit(degree, h, &rho, &w0, v0 / carrier).map_err(err)?;
                fits.push(ReluPolynomials {
                    kappa1: kappa1.coeffs.coeffs().to_vec(),
                    kappa0: kappa0.coeffs.coeffs().to_vec(),
                });
            }
            Ok(())
        };
        pair_layers(&plan, &mut q, &mut t, fill, visit)?;
        self.polynomial = Polynomial::Data;
        self.data_polynomials = fits;
        Ok(())
    }
}
