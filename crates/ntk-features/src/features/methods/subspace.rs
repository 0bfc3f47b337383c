//! `subspace`: the subspace embedding of homogeneous networks (Han et al.
//! 2022, §4.5), and the two quantities that describe it, the statistical
//! dimension `s_λ = tr(K(K + λI)⁻¹)` and the spectral error `ε`.
//!
//! A network of Dense layers without bias and degree-1 homogeneous
//! activations has `K(x, y) = ‖x‖‖y‖/d · G(ρ)` with `G(ρ) = Σ_j c_j ρ^j`,
//! `c_j ≥ 0`. The Taylor coefficients of `G` are computed exactly up to the
//! truncation degree by composing the layers' unit-norm dual series
//! (`dual_activations::taylor::homogeneous_dual_taylor`: `K(q, q, c) =
//! q·k(c/q)`, `K̇(q, q, c) = k̇(c/q)`) as truncated power series — every
//! product and composition truncated at degree `q` is exact in degrees
//! `≤ q`; the only approximation is the layers' own series, taken to degree
//! [`SERIES_TERMS`], whose omitted terms reach degree `≤ q` of the composite
//! only through powers of an inner series with constant term `< 1`.
//! The features are `[√c₀·r; √c₁·r·u; √c_j·r·S_j(u) for j = 2..q]` with
//! `r = ‖x‖/√d`, `u = x/‖x‖` and `S_j` an independent degree-`j`
//! PolySketch per degree, its dimension `m_j` proportional to `c_j` (the
//! degree's share of the diagonal): no compression mixes the degrees.

use super::homogeneous::{homogeneous, unit_kernel};
use super::interface::{FeatureMethod, WholeCx};
use crate::error::{FeatureError, Result};
use crate::features::map::{FeatureMap, WholeMap};
use crate::features::recipe::Seeds;
use crate::features::stage::ActStage;
use crate::features::config::KernelKind;
use crate::features::state::{State, Variances, Workspace};
use crate::plan::{Op, Plan};
use crate::recursion::vector_self;
use dual_activations::taylor::homogeneous_dual_taylor;
use faer::{Mat, MatRef, Side};
use sketch_core::num_complex::Complex;
use sketch_core::{PolySketch, Real, ScratchLen, Seed, Sketch, Transform};

/// The `subspace` method.
pub(crate) struct Subspace;

impl FeatureMethod for Subspace {
    const NAME: &'static str = "subspace";
    const SUMMARY: &'static str =
        "homogeneous networks: the exact Taylor series, one sketch per degree (Han et al. 2022)";
    // The sketch of one polynomial; the diagonal is the polynomial's.
    const CALIBRATES: bool = false;

    fn whole_network<T: Real>(cx: &WholeCx<'_>, plan: Plan<'_>) -> Option<Result<FeatureMap<T>>> {
        Some(build(cx, plan))
    }
}

fn build<T: Real>(cx: &WholeCx<'_>, plan: Plan<'_>) -> Result<FeatureMap<T>> {
    let config = cx.config;
    let d = homogeneous(cx, &plan)?.d;
    let mut seeds = Seeds::new(config.seed);
    let degree = match config.degree {
        Some(q) => q,
        None => auto_degree(&plan, config.kernel, config.tolerance, config.max_degree)?,
    };
    let c = network_series(&plan, config.kernel, degree)?;
    let g1 = unit_kernel(&plan, &[1.0], config.kernel)?[0];
    let tail = (g1 - c.iter().sum::<f64>()).max(0.0);
    let act = SubspaceAct::<T>::new(&c, d, config.dim, &mut || seeds.next())?;
    let phi = act.dim_out;
    Ok(FeatureMap::whole(
        cx.arch,
        cx.input,
        config,
        plan,
        WholeMap {
            stage: Box::new(act),
            phi,
            hphi: 0,
            input_head: 0,
            fit: (c, tail),
        },
    ))
}

/// Terms of each layer's own dual series.
pub(crate) const SERIES_TERMS: usize = 64;

/// `a·b` truncated to `n` terms.
fn mul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for (i, x) in a.iter().enumerate().take(n) {
        for (j, y) in b.iter().enumerate().take(n - i) {
            out[i + j] += x * y;
        }
    }
    out
}

/// `k(r(ρ))` truncated to `n` terms (Horner in series arithmetic).
fn compose(k: &[f64], r: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for c in k.iter().rev() {
        out = mul(&out, r, n);
        out[0] += c;
    }
    out
}

