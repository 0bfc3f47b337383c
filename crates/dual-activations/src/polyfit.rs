//! Nonnegative, monotone least-squares polynomial fits of unit-sphere dual
//! kernels (Zandieh et al. 2021, public code; `docs/NUMERICS.md`).
//!
//! The 2021 paper's experiments do not truncate Taylor series; they fit
//! low-degree polynomials `p(ρ) = Σ_j c_j ρ^j` by the convex quadratic program
//!
//! `minimise ½ Σ_i (w_i (p(α_i) − y_i))² + ½·10⁻⁵ ‖c‖²`
//! subject to `c ≥ 0`, `p(α_i) ≤ p(α_{i+1})` on the sorted grid, and
//! optionally `p(1) = y(1)`,
//!
//! then zero the coefficients below `10⁻⁵`. Nonnegative coefficients keep the
//! fitted kernels positive definite and sketchable by PolySketch. The three
//! fitters below reproduce `get_poly_approx_ntk`, `krelu` and `kdotrelu`;
//! the QP is solved by a primal active-set method (exact for these few
//! variables, up to rounding).

// Dense small-matrix code (KKT systems, elimination) reads best with indices.
#![allow(clippy::needless_range_loop)]

use crate::error::{DualError, Result};
use crate::taylor::{TaylorCoeffs, arccos1, relu_ntk};

/// A fitted polynomial with its fit diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct PolyFit {
    /// Coefficients `c_0..c_q`, nonnegative.
    pub coeffs: TaylorCoeffs,
    /// Largest `|p(α) − y(α)|` on the fitting grid.
    pub max_error: f64,
    /// Active-set iterations the QP needed.
    pub iterations: usize,
}

/// Largest polynomial degree accepted by the fitters.
pub const MAX_FIT_DEGREE: usize = 16;

/// Fits `p` of degree `degree` to `y` on `grid` (ascending) with weights `w`,
/// coefficients `≥ 0`, `p` non-decreasing along the grid, and `p(1) = value`
/// when `equal_at_one` is `Some(value)`.
///
/// # Errors
/// [`DualError::DegreeOutOfRange`] above [`MAX_FIT_DEGREE`];
/// [`DualError::InvalidParameter`] for mismatched or non-finite inputs, an
/// unsorted grid, or a negative `equal_at_one`; [`DualError::FitFailed`]
/// if the active-set method does not terminate.
pub fn nonnegative_monotone_fit(
    grid: &[f64],
    y: &[f64],
    w: &[f64],
    degree: usize,
    equal_at_one: Option<f64>,
) -> Result<PolyFit> {
    penalised_fit(grid, y, w, degree, equal_at_one, 0, 0.0)
}

