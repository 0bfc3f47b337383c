//! Numerical dual kernels of pointwise activations: neural-tangents'
//! Gauss–Hermite product rule and a nested adaptive reference integrator.

use crate::activation::ScalarFn;
use crate::dual::Dual;
use crate::error::{DualError, Result};
use crate::quadrature::{AdaptiveParams, Rule, integrate};
use crate::special::norm_pdf;
use core::f64::consts::PI;

/// Half-width of the integration range in standard-normal units: the
/// density is below 1e-300 beyond it, so for activations of at most
/// exponential growth `e^{β|t|}` with `β√q < 20` the truncation is invisible.
pub(crate) const Z_MAX: f64 = 37.0;

fn checked(f: &dyn ScalarFn, t: f64, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(DualError::NonFiniteActivation {
            activation: f.name().to_owned(),
            t,
        })
    }
}

/// neural-tangents' `ElementwiseNumerical` rule with physicists' nodes `x_i`
/// and weights `w_i`:
/// `K = Σ_ij w_i w_j/π · f(sqrt(2q_x) x_i) · f(c/sqrt(q_x/2) x_i + sqrt(2(q_y − c²/q_x)) x_j)`,
/// and `K̇` the same with `f'`. On the diagonal `(q, q, q)` the one-dimensional
/// rule `Σ_i w_i/sqrt(π) f(sqrt(2q) x_i)²` is used, as stax does. A zero
/// variance `q_x = 0` (where stax returns NaN) uses the exact limit `u = 0`.
pub(crate) fn gauss_hermite_dual(
    f: &dyn ScalarFn,
    rule: &Rule,
    qx: f64,
    qy: f64,
    c: f64,
) -> Result<Dual> {
    let sqrt_pi = PI.sqrt();
    if qx == qy && qx == c {
        let r = (2.0 * qx).sqrt();
        let (mut k, mut kd) = (0.0, 0.0);
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            let t = r * x;
            let (v, d) = (checked(f, t, f.value(t))?, checked(f, t, f.derivative(t))?);
            k += w * v * v;
            kd += w * d * d;
        }
        return Ok(Dual {
            k: k / sqrt_pi,
            k_dot: kd / sqrt_pi,
        });
    }
    if qx == 0.0 || qy == 0.0 {
        // One variable is identically 0: the expectation factorises.
        let (q, other) = if qx == 0.0 { (qy, 0.0) } else { (qx, 0.0) };
        let r = (2.0 * q).sqrt();
        let (mut k, mut kd) = (0.0, 0.0);
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            let t = r * x;
            k += w * checked(f, t, f.value(t))?;
            kd += w * checked(f, t, f.derivative(t))?;
        }
        let v0 = checked(f, other, f.value(other))?;
        let d0 = checked(f, other, f.derivative(other))?;
        return Ok(Dual {
            k: v0 * k / sqrt_pi,
            k_dot: d0 * kd / sqrt_pi,
        });
    }
    let a = (2.0 * qx).sqrt();
    let slope = c / (qx / 2.0).sqrt();
    let cond = (qy - c * c / qx).max(0.0);
    let b = (2.0 * cond).sqrt();
    let (mut k, mut kd) = (0.0, 0.0);
    for (xi, wi) in rule.nodes.iter().zip(&rule.weights) {
        let t = a * xi;
        let fu = checked(f, t, f.value(t))?;
        let du = checked(f, t, f.derivative(t))?;
        let (mut inner_k, mut inner_d) = (0.0, 0.0);
        for (xj, wj) in rule.nodes.iter().zip(&rule.weights) {
            let s = slope * xi + b * xj;
            inner_k += wj * checked(f, s, f.value(s))?;
            inner_d += wj * checked(f, s, f.derivative(s))?;
        }
        k += wi * fu * inner_k;
        kd += wi * du * inner_d;
    }
    Ok(Dual {
        k: k / PI,
        k_dot: kd / PI,
    })
}

/// `E[g(√q z)]` and `E[g(√q z)²]`-type one-dimensional Gaussian integrals by
/// adaptive quadrature split at the kinks (mapped to `z = kink/√q`).
pub(crate) fn gauss_expect<G: FnMut(f64) -> f64>(
    mut g: G,
    scale: f64,
    kinks: &[f64],
    params: AdaptiveParams,
    what: &'static str,
) -> Result<f64> {
    let bps: Vec<f64> = if scale > 0.0 {
        kinks.iter().map(|k| k / scale).collect()
    } else {
        Vec::new()
    };
    let v = integrate(
        |z, out| out[0] = g(scale * z) * norm_pdf(z),
        1,
        -Z_MAX,
        Z_MAX,
        &bps,
        params,
        what,
    )?;
    Ok(v[0])
}