/// Taylor coefficients `c_0..c_q` of the whole network's `G` (unit input
/// variance), NNGP or NTK.
pub(crate) fn network_series(plan: &Plan<'_>, kernel: KernelKind, q: usize) -> Result<Vec<f64>> {
    let n = q + 1;
    let pre = vector_self(plan, 1.0)?.0;
    // Σ(ρ) and Θ(ρ) as series in the input correlation ρ.
    let mut sig = vec![0.0; n];
    if n > 1 {
        sig[1] = 1.0;
    }
    let mut th = vec![0.0; n];
    for (l, step) in plan.steps.iter().enumerate() {
        match step.op {
            Op::Dense { w_std, .. } => {
                let w2 = w_std * w_std;
                sig.iter_mut().for_each(|v| *v *= w2);
                for (t, s) in th.iter_mut().zip(&sig) {
                    *t = s + w2 * *t;
                }
            }
            Op::Activation => {
                let q0 = pre[l];
                let (k, kd) =
                    homogeneous_dual_taylor(plan.dual(step), SERIES_TERMS).map_err(|source| {
                        FeatureError::Activation {
                            layer: step.layer,
                            source,
                        }
                    })?;
                // The correlation series (a zero variance leaves a zero kernel).
                let r: Vec<f64> = if q0 > 0.0 {
                    sig.iter().map(|v| v / q0).collect()
                } else {
                    vec![0.0; n]
                };
                let dot = compose(kd.coeffs(), &r, n);
                sig = compose(k.coeffs(), &r, n)
                    .into_iter()
                    .map(|v| q0 * v)
                    .collect();
                th = mul(&th, &dot, n);
            }
            _ => {}
        }
    }
    let out = match kernel {
        KernelKind::Nngp => sig,
        KernelKind::Ntk => th,
    };
    // Rounding-level negatives of a series with nonnegative terms.
    Ok(out.into_iter().map(|v| v.max(0.0)).collect())
}

/// The smallest degree `≤ max_degree` whose relative tail `1 − Σ_{j≤q}
/// c_j/G(1)` is at most `tolerance`.
pub(crate) fn auto_degree(
    plan: &Plan<'_>,
    kernel: KernelKind,
    tolerance: f64,
    max_degree: usize,
) -> Result<usize> {
    let g1 = unit_kernel(plan, &[1.0], kernel)?[0];
    let c = network_series(plan, kernel, max_degree)?;
    let mut acc = 0.0;
    for (j, v) in c.iter().enumerate() {
        acc += v;
        if g1 <= 0.0 || (g1 - acc) <= tolerance * g1 {
            return Ok(j.max(1));
        }
    }
    Ok(max_degree)
}

/// The subspace stage: exact degrees 0 and 1, one PolySketch per higher degree.
#[derive(Debug)]
pub(crate) struct SubspaceAct<T: Real> {
    /// `√c_j`.
    pub(crate) a: Vec<f64>,
    pub(crate) d: usize,
    /// `(degree, sketch)` for every degree ≥ 2 with `c_j > 0`.
    pub(crate) trees: Vec<(usize, PolySketch<T>)>,
    pub(crate) dim_out: usize,
}

impl<T: Real> SubspaceAct<T> {
    /// Splits the budget `dim − 1 − d` over the degrees `≥ 2` in proportion
    /// to `c_j` (at least one coordinate each).
    pub(crate) fn new(
        c: &[f64],
        d: usize,
        dim: usize,
        next_seed: &mut dyn FnMut() -> Seed,
    ) -> Result<Self> {
        let high: Vec<usize> = (2..c.len()).filter(|&j| c[j] > 0.0).collect();
        let budget = dim.saturating_sub(1 + d);
        if dim < 1 + d + high.len() {
            return Err(FeatureError::InvalidOption {
                what: "dim",
                reason: format!(
                    "subspace keeps the input's {d} coordinates exactly and needs at least one more per degree: D ≥ {}",
                    1 + d + high.len()
                ),
            });
        }
        let total: f64 = high.iter().map(|&j| c[j]).sum();
        let mut m: Vec<usize> = high
            .iter()
            .map(|&j| ((budget as f64 * c[j] / total).floor() as usize).max(1))
            .collect();
        // Rounding up to one coordinate may overshoot: trim the largest.
        while m.iter().sum::<usize>() > budget {
            let k = (0..m.len()).max_by_key(|&k| m[k]).unwrap_or(0);
            m[k] -= 1;
        }
        let mut trees = Vec::with_capacity(high.len());
        for (&j, &mj) in high.iter().zip(&m) {
            trees.push((
                j,
                PolySketch::new(d, mj, j, Transform::Hadamard, next_seed())?,
            ));
        }
        Ok(Self {
            a: c.iter().map(|v| v.sqrt()).collect(),
            d,
            dim_out: 1 + d + m.iter().sum::<usize>(),
            trees,
        })
    }

    fn scratch_len(&self) -> ScratchLen {
        self.trees
            .iter()
            .fold(ScratchLen::default(), |s, (_, t)| s.max(t.scratch_len()))
    }