/// [`nonnegative_monotone_fit`] with the extra term `½·λ·(Σ_{j ≥ from} c_j)²`
/// in the objective (`λ = penalty ≥ 0`).
fn penalised_fit(
    grid: &[f64],
    y: &[f64],
    w: &[f64],
    degree: usize,
    equal_at_one: Option<f64>,
    from: usize,
    penalty: f64,
) -> Result<PolyFit> {
    let bad = |param: &'static str, value: f64, reason: &'static str| DualError::InvalidParameter {
        activation: "polynomial fit",
        param,
        value,
        reason,
    };
    if degree > MAX_FIT_DEGREE {
        return Err(DualError::DegreeOutOfRange {
            what: "fit degree",
            value: degree,
            min: 0,
            max: MAX_FIT_DEGREE,
        });
    }
    if grid.len() != y.len() || grid.len() != w.len() || grid.is_empty() {
        return Err(bad(
            "grid",
            grid.len() as f64,
            "grid, targets and weights need the same non-zero length",
        ));
    }
    if let Some(v) = grid.iter().chain(y).chain(w).find(|v| !v.is_finite()) {
        return Err(bad("grid", *v, "must be finite"));
    }
    if grid.windows(2).any(|p| p[1] < p[0]) {
        return Err(bad("grid", f64::NAN, "must be sorted ascending"));
    }
    if let Some(v) = equal_at_one
        && !(v.is_finite() && v >= 0.0)
    {
        return Err(bad(
            "equal_at_one",
            v,
            "must be finite and >= 0 (p has nonnegative coefficients)",
        ));
    }
    let n = degree + 1;
    let vander = |a: f64| -> Vec<f64> {
        (0..n)
            .scan(1.0, |p, _| {
                let v = *p;
                *p *= a;
                Some(v)
            })
            .collect()
    };
    // H = Zᵀ W² Z + 1e-5 I, g = −Zᵀ W² y (objective ½cᵀHc + gᵀc).
    let mut h = vec![vec![0.0; n]; n];
    let mut g = vec![0.0; n];
    for ((&a, &t), &wi) in grid.iter().zip(y).zip(w) {
        let z = vander(a);
        for i in 0..n {
            g[i] -= wi * wi * z[i] * t;
            for j in 0..n {
                h[i][j] += wi * wi * z[i] * z[j];
            }
        }
    }
    for (i, row) in h.iter_mut().enumerate() {
        row[i] += 1e-5;
        if i >= from {
            row[from.min(n)..].iter_mut().for_each(|v| *v += penalty);
        }
    }
    // Constraints a·c ≥ b: c_j ≥ 0, then p(α_{i+1}) − p(α_i) ≥ 0; equality first if any.
    let mut cons: Vec<(Vec<f64>, f64, bool)> = Vec::new();
    if let Some(v) = equal_at_one {
        cons.push((vec![1.0; n], v, true));
    }
    for j in 0..n {
        let mut a = vec![0.0; n];
        a[j] = 1.0;
        cons.push((a, 0.0, false));
    }
    for p in grid.windows(2) {
        let (z0, z1) = (vander(p[0]), vander(p[1]));
        cons.push((z1.iter().zip(&z0).map(|(a, b)| a - b).collect(), 0.0, false));
    }
    // Feasible start: p(ρ) = s(1 + ρ)/2 is strictly increasing, so no
    // monotonicity constraint is active (p ≡ 0 would make them all active at
    // once, a degenerate vertex on which active-set steps cycle).
    let mut c = vec![0.0; n];
    let s = equal_at_one.unwrap_or(1e-3);
    c[0] = 0.5 * s;
    if n > 1 {
        c[1] = 0.5 * s;
    } else {
        c[0] = s;
    }
    // Dantzig's rule (the most negative multiplier leaves) converges in few
    // steps but can cycle at the degenerate vertices of high degrees, where
    // many nearly dependent monotonicity constraints are active at once;
    // Bland's rule (the smallest index leaves) cannot cycle, so it is the
    // fallback.
    let (c, iterations) = match active_set(&h, &g, &cons, c.clone(), false) {
        Ok(r) => r,
        Err(_) => active_set(&h, &g, &cons, c, true)?,
    };
    let c: Vec<f64> = c
        .into_iter()
        .map(|v| if v < 1e-5 { 0.0 } else { v })
        .collect();
    let coeffs = TaylorCoeffs(c);
    let max_error = grid
        .iter()
        .zip(y)
        .fold(0.0f64, |m, (&a, &t)| m.max((coeffs.eval(a) - t).abs()));
    Ok(PolyFit {
        coeffs,
        max_error,
        iterations,
    })
}

