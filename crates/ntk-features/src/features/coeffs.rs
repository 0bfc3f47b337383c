//! Hermite coefficients `c_ℓ(r)`, `ċ_ℓ(r)` of an activation for any norm,
//! fast enough to be asked once per sample (per pixel for images).
//!
//! Closed forms are evaluated directly. Activations that need quadrature
//! (about a millisecond per norm) are interpolated: `log₂ r` is cut into
//! octaves `[2^k, 2^{k+1})`, and each octave that some sample falls in is
//! built once, on first use, as a Chebyshev interpolant on
//! [`NODES`] nodes. A panel depends only on its octave, never on which samples
//! asked first, so features stay bitwise deterministic for any thread count
//! or batch split. Each panel checks itself at two points between the nodes
//! against direct quadrature; a panel whose interpolation error exceeds
//! [`PANEL_TOL`] (relative to the coefficients' scale) is marked unusable and
//! its norms are computed directly instead.
//!
//! With `match_tails`, the truncated series is made exact at `ρ = ±1` for
//! equal norms: the Parseval tails `T_even`, `T_odd` of the even and odd
//! coefficients above the degree, obtained from the exact kernel
//! `K(q, q, ±q) = Σ_ℓ c_ℓ² (±1)^ℓ` (and `K̇` likewise), are added to the
//! highest even and odd coefficients kept: `c̃ = sgn(c)·sqrt(c² + T)`.
//! The truncated sum underestimates a kernel with nonnegative terms near
//! `|ρ| = 1`, where deep networks live; the matched one is exact on the
//! diagonal and off by at most `T·|ρ|^q` elsewhere.

use crate::error::{FeatureError, Result};
use dual_activations::{DualActivation, HermiteCoeffs};
use std::sync::OnceLock;

/// Chebyshev nodes per octave.
pub(crate) const NODES: usize = 24;
/// Largest accepted interpolation error of a panel, relative to
/// `sqrt(E[σ(rz)²])` (and `sqrt(E[σ'(rz)²])` for the derivative coefficients).
pub(crate) const PANEL_TOL: f64 = 1e-11;
/// Octaves `2^K_MIN ..= 2^K_MAX` are interpolated; norms outside are computed directly.
const K_MIN: i32 = -30;
const K_MAX: i32 = 30;

#[derive(Debug)]
struct Panel {
    /// `values[j]`: `c_0..c_q` then `ċ_0..ċ_q` at node `j`.
    values: Vec<Vec<f64>>,
    usable: bool,
}

/// Coefficient source of one activation layer.
#[derive(Debug)]
pub(crate) struct Coeffs {
    /// Fixed unit-norm coefficients of a polynomial (not Hermite) expansion
    /// of a degree-1 homogeneous layer: `c_ℓ(r) = r·a_ℓ`, `ċ_ℓ(r) = b_ℓ`.
    fixed: Option<(Vec<f64>, Vec<f64>)>,
    dual: DualActivation,
    degree: usize,
    layer: usize,
    closed: bool,
    match_tails: bool,
    panels: Vec<OnceLock<std::result::Result<Panel, FeatureError>>>,
}

/// Chebyshev nodes of the first kind on `[−1, 1]`.
fn node(j: usize) -> f64 {
    (core::f64::consts::PI * (j as f64 + 0.5) / NODES as f64).cos()
}

impl Coeffs {
    pub(crate) fn new(
        dual: DualActivation,
        degree: usize,
        layer: usize,
        match_tails: bool,
    ) -> Self {
        let closed = HermiteCoeffs::is_closed_form(dual.activation());
        let panels = (K_MIN..=K_MAX).map(|_| OnceLock::new()).collect();
        Self {
            fixed: None,
            dual,
            degree,
            layer,
            closed,
            match_tails,
            panels,
        }
    }

    /// Coefficients of a degree-1 homogeneous layer given at unit norm:
    /// `c_ℓ(r) = r·a_ℓ` and `ċ_ℓ(r) = b_ℓ` (`b` may be empty when the
    /// derivative is not needed). `dual` only names the layer in errors.
    pub(crate) fn fixed(dual: DualActivation, layer: usize, a: Vec<f64>, b: Vec<f64>) -> Self {
        let degree = a.len() - 1;
        let mut c = Self::new(dual, degree, layer, false);
        c.fixed = Some((a, b));
        c
    }

    /// The truncation degree `q` (coefficients `0..=q`).
    pub(crate) fn degree(&self) -> usize {
        self.degree
    }