    /// `φ` (the input `x/√d`) into `out` (`dim_out` values).
    fn apply_one(
        &self,
        phi: &[T],
        out: &mut [T],
        u: &mut Vec<T>,
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        let r = phi
            .iter()
            .map(|v| v.as_f64() * v.as_f64())
            .sum::<f64>()
            .sqrt();
        out.iter_mut().for_each(|v| *v = T::zero());
        out[0] = T::cast(self.a[0] * r);
        if r == 0.0 {
            return;
        }
        u.clear();
        u.extend(phi.iter().map(|v| T::cast(v.as_f64() / r)));
        let a1 = T::cast(self.a.get(1).copied().unwrap_or(0.0) * r);
        out[1..1 + self.d]
            .iter_mut()
            .zip(u.iter())
            .for_each(|(o, v)| *o = *v * a1);
        let mut at = 1 + self.d;
        for (j, t) in &self.trees {
            let m = t.dim_out();
            let dst = &mut out[at..at + m];
            t.apply_one(u, dst, real, complex);
            let s = T::cast(self.a[*j] * r);
            dst.iter_mut().for_each(|v| *v *= s);
            at += m;
        }
    }
}

impl<T: Real> ActStage<T> for SubspaceAct<T> {
    fn apply(
        &self,
        states: &mut [State<T>],
        _vars: &[Variances],
        ws: &mut Workspace<T>,
    ) -> Result<()> {
        for st in states {
            let mut out = vec![T::zero(); self.dim_out];
            self.apply_one(&st.phi, &mut out, &mut ws.u, &mut ws.real, &mut ws.complex);
            st.phi = out;
            st.dphi = self.dim_out;
            st.hphi = 0;
        }
        Ok(())
    }

    fn scratch(&self) -> ScratchLen {
        self.scratch_len()
    }
}

/// `s_λ = tr(K(K + λI)⁻¹) = Σ μ_i/(μ_i + λ)` over the eigenvalues of the
/// symmetric kernel `k` (negative rounding-level eigenvalues count as 0).
///
/// # Errors
/// [`FeatureError::InvalidOption`] for `λ ≤ 0` or non-finite;
/// [`FeatureError::DimMismatch`] for a non-square `k`;
/// [`FeatureError::NonFiniteOutput`] if the eigensolver fails.
pub fn statistical_dimension(k: MatRef<'_, f64>, lambda: f64) -> Result<f64> {
    check(k, lambda)?;
    let mu = eigenvalues(k)?;
    Ok(mu.iter().map(|m| m.max(0.0) / (m.max(0.0) + lambda)).sum())
}

/// The spectral error `ε = max_i |μ_i − 1|` over the eigenvalues of
/// `(K + λI)^{−1/2}(ZᵀZ + λI)(K + λI)^{−1/2}` (features `z: (D, n)`), the
/// smallest `ε` with `(1 − ε)(K + λI) ≼ ZᵀZ + λI ≼ (1 + ε)(K + λI)`.
///
/// # Errors
/// As [`statistical_dimension`]; [`FeatureError::DimMismatch`] when `z` has
/// not `n` columns; [`FeatureError::InvalidOption`] when `K + λI` is not
/// positive definite (a kernel that is not positive semidefinite beyond `λ`).
pub fn spectral_error<T: Real>(z: MatRef<'_, T>, k: MatRef<'_, f64>, lambda: f64) -> Result<f64> {
    check(k, lambda)?;
    let n = k.nrows();
    if z.ncols() != n {
        return Err(FeatureError::DimMismatch {
            what: "feature columns (one per kernel row)",
            expected: n,
            got: z.ncols(),
        });
    }
    let kl = Mat::<f64>::from_fn(n, n, |i, j| k[(i, j)] + if i == j { lambda } else { 0.0 });
    let llt = kl
        .llt(Side::Lower)
        .map_err(|_| FeatureError::InvalidOption {
            what: "lambda",
            reason: "K + λI is not positive definite".into(),
        })?;
    let l = llt.L();
    let z64 = Mat::<f64>::from_fn(z.nrows(), n, |i, j| z[(i, j)].as_f64());
    let mut g = z64.transpose() * &z64;
    for i in 0..n {
        g[(i, i)] += lambda;
    }
    // M = L⁻¹ G L⁻ᵀ: two triangular solves.
    l.solve_lower_triangular_in_place(g.as_mut());
    let mut gt = g.transpose().to_owned();
    l.solve_lower_triangular_in_place(gt.as_mut());
    let sym = Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (gt[(i, j)] + gt[(j, i)]));
    let mu = eigenvalues(sym.as_ref())?;
    Ok(mu.iter().map(|m| (m - 1.0).abs()).fold(0.0, f64::max))
}

/// Eigenvalues of a symmetric matrix (from its lower triangle).
fn eigenvalues(m: MatRef<'_, f64>) -> Result<Vec<f64>> {
    m.self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| FeatureError::NonFiniteOutput {
            what: "eigenvalues",
            reason: "the symmetric eigensolver did not converge",
        })
}

fn check(k: MatRef<'_, f64>, lambda: f64) -> Result<()> {
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(FeatureError::InvalidOption {
            what: "lambda",
            reason: format!("{lambda} is not a positive finite number"),
        });
    }
    if k.nrows() != k.ncols() || k.nrows() == 0 {
        return Err(FeatureError::DimMismatch {
            what: "kernel (square, non-empty)",
            expected: k.nrows(),
            got: k.ncols(),
        });
    }
    if k.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(FeatureError::NonFinite {
            what: "kernel",
            sample: 0,
            index: 0,
        });
    }
    Ok(())
}