/// Primal active-set method for `min ½cᵀHc + gᵀc` s.t. `a_i·c ≥ b_i`
/// (`= b_i` for equalities), from a feasible `c` (Nocedal & Wright, Alg. 16.3).
fn active_set(
    h: &[Vec<f64>],
    g: &[f64],
    cons: &[(Vec<f64>, f64, bool)],
    mut c: Vec<f64>,
    bland: bool,
) -> Result<(Vec<f64>, usize)> {
    let n = c.len();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let scale = cons
        .iter()
        .map(|(a, _, _)| dot(a, a).sqrt())
        .collect::<Vec<f64>>();
    let mut work: Vec<usize> = cons
        .iter()
        .enumerate()
        .filter(|(_, k)| k.2)
        .map(|(i, _)| i)
        .collect();
    // Add the inequalities active at the start while they stay independent.
    for (i, (a, b, eq)) in cons.iter().enumerate() {
        if !eq
            && (dot(a, &c) - b).abs() <= 1e-14 * scale[i]
            && work.len() < n
            && independent(cons, &work, i)
        {
            work.push(i);
        }
    }
    for iter in 0..2000 {
        // Solve the equality-constrained step: [H Aᵀ; A 0][p; −λ] = [−(Hc + g); 0].
        let m = work.len();
        let dim = n + m;
        let mut kkt = vec![vec![0.0; dim + 1]; dim];
        for i in 0..n {
            kkt[i][..n].copy_from_slice(&h[i]);
            kkt[i][dim] = -(dot(&h[i], &c) + g[i]);
        }
        for (k, &ci) in work.iter().enumerate() {
            for j in 0..n {
                kkt[j][n + k] = cons[ci].0[j];
                kkt[n + k][j] = cons[ci].0[j];
            }
        }
        let sol = solve_dense(kkt).ok_or(DualError::FitFailed {
            what: "nonnegative monotone",
            reason: "the active-set step's optimality system is singular",
        })?;
        let p = &sol[..n];
        let lambda: Vec<f64> = sol[n..].iter().map(|v| -v).collect();
        let pnorm = p.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let cnorm = c.iter().map(|v| v.abs()).fold(1.0, f64::max);
        if pnorm <= 1e-13 * cnorm {
            // Stationary on the working set: drop an inequality with a
            // negative multiplier, the most negative one (Dantzig) or the
            // one of smallest index (Bland).
            let negative = work
                .iter()
                .enumerate()
                .filter(|(k, ci)| !cons[**ci].2 && lambda[*k] < -1e-12);
            let worst = if bland {
                negative.min_by_key(|(_, ci)| **ci)
            } else {
                negative.min_by(|a, b| lambda[a.0].total_cmp(&lambda[b.0]))
            };
            match worst {
                Some((k, _)) => {
                    work.remove(k);
                }
                None => return Ok((c, iter)),
            }
            continue;
        }
        // Longest feasible step along p.
        let mut alpha = 1.0;
        let mut block = None;
        for (i, (a, b, eq)) in cons.iter().enumerate() {
            if *eq || work.contains(&i) {
                continue;
            }
            let ap = dot(a, p);
            if ap < -1e-15 * scale[i] * pnorm {
                let t = (b - dot(a, &c)) / ap;
                // Strictly shorter steps win; among equal ones the first
                // index stays (Bland's rule).
                if t < alpha {
                    alpha = t.max(0.0);
                    block = Some(i);
                }
            }
        }
        for (ci, pi) in c.iter_mut().zip(p) {
            *ci += alpha * pi;
        }
        if let Some(i) = block {
            work.push(i);
        }
    }
    Err(DualError::FitFailed {
        what: "nonnegative monotone",
        reason: "the active-set method did not terminate in 2000 steps",
    })
}