    fn err(&self) -> impl Fn(dual_activations::DualError) -> FeatureError + '_ {
        move |source| FeatureError::Activation {
            layer: self.layer,
            source,
        }
    }

    fn direct(&self, r: f64, c: &mut [f64], cd: &mut [f64]) -> Result<()> {
        let h = HermiteCoeffs::new(&self.dual, r, self.degree).map_err(self.err())?;
        c.copy_from_slice(h.values());
        cd.copy_from_slice(h.derivative_values());
        Ok(())
    }

    /// `r` at Chebyshev coordinate `x ∈ [−1, 1]` of octave `k`.
    fn r_at(k: i32, x: f64) -> f64 {
        (k as f64 + 0.5 * (x + 1.0)).exp2()
    }

    fn build(&self, k: i32) -> Result<Panel> {
        let q = self.degree + 1;
        let mut values = Vec::with_capacity(NODES);
        let mut scale: f64 = 0.0;
        let mut scale_dot: f64 = 0.0;
        for j in 0..NODES {
            let h = HermiteCoeffs::new(&self.dual, Self::r_at(k, node(j)), self.degree)
                .map_err(self.err())?;
            scale = scale.max(h.second_moment().sqrt());
            scale_dot = scale_dot.max(h.derivative_second_moment().sqrt());
            let mut v = h.values().to_vec();
            v.extend_from_slice(h.derivative_values());
            values.push(v);
        }
        let mut panel = Panel {
            values,
            usable: true,
        };
        // Check between nodes, where the interpolation error is largest.
        let (mut c, mut cd) = (vec![0.0; q], vec![0.0; q]);
        for x in [
            0.5 * (node(0) + node(1)),
            0.5 * (node(NODES / 2) + node(NODES / 2 - 1)),
        ] {
            let h = HermiteCoeffs::new(&self.dual, Self::r_at(k, x), self.degree)
                .map_err(self.err())?;
            interpolate(&panel.values, x, &mut c, &mut cd);
            let e: f64 = c
                .iter()
                .zip(h.values())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let ed: f64 = cd
                .iter()
                .zip(h.derivative_values())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            if e > PANEL_TOL * scale.max(f64::MIN_POSITIVE)
                || ed > PANEL_TOL * scale_dot.max(f64::MIN_POSITIVE)
            {
                panel.usable = false;
            }
        }
        Ok(panel)
    }

    /// `c_0(r)..c_q(r)` into `c`, `ċ_0(r)..ċ_q(r)` into `cd` (both of length `q + 1`).
    pub(crate) fn get(&self, r: f64, c: &mut [f64], cd: &mut [f64]) -> Result<()> {
        if let Some((a, b)) = &self.fixed {
            c.iter_mut().zip(a).for_each(|(o, v)| *o = r * v);
            cd.iter_mut().for_each(|o| *o = 0.0);
            cd.iter_mut().zip(b).for_each(|(o, v)| *o = *v);
            return Ok(());
        }
        self.raw(r, c, cd)?;
        if self.match_tails && r > 0.0 {
            let q = r * r;
            let plus = self.dual.eval(q, q, q).map_err(self.err())?;
            let minus = self.dual.eval(q, q, -q).map_err(self.err())?;
            match_parity_tails(c, plus.k, minus.k);
            match_parity_tails(cd, plus.k_dot, minus.k_dot);
        }
        Ok(())
    }

    fn raw(&self, r: f64, c: &mut [f64], cd: &mut [f64]) -> Result<()> {
        if self.closed || r <= 0.0 {
            return self.direct(r, c, cd);
        }
        let l = r.log2();
        let k = l.floor();
        if !(k >= K_MIN as f64 && k <= K_MAX as f64) {
            return self.direct(r, c, cd);
        }
        let k = k as i32;
        let panel = self.panels[(k - K_MIN) as usize].get_or_init(|| self.build(k));
        match panel {
            Err(e) => Err(e.clone()),
            Ok(p) if !p.usable => self.direct(r, c, cd),
            Ok(p) => {
                let x = 2.0 * (l - k as f64) - 1.0;
                interpolate(&p.values, x, c, cd);
                Ok(())
            }
        }
    }
}

/// Barycentric interpolation on Chebyshev nodes of the first kind
/// (weights `(−1)^j sin((j + ½)π/N)`), exact at the nodes.
fn interpolate(values: &[Vec<f64>], x: f64, c: &mut [f64], cd: &mut [f64]) {
    let q = c.len();
    c.iter_mut().chain(cd.iter_mut()).for_each(|v| *v = 0.0);
    let mut den = 0.0;
    for (j, v) in values.iter().enumerate() {
        let xj = node(j);
        if x == xj {
            c.copy_from_slice(&v[..q]);
            cd.copy_from_slice(&v[q..]);
            return;
        }
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        let w = sign * (core::f64::consts::PI * (j as f64 + 0.5) / NODES as f64).sin() / (x - xj);
        den += w;
        for (o, a) in c.iter_mut().zip(&v[..q]) {
            *o += w * a;
        }
        for (o, a) in cd.iter_mut().zip(&v[q..]) {
            *o += w * a;
        }
    }
    c.iter_mut().chain(cd.iter_mut()).for_each(|v| *v /= den);
}

/// Adds the even and odd Parseval tails, known from `k_plus = Σ c_ℓ²` and
/// `k_minus = Σ (−1)^ℓ c_ℓ²` over all degrees, to the highest kept
/// coefficient of each parity (negative tails, from rounding or from a
/// kernel that is not an expectation, are ignored).
fn match_parity_tails(c: &mut [f64], k_plus: f64, k_minus: f64) {
    let (mut s_plus, mut s_minus) = (0.0, 0.0);
    for (l, v) in c.iter().enumerate() {
        s_plus += v * v;
        s_minus += if l % 2 == 0 { v * v } else { -v * v };
    }
    let (dp, dm) = (k_plus - s_plus, k_minus - s_minus);
    let tails = [0.5 * (dp + dm), 0.5 * (dp - dm)];
    let q = c.len() - 1;
    for (parity, t) in tails.into_iter().enumerate() {
        if t.is_nan() || t <= 0.0 || q < parity {
            continue;
        }
        let top = if q % 2 == parity { q } else { q - 1 };
        let v = c[top];
        let m = (v * v + t).sqrt();
        c[top] = if v < 0.0 { -m } else { m };
    }
}
