//! Quadrature rules: Gauss–Legendre, Gauss–Hermite (physicists' weight
//! `e^{-x^2}`, as `scipy.special.roots_hermite`), and an adaptive
//! Gauss–Legendre integrator for vector-valued integrands that splits at
//! user-given breakpoints (the kinks of non-smooth activations).

use crate::error::{DualError, Result};

/// Largest Gauss–Hermite order supported. Nodes reach `sqrt(2 deg + 1)`; the
/// recurrence is run on Hermite *functions* (scaled by `e^{-x^2/2}`), which stay
/// representable while `x^2/2 < 708`, i.e. up to about 700 nodes.
pub const MAX_GAUSS_HERMITE_DEG: usize = 600;

/// Nodes and weights of an `n`-point rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Nodes, ascending.
    pub nodes: Vec<f64>,
    /// Weights matching `nodes`.
    pub weights: Vec<f64>,
}

/// Gauss–Legendre rule on `[-1, 1]` with `n >= 1` points (Newton on the
/// three-term recurrence; nodes and weights accurate to a few ulps).
pub fn gauss_legendre(n: usize) -> Rule {
    assert!(n >= 1, "gauss_legendre needs at least one node");
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let nf = n as f64;
    // (P_n(z), P_n'(z)) by the three-term recurrence.
    let legendre = |z: f64| {
        let (mut p0, mut p1) = (1.0, z);
        for k in 2..=n {
            let kf = k as f64;
            let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
            p0 = p1;
            p1 = p2;
        }
        let (pn, pn1) = if n == 1 { (z, 1.0) } else { (p1, p0) };
        (pn, nf * (z * pn - pn1) / (z * z - 1.0))
    };
    for i in 0..n.div_ceil(2) {
        // Tricomi's initial guess, then Newton on P_n.
        let mut z = (core::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        for _ in 0..100 {
            let (pn, dp) = legendre(z);
            let dz = pn / dp;
            z -= dz;
            if dz.abs() <= 1e-16 * z.abs().max(1e-300) {
                break;
            }
        }
        let (_, dp) = legendre(z);
        let w = 2.0 / ((1.0 - z * z) * dp * dp);
        nodes[i] = -z;
        nodes[n - 1 - i] = z;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    if n % 2 == 1 {
        nodes[n / 2] = 0.0;
    }
    Rule { nodes, weights }
}

/// Gauss–Hermite rule for the weight `e^{-x^2}` on the real line (the
/// physicists' convention of `scipy.special.roots_hermite`, which
/// neural-tangents' `ElementwiseNumerical` uses).
///
/// # Errors
/// [`DualError::DegreeOutOfRange`] unless `1 <= deg <= MAX_GAUSS_HERMITE_DEG`.
pub fn gauss_hermite(deg: usize) -> Result<Rule> {
    if deg == 0 || deg > MAX_GAUSS_HERMITE_DEG {
        return Err(DualError::DegreeOutOfRange {
            what: "Gauss-Hermite degree",
            value: deg,
            min: 1,
            max: MAX_GAUSS_HERMITE_DEG,
        });
    }
    let n = deg;
    let nf = n as f64;
    let pim4 = core::f64::consts::PI.powf(-0.25);
    // The nodes are the eigenvalues of the Jacobi matrix (zero diagonal,
    // off-diagonal sqrt(k/2)); bisection on Sturm counts finds each one
    // robustly for any order, then Newton on the Hermite function polishes it.
    let off2: Vec<f64> = (1..n).map(|k| k as f64 / 2.0).collect();
    let below = |x: f64| -> usize {
        let mut count = 0;
        let mut q = -x;
        if q < 0.0 {
            count += 1;
        }
        for b2 in &off2 {
            let prev = if q == 0.0 { f64::EPSILON } else { q };
            q = -x - b2 / prev;
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    let bound = (2.0 * nf).sqrt() + 1.0;
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for k in n / 2..n {
        // The k-th smallest eigenvalue (0-based): below(x) > k iff x > λ_k.
        let (mut lo, mut hi) = (if k == n / 2 { -1e-300 } else { nodes[k - 1] }, bound);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if below(mid) > k {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let mut z = 0.5 * (lo + hi);
        for _ in 0..3 {
            let (p1, p2) = hermite_function_pair(n, z, pim4);
            let pp = (2.0 * nf).sqrt() * p2;
            if pp != 0.0 {
                let step = p1 / pp;
                if step.abs() < (hi - lo).max(1e-15 * z.abs()) * 4.0 {
                    z -= step;
                }
            }
        }
        let (_, p2) = hermite_function_pair(n, z, pim4);
        // The orthonormal polynomial is p = psi e^{z^2/2}, and w = 2 / p_n'(z)^2
        // = 2 (e^{-z^2/2} / (sqrt(2n) psi_{n-1}))^2.
        let g = (-0.5 * z * z).exp() / ((2.0 * nf).sqrt() * p2);
        nodes[k] = z;
        weights[k] = 2.0 * g * g;
        nodes[n - 1 - k] = -z;
        weights[n - 1 - k] = 2.0 * g * g;
    }
    if n % 2 == 1 {
        nodes[n / 2] = 0.0;
    }
    Ok(Rule { nodes, weights })
}

/// Normalised Hermite functions `(psi_n(z), psi_{n-1}(z))`, i.e. the orthonormal
/// Hermite polynomials for weight `e^{-z^2}` times `e^{-z^2/2}`.
fn hermite_function_pair(n: usize, z: f64, pim4: f64) -> (f64, f64) {
    let mut p1 = pim4 * (-0.5 * z * z).exp();
    let mut p2 = 0.0;
    for j in 1..=n {
        let jf = j as f64;
        let p3 = p2;
        p2 = p1;
        p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
    }
    (p1, p2)
}

/// Controls of [`integrate`]. The error target is
/// `max(abs_tol, rel_tol·scale)`, where `scale` is the largest component of
/// a first, coarse estimate of the integral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveParams {
    /// Absolute tolerance on each component (max norm over components).
    pub abs_tol: f64,
    /// Tolerance relative to the magnitude of the integral.
    pub rel_tol: f64,
    /// Maximum number of sub-intervals before giving up.
    pub max_intervals: usize,
}

impl Default for AdaptiveParams {
    fn default() -> Self {
        Self {
            abs_tol: 0.0,
            rel_tol: 1e-14,
            max_intervals: 20_000,
        }
    }
}

/// Fixed 20-point Gauss–Legendre rule used on every panel.
pub(crate) fn panel_rule() -> &'static Rule {
    use std::sync::OnceLock;
    static RULE: OnceLock<Rule> = OnceLock::new();
    RULE.get_or_init(|| gauss_legendre(20))
}

/// Globally adaptive integration of a vector-valued `f: R -> R^dim` over
/// `[a, b]`, split first at `breakpoints` (kinks of the integrand).
///
/// Each panel is estimated by 20-point Gauss–Legendre on its two halves; its
/// error estimate is the difference to the rule on the whole panel (max over
/// components), floored at zero below 100 ε of the panel's own magnitude
/// (rounding noise). The panel with the largest error is bisected until the
/// summed error is below `max(abs_tol, rel_tol·|I|)`, `|I|` the largest
/// component of the current total.
///
/// `f(t, out)` writes `dim` values into `out`.
///
/// # Errors
/// [`DualError::NoConvergence`] when more than `max_intervals` panels would be
/// needed; `what` names the integral in the error.
pub fn integrate<F>(
    mut f: F,
    dim: usize,
    a: f64,
    b: f64,
    breakpoints: &[f64],
    params: AdaptiveParams,
    what: &'static str,
) -> Result<Vec<f64>>
where
    F: FnMut(f64, &mut [f64]),
{
    let rule = panel_rule();
    let mut cuts: Vec<f64> = breakpoints
        .iter()
        .copied()
        .filter(|&t| t > a && t < b)
        .collect();
    cuts.push(a);
    cuts.push(b);
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut buf = vec![0.0; dim];
    let mut scratch = [vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]];
    let mut panels: Vec<Panel> = Vec::new();
    for w in cuts.windows(2) {
        panels.push(Panel::eval(
            &mut f,
            rule,
            w[0],
            w[1],
            &mut scratch,
            &mut buf,
        ));
    }
    loop {
        let mut total = vec![0.0; dim];
        let mut err = 0.0;
        let mut worst = 0;
        for (i, p) in panels.iter().enumerate() {
            total.iter_mut().zip(&p.value).for_each(|(t, v)| *t += v);
            err += p.err;
            if p.err > panels[worst].err {
                worst = i;
            }
        }
        let scale = total.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let target = params.abs_tol.max(params.rel_tol * scale);
        let splittable = panels[worst].err > 0.0 && {
            let p = &panels[worst];
            let mid = 0.5 * (p.lo + p.hi);
            mid > p.lo && mid < p.hi
        };
        if err <= target || !splittable {
            return Ok(total);
        }
        if panels.len() >= params.max_intervals {
            return Err(DualError::NoConvergence {
                what,
                error: err,
                tolerance: target,
            });
        }
        let p = panels.swap_remove(worst);
        let mid = 0.5 * (p.lo + p.hi);
        panels.push(Panel::eval(&mut f, rule, p.lo, mid, &mut scratch, &mut buf));
        panels.push(Panel::eval(&mut f, rule, mid, p.hi, &mut scratch, &mut buf));
    }
}

struct Panel {
    lo: f64,
    hi: f64,
    value: Vec<f64>,
    err: f64,
}

impl Panel {
    fn eval<F: FnMut(f64, &mut [f64])>(
        f: &mut F,
        rule: &Rule,
        lo: f64,
        hi: f64,
        scratch: &mut [Vec<f64>; 3],
        buf: &mut [f64],
    ) -> Self {
        let mid = 0.5 * (lo + hi);
        let [whole, left, right] = scratch;
        let mag = gl_panel(f, rule, lo, hi, whole, buf);
        gl_panel(f, rule, lo, mid, left, buf);
        gl_panel(f, rule, mid, hi, right, buf);
        let value: Vec<f64> = left.iter().zip(right.iter()).map(|(l, r)| l + r).collect();
        let diff = whole
            .iter()
            .zip(&value)
            .fold(0.0f64, |m, (w, v)| m.max((w - v).abs()));
        // Below ~100 ε of the panel's own magnitude the difference is rounding noise.
        let err = if diff <= 100.0 * f64::EPSILON * mag {
            0.0
        } else {
            diff
        };
        Self { lo, hi, value, err }
    }
}

/// One Gauss–Legendre panel; returns the largest `∫|f_k|` estimate, the
/// scale of the rounding error of the panel's sums.
fn gl_panel<F: FnMut(f64, &mut [f64])>(
    f: &mut F,
    rule: &Rule,
    lo: f64,
    hi: f64,
    acc: &mut [f64],
    buf: &mut [f64],
) -> f64 {
    let half = 0.5 * (hi - lo);
    let centre = 0.5 * (hi + lo);
    acc.iter_mut().for_each(|v| *v = 0.0);
    let mut mag = 0.0f64;
    for (x, w) in rule.nodes.iter().zip(&rule.weights) {
        f(centre + half * x, buf);
        for (a, v) in acc.iter_mut().zip(buf.iter()) {
            *a += w * half * v;
            mag = mag.max((w * half * v).abs());
        }
    }
    mag * rule.nodes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [1usize, 2, 5, 20, 33] {
            let r = gauss_legendre(n);
            // A rule with n nodes is exact for degree 2n - 1.
            for k in 0..(2 * n) {
                let got: f64 = r
                    .nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(x, w)| w * x.powi(k as i32))
                    .sum();
                let want = if k % 2 == 1 {
                    0.0
                } else {
                    2.0 / (k as f64 + 1.0)
                };
                assert!(
                    (got - want).abs() < 1e-14 * (n as f64),
                    "n={n} k={k} got={got} want={want}"
                );
            }
        }
    }

    #[test]
    fn gauss_hermite_matches_moments() {
        // E over weight e^{-x^2}: integral of x^{2k} e^{-x^2} = Gamma(k + 1/2).
        for n in [1usize, 2, 3, 7, 25, 26, 150, 400] {
            let r = gauss_hermite(n).unwrap();
            assert!(
                r.nodes.windows(2).all(|w| w[0] < w[1]),
                "n={n} nodes not ascending"
            );
            let mut gamma_half = core::f64::consts::PI.sqrt();
            for k in 0..n.min(30) {
                let got: f64 = r
                    .nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(x, w)| w * x.powi(2 * k as i32))
                    .sum();
                assert!(
                    (got - gamma_half).abs() <= 1e-13 * gamma_half,
                    "n={n} k={k} got={got} want={gamma_half}"
                );
                gamma_half *= k as f64 + 0.5;
            }
        }
    }

    #[test]
    fn gauss_hermite_known_nodes() {
        // He-physicists H_3 = 8x^3 - 12x: roots 0, +-sqrt(3/2); weights sqrt(pi)/6 and 2 sqrt(pi)/3.
        let r = gauss_hermite(3).unwrap();
        let s = 1.5f64.sqrt();
        assert!((r.nodes[0] + s).abs() < 1e-15 && (r.nodes[2] - s).abs() < 1e-15);
        let sp = core::f64::consts::PI.sqrt();
        assert!((r.weights[0] - sp / 6.0).abs() < 1e-15);
        assert!((r.weights[1] - 2.0 * sp / 3.0).abs() < 1e-15);
    }

    #[test]
    fn gauss_hermite_rejects_bad_degree() {
        assert!(matches!(
            gauss_hermite(0),
            Err(DualError::DegreeOutOfRange { value: 0, .. })
        ));
        assert!(matches!(
            gauss_hermite(MAX_GAUSS_HERMITE_DEG + 1),
            Err(DualError::DegreeOutOfRange {
                max: MAX_GAUSS_HERMITE_DEG,
                ..
            })
        ));
    }

    #[test]
    fn adaptive_handles_kinks() {
        // integral of |t| e^{-t^2/2}/sqrt(2 pi) = sqrt(2/pi).
        let got = integrate(
            |t, out| out[0] = t.abs() * crate::special::norm_pdf(t),
            1,
            -40.0,
            40.0,
            &[0.0],
            AdaptiveParams::default(),
            "test",
        )
        .unwrap();
        assert!((got[0] - (2.0 / core::f64::consts::PI).sqrt()).abs() < 1e-14);
    }
}