fn independent(cons: &[(Vec<f64>, f64, bool)], work: &[usize], cand: usize) -> bool {
    // Gram–Schmidt residual of the candidate normal against the working set.
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for &i in work.iter().chain(std::iter::once(&cand)) {
        let mut v = cons[i].0.clone();
        for b in &basis {
            let d: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let orig = cons[i].0.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= 1e-9 * orig {
            return false;
        }
        basis.push(v.iter().map(|x| x / norm).collect());
    }
    true
}

/// Gaussian elimination with partial pivoting on an augmented matrix.
fn solve_dense(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, piv);
        for r in col + 1..n {
            let f = a[r][col] / a[col][col];
            if f != 0.0 {
                for k in col..=n {
                    a[r][k] -= f * a[col][k];
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (a[r][n] - s) / a[r][r];
    }
    Some(x)
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect()
}

/// The fit of the whole depth-`L` ReLU NTK `K_L(ρ)` (the 2021 code's
/// `get_poly_approx_ntk(L, q)`): grid `linspace(−1, 1, 201)` plus
/// `cos((2k+1)π/(4N))`, `N = 15L + 5q`; weights `linspace(0, 1) + 2/L`.
///
/// # Errors
/// As [`nonnegative_monotone_fit`]; `depth` must be ≥ 1.
pub fn relu_ntk_fit(depth: usize, degree: usize) -> Result<PolyFit> {
    if depth == 0 {
        return Err(DualError::DegreeOutOfRange {
            what: "depth",
            value: 0,
            min: 1,
            max: usize::MAX,
        });
    }
    let (grid, w) = ntk_fit_grid(depth, degree);
    let y: Vec<f64> = grid.iter().map(|&a| relu_ntk(depth, a)).collect();
    nonnegative_monotone_fit(&grid, &y, &w, degree, None)
}

/// The grid and weights of [`relu_ntk_fit`], for fitting the whole-network
/// kernel of another homogeneous network the same way: `linspace(−1, 1, 201)`
/// plus `cos((2k+1)π/(4N))`, `N = 15L + 5q`, sorted; weights
/// `linspace(0, 1) + 2/L` (`depth` 0 is treated as 1).
pub fn ntk_fit_grid(depth: usize, degree: usize) -> (Vec<f64>, Vec<f64>) {
    let depth = depth.max(1);
    let extra = 15 * depth + 5 * degree;
    let mut grid = linspace(-1.0, 1.0, 201);
    grid.extend(
        (0..extra).map(|k| ((2 * k + 1) as f64 * core::f64::consts::PI / (4 * extra) as f64).cos()),
    );
    grid.sort_by(f64::total_cmp);
    let m = grid.len();
    let w: Vec<f64> = linspace(0.0, 1.0, m)
        .into_iter()
        .map(|v| v + 2.0 / depth as f64)
        .collect();
    (grid, w)
}

/// Lower end of the fitting interval of `κ₁` at layer `h`:
/// `a_0 = −1`, `a_{h+1} = (2a_h + κ₁(a_h))/3` (a heuristic bound on the
/// correlations reachable at depth `h`).
fn arccos1_lower(h: usize) -> f64 {
    (0..h).fold(-1.0, |a, _| (2.0 * a + arccos1(a)) / 3.0)
}

/// Lower end for `κ₀`: `b_0 = −1`, `b_{h+1} = (b_h + κ₁(b_h))/2`.
fn arccos0_lower(h: usize) -> f64 {
    (0..h).fold(-1.0, |b, _| 0.5 * (b + arccos1(b)))
}

/// The fit of `κ₁` at layer `h` (the code's `krelu(q, h)`): 201 equispaced
/// points on `[a_h, 1]`, unit weights, and `p(1) = 1`, which the CNTK
/// sketch's exact normalisation relies on.
///
/// # Errors
/// As [`nonnegative_monotone_fit`].
pub fn arccos1_fit(degree: usize, layer: usize) -> Result<PolyFit> {
    let grid = linspace(arccos1_lower(layer), 1.0, 201);
    let y: Vec<f64> = grid.iter().map(|&a| arccos1(a)).collect();
    nonnegative_monotone_fit(&grid, &y, &vec![1.0; 201], degree, Some(1.0))
}

/// Share of the objective that the 2021 grid keeps in the data-weighted
/// fits ([`arccos1_data_fit`], [`arccos0_data_fit`]): enough to keep the
/// polynomial sane where the sample has no correlations, small enough to
/// leave the sample's correlations in charge (`docs/NUMERICS.md`).
pub const DATA_FIT_BASE_SHARE: f64 = 0.05;

/// Bins of the sample's correlations in the data-weighted fits.
const DATA_FIT_BINS: usize = 256;

/// `κ₁`'s fit at layer `h` weighted by a sample of the data.
///
/// The objective is the sum of three terms:
/// - [`arccos1_fit`]'s (its grid, unit weights) at share
///   [`DATA_FIT_BASE_SHARE`];
/// - `Σ_i weight_i·(p(ρ_i) − κ₁(ρ_i))²` over the correlations `rho` that the
///   sample's pairs reach at this layer (binned: the weighted mean of each
///   of 256 bins, `ρ = 1` kept exact). For the Frobenius error of the
///   kernel, a pair's weight is its squared kernel scale `q_x q_y`;
/// - `noise·(Σ_{j≥2} c_j)²`: a sketch of dimension `M` adds to each pair a
///   variance of about `q_x q_y·(Σ_{j≥2} c_j)²/M` (the degrees a PolySketch
///   carries; degrees 0 and 1 are exact), so `noise = Σ_i weight_i / M` weighs
///   that variance against the squared bias in the same units.
///
/// As the QP of [`nonnegative_monotone_fit`] with `p(1) = 1`. With no
/// weight in the sample (all `weight_i = 0`, or none), it is [`arccos1_fit`].
///
/// # Errors
/// [`DualError::InvalidParameter`] for mismatched lengths, `rho` outside
/// `[−1, 1]` (beyond rounding), negative or non-finite weights or `noise`;
/// as [`nonnegative_monotone_fit`].
pub fn arccos1_data_fit(
    degree: usize,
    layer: usize,
    rho: &[f64],
    weight: &[f64],
    noise: f64,
) -> Result<PolyFit> {
    let base = Base {
        f: arccos1,
        grid: linspace(arccos1_lower(layer), 1.0, 201),
        w: vec![1.0; 201],
        equal_at_one: Some(1.0),
        sketched_from: 2,
    };
    base.fit_with(rho, weight, degree, noise)
}

/// `κ₀`'s fit at layer `h` weighted by a sample of the data: as
/// [`arccos1_data_fit`], from [`arccos0_fit`]'s problem (no equality). The
/// natural weight of a pair is the square of the NTK `Θ_xy` entering the
/// layer, which `K̇` multiplies; the NTK's tensor sketch carries every
/// degree but the constant, so the noise term is
/// `noise·(Σ_{j≥1} c_j)²` with `noise = Σ_pairs Θ_xx Θ_yy / M`.
///
/// # Errors
/// As [`arccos1_data_fit`].
pub fn arccos0_data_fit(
    degree: usize,
    layer: usize,
    rho: &[f64],
    weight: &[f64],
    noise: f64,
) -> Result<PolyFit> {
    let base = Base {
        f: crate::taylor::arccos0,
        grid: linspace(arccos0_lower(layer), 1.0, 201),
        w: linspace(0.0, 1.0, 201)
            .into_iter()
            .map(|v| v * v + 0.5)
            .collect(),
        equal_at_one: None,
        sketched_from: 1,
    };
    base.fit_with(rho, weight, degree, noise)
}

/// The 2021 fitting problem of one arc-cosine kernel, which a sample reweights.
struct Base {
    f: fn(f64) -> f64,
    grid: Vec<f64>,
    w: Vec<f64>,
    equal_at_one: Option<f64>,
    /// First degree that a sketch (not an exact coordinate) carries.
    sketched_from: usize,
}

impl Base {
    /// The base problem scaled to share [`DATA_FIT_BASE_SHARE`] of the squared
    /// weights, the binned sample the rest, normalised so that the squared
    /// weights sum to the base grid's length as in the unweighted fits (the
    /// QP's `10⁻⁵` ridge keeps its relative size); `noise` in the sample's
    /// units, scaled alike.
    fn fit_with(&self, rho: &[f64], weight: &[f64], degree: usize, noise: f64) -> Result<PolyFit> {
        let bad =
            |param: &'static str, value: f64, reason: &'static str| DualError::InvalidParameter {
                activation: "polynomial fit",
                param,
                value,
                reason,
            };
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(bad("noise", noise, "must be finite and >= 0"));
        }
        if rho.len() != weight.len() {
            return Err(bad(
                "rho",
                rho.len() as f64,
                "correlations and weights need the same length",
            ));
        }
        // Exact correlations may land a few ulps outside [−1, 1].
        const ROUNDING: f64 = 1e-9;
        if let Some(&r) = rho.iter().find(|r| r.is_nan() || r.abs() > 1.0 + ROUNDING) {
            return Err(bad("rho", r, "correlations must lie in [-1, 1]"));
        }
        if let Some(&v) = weight.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(bad("weight", v, "weights must be finite and >= 0"));
        }
        let total: f64 = weight.iter().sum();
        if !total.is_finite() {
            return Err(bad("weight", total, "the weights' sum overflows"));
        }
        let y = |g: &[f64]| g.iter().map(|&a| (self.f)(a)).collect::<Vec<f64>>();
        if total == 0.0 {
            return nonnegative_monotone_fit(
                &self.grid,
                &y(&self.grid),
                &self.w,
                degree,
                self.equal_at_one,
            );
        }
        let n_base = self.grid.len() as f64;
        let base2: f64 = self.w.iter().map(|v| v * v).sum();
        let share = DATA_FIT_BASE_SHARE;
        let scale = (1.0 - share) * n_base / total;
        let mut points: Vec<(f64, f64)> = self
            .grid
            .iter()
            .zip(&self.w)
            .map(|(&a, &wi)| (a, share * n_base * wi * wi / base2))
            .collect();
        // Bins of equal width over [lowest correlation, 1); ρ = 1 its own point.
        let lo = rho.iter().fold(1.0f64, |m, &r| m.min(r.max(-1.0)));
        let width = (1.0 - lo) / DATA_FIT_BINS as f64;
        let mut mass = vec![0.0; DATA_FIT_BINS + 1];
        let mut moment = vec![0.0; DATA_FIT_BINS + 1];
        for (&r, &v) in rho.iter().zip(weight) {
            let r = r.clamp(-1.0, 1.0);
            let k = if r >= 1.0 - 1e-12 || width <= 0.0 {
                DATA_FIT_BINS
            } else {
                (((r - lo) / width) as usize).min(DATA_FIT_BINS - 1)
            };
            mass[k] += v;
            moment[k] += v * r;
        }
        moment[DATA_FIT_BINS] = mass[DATA_FIT_BINS];
        points.extend(
            mass.iter()
                .zip(&moment)
                .filter(|(m, _)| **m > 0.0)
                .map(|(m, mo)| ((mo / m).clamp(-1.0, 1.0), scale * m)),
        );
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Merge ties, so that no monotonicity constraint is empty.
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(points.len());
        for (a, v) in points {
            match merged.last_mut() {
                Some(last) if last.0 == a => last.1 += v,
                _ => merged.push((a, v)),
            }
        }
        let g: Vec<f64> = merged.iter().map(|p| p.0).collect();
        let sw: Vec<f64> = merged.iter().map(|p| p.1.sqrt()).collect();
        penalised_fit(
            &g,
            &y(&g),
            &sw,
            degree,
            self.equal_at_one,
            self.sketched_from,
            scale * noise,
        )
    }
}

/// The fit of `κ₀` at layer `h` (the code's `kdotrelu(q, h)`): 201 points on
/// `[b_h, 1]`, weights `linspace(0, 1)² + 1/2`, no equality.
///
/// # Errors
/// As [`nonnegative_monotone_fit`].
pub fn arccos0_fit(degree: usize, layer: usize) -> Result<PolyFit> {
    let grid = linspace(arccos0_lower(layer), 1.0, 201);
    let y: Vec<f64> = grid.iter().map(|&a| crate::taylor::arccos0(a)).collect();
    let w: Vec<f64> = linspace(0.0, 1.0, 201)
        .into_iter()
        .map(|v| v * v + 0.5)
        .collect();
    nonnegative_monotone_fit(&grid, &y, &w, degree, None)
}