/// Nested adaptive integration of `E[f(u)f(v)]` (and of `f'`), writing
/// `u = sqrt(q_x) z₁`, `v = a z₁ + b z₂` with `a = c/sqrt(q_x)`,
/// `b = sqrt(q_y − c²/q_x)`; both levels split at the kinks of `f`.
pub(crate) fn adaptive_dual(
    f: &dyn ScalarFn,
    rel_tol: f64,
    qx: f64,
    qy: f64,
    c: f64,
) -> Result<Dual> {
    let kinks = f.kinks().to_vec();
    let mut bad: Option<f64> = None;
    let mut val = |t: f64, d: bool| -> f64 {
        let v = if d { f.derivative(t) } else { f.value(t) };
        if !v.is_finite() {
            bad = Some(t);
            0.0
        } else {
            v
        }
    };
    // Cauchy–Schwarz scales for the tolerances.
    let rx = qx.sqrt();
    let ry = qy.sqrt();
    let mut parts = [0.0f64; 2];
    for (slot, d) in parts.iter_mut().zip([false, true]) {
        let moments = AdaptiveParams {
            rel_tol: 1e-12,
            ..AdaptiveParams::default()
        };
        let m2x = gauss_expect(|t| val(t, d).powi(2), rx, &kinks, moments, "E[f(u)^2]")?;
        let m2y = gauss_expect(|t| val(t, d).powi(2), ry, &kinks, moments, "E[f(v)^2]")?;
        let scale = (m2x * m2y).sqrt().max(1e-300);
        let tol = rel_tol * scale;
        *slot = if rx == 0.0 || ry == 0.0 {
            let (q_nonzero, r0) = if rx == 0.0 { (ry, 0.0) } else { (rx, 0.0) };
            let f0 = val(r0, d);
            let p = AdaptiveParams {
                abs_tol: tol,
                rel_tol: 0.0,
                ..AdaptiveParams::default()
            };
            f0 * gauss_expect(|t| val(t, d), q_nonzero, &kinks, p, "E[f(v)]")?
        } else {
            let a = c / rx;
            let b = (qy - c * c / qx).max(0.0).sqrt();
            let mut outer_bps: Vec<f64> = kinks.iter().map(|k| k / rx).collect();
            if a != 0.0 && b < 1e-12 * ry {
                outer_bps.extend(kinks.iter().map(|k| k / a));
            }
            let mut inner_err: Option<DualError> = None;
            let v = integrate(
                |z1, out| {
                    let fu = val(rx * z1, d);
                    let g = if b == 0.0 {
                        val(a * z1, d)
                    } else {
                        let bps: Vec<f64> = kinks.iter().map(|k| (k - a * z1) / b).collect();
                        match integrate(
                            |z2, o| o[0] = val(a * z1 + b * z2, d) * norm_pdf(z2),
                            1,
                            -Z_MAX,
                            Z_MAX,
                            &bps,
                            AdaptiveParams {
                                abs_tol: 0.1 * tol / m2x.sqrt().max(1e-300),
                                rel_tol: 0.0,
                                ..AdaptiveParams::default()
                            },
                            "inner Gaussian integral",
                        ) {
                            Ok(v) => v[0],
                            Err(e) => {
                                inner_err.get_or_insert(e);
                                0.0
                            }
                        }
                    };
                    out[0] = fu * g * norm_pdf(z1);
                },
                1,
                -Z_MAX,
                Z_MAX,
                &outer_bps,
                AdaptiveParams {
                    abs_tol: tol,
                    rel_tol: 0.0,
                    ..AdaptiveParams::default()
                },
                "outer Gaussian integral",
            )?;
            if let Some(e) = inner_err {
                return Err(e);
            }
            v[0]
        };
    }
    if let Some(t) = bad {
        return Err(DualError::NonFiniteActivation {
            activation: f.name().to_owned(),
            t,
        });
    }
    Ok(Dual {
        k: parts[0],
        k_dot: parts[1],
    })
}
