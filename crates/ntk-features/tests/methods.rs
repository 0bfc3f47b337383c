//! The 2021 paper's methods (`ntksketch`, `cntksketch`, `onepass`, `ntkrf`)
//! on the shared backend: exact where nothing is sampled, unbiased within
//! stated bounds where something is, bitwise deterministic, and typed errors
//! for architectures a method does not cover.

use dual_activations::Activation;
use dual_activations::polyfit::{arccos0_data_fit, arccos0_fit, arccos1_data_fit, arccos1_fit};
use dual_activations::taylor::{arccos0, arccos1};
use faer::{Mat, MatRef, Par};
use ntk_features::{
    Architecture, FeatureConfig, FeatureError, FeatureMap, Input, KernelKind, Layer, Method,
    Padding, Polynomial, Shape, Toggle, kernels,
};

fn dense(w: f64, b: Option<f64>) -> Layer {
    Layer::Dense { w_std: w, b_std: b }
}

/// A VALID 3×3 convolution with `W_std = √2`.
fn conv3() -> Layer {
    Layer::Conv {
        filter: (3, 3),
        strides: (1, 1),
        padding: Padding::Valid,
        w_std: std::f64::consts::SQRT_2,
        b_std: None,
    }
}

fn act(a: Activation) -> Layer {
    Layer::Activation(a)
}

/// Deterministic pseudo-random values in [−1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|k| (((k as f64 + 1.0) * 0.7311 + seed as f64 * 1.37).sin() * 43758.5453).fract())
        .collect()
}

fn gram(z: MatRef<'_, f64>) -> Mat<f64> {
    z.transpose() * z
}

fn features(arch: &Architecture, shape: Shape, x: &[f64], c: &FeatureConfig) -> Mat<f64> {
    FeatureMap::<f64>::new(arch, shape, c)
        .unwrap()
        .apply(x, Par::Seq, &mut |_, _| {})
        .unwrap()
}

/// Mean and standard error of every Gram entry over `draws` independent
/// maps (seeds `0..draws`), the standard error estimated from the draws.
fn gram_moments(draws: u64, gram_of: impl Fn(u64) -> Mat<f64>) -> (Mat<f64>, Mat<f64>) {
    let mut sum = Mat::<f64>::zeros(0, 0);
    let mut sum2 = Mat::<f64>::zeros(0, 0);
    for seed in 0..draws {
        let g = gram_of(seed);
        if seed == 0 {
            sum = Mat::zeros(g.nrows(), g.ncols());
            sum2 = Mat::zeros(g.nrows(), g.ncols());
        }
        for j in 0..g.ncols() {
            for i in 0..g.nrows() {
                sum[(i, j)] += g[(i, j)];
                sum2[(i, j)] += g[(i, j)] * g[(i, j)];
            }
        }
    }
    let s = draws as f64;
    let mean = Mat::from_fn(sum.nrows(), sum.ncols(), |i, j| sum[(i, j)] / s);
    let se = Mat::from_fn(sum.nrows(), sum.ncols(), |i, j| {
        let m = mean[(i, j)];
        ((sum2[(i, j)] / s - m * m).max(0.0) / (s - 1.0)).sqrt()
    });
    (mean, se)
}

/// Every upper-triangle entry's mean within 5 standard errors of `want`.
fn assert_unbiased(
    label: &str,
    mean: &Mat<f64>,
    se: &Mat<f64>,
    want: impl Fn(usize, usize) -> f64,
) {
    for i in 0..mean.nrows() {
        for j in i..mean.ncols() {
            let w = want(i, j);
            assert!(
                (mean[(i, j)] - w).abs() <= 5.0 * se[(i, j)] + 1e-12 * w.abs().max(1.0),
                "{label} ({i},{j}): mean {} vs {w} (se {})",
                mean[(i, j)],
                se[(i, j)]
            );
        }
    }
}

/// `onepass`/`subspace` features of `n` vectors of dimension `d` are
/// unbiased for the map's own polynomial `‖x‖‖y‖/d · Σ c_j ρ^j` (mean of
/// `draws` maps at 5 standard errors, see `assert_unbiased`).
fn polynomial_is_unbiased(
    method: Method,
    arch: &Architecture,
    d: usize,
    n: usize,
    xseed: u64,
    degree: usize,
    draws: u64,
) {
    let x = values(n * d, xseed);
    let mut cfg = FeatureConfig::new(64, method, KernelKind::Ntk, 0);
    cfg.degree = Some(degree);
    let coeffs = FeatureMap::<f64>::new(arch, Shape::Vector { dim: d }, &cfg)
        .unwrap()
        .one_pass_fit()
        .unwrap()
        .0
        .to_vec();
    let (mean, se) = gram_moments(draws, |seed| {
        let mut c = cfg.clone();
        c.seed = seed;
        gram(features(arch, Shape::Vector { dim: d }, &x, &c).as_ref())
    });
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    assert_unbiased(method.name(), &mean, &se, |i, j| {
        let xi = &x[i * d..(i + 1) * d];
        let xj = &x[j * d..(j + 1) * d];
        let (nx, ny) = (dot(xi, xi).sqrt(), dot(xj, xj).sqrt());
        let rho = dot(xi, xj) / (nx * ny);
        let poly: f64 = coeffs
            .iter()
            .enumerate()
            .map(|(k, c)| c * rho.powi(k as i32))
            .sum();
        nx * ny / d as f64 * poly
    });
}

#[test]
fn ntksketch_of_degree_one_is_its_polynomial_kernel() {
    // Degree 1: the NNGP is not sketched at all (p(ρ) = a₀ + a₁ρ is a
    // constant coordinate and the unit direction; D is large enough that
    // nothing is compressed), so its Gram equals the polynomial network's
    // kernel to rounding, computed here independently in closed form:
    // Σ₁ = w²⟨x, y⟩/d, ReLU ↦ sqrt(Σ₁(x,x)Σ₁(y,y))·p₁(ρ)/2, Σ̇ = p₀(ρ)/2,
    // Dense(w₂) on top. The NTK's product Θ₁·Σ̇ goes through a TensorSRHT,
    // unbiased: the mean of 300 maps is compared at 5 standard errors (the
    // standard error estimated from the draws; a false failure has
    // probability below 1e−5 over the 10 entries).
    let (w1, w2, d, n) = (1.3, 0.8, 5, 4);
    let arch = Architecture::new(vec![
        dense(w1, None),
        act(Activation::Relu),
        dense(w2, None),
    ])
    .unwrap();
    let x = values(n * d, 3);
    let p1 = arccos1_fit(1, 0).unwrap().coeffs;
    let p0 = dual_activations::polyfit::arccos0_fit(1, 0).unwrap().coeffs;
    let want = |kernel: KernelKind, i: usize, j: usize| {
        let xi = &x[i * d..(i + 1) * d];
        let xj = &x[j * d..(j + 1) * d];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        let s = |a: &[f64], b: &[f64]| w1 * w1 * dot(a, b) / d as f64;
        let (sxx, syy, sxy) = (s(xi, xi), s(xj, xj), s(xi, xj));
        let rho = sxy / (sxx * syy).sqrt();
        let k1 = (sxx * syy).sqrt() * p1.eval(rho) / 2.0;
        let kd = p0.eval(rho) / 2.0;
        match kernel {
            KernelKind::Nngp => w2 * w2 * k1,
            KernelKind::Ntk => w2 * w2 * k1 + w2 * w2 * sxy * kd,
        }
    };
    let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Nngp, 1);
    c.degree = Some(1);
    let g = gram(features(&arch, Shape::Vector { dim: d }, &x, &c).as_ref());
    for i in 0..n {
        for j in 0..n {
            let w = want(KernelKind::Nngp, i, j);
            // Rounding only: a handful of f64 operations per coordinate.
            assert!(
                (g[(i, j)] - w).abs() <= 1e-12 * w.abs().max(1.0),
                "({i},{j}): {} vs {w}",
                g[(i, j)]
            );
        }
    }
    let (mean, se) = gram_moments(300, |seed| {
        let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Ntk, seed);
        c.degree = Some(1);
        gram(features(&arch, Shape::Vector { dim: d }, &x, &c).as_ref())
    });
    assert_unbiased("NTK", &mean, &se, |i, j| want(KernelKind::Ntk, i, j));
}

/// `fit_polynomials` hands the fitter the pairs' exact correlations and
/// weights: checked against a closed form of the one-hidden-layer network
/// with a bias (Σ₁ = w²⟨x, y⟩/d + b², Θ₁ = Σ₁; weights `q_x q_y` and `Θ₁²`,
/// off-diagonal pairs twice; noise terms `Σ q_x q_y / D` and
/// `Σ Θ₁(x,x)Θ₁(y,y) / D`), fitted here with the same public fitters.
#[test]
fn fit_polynomials_weighs_the_samples_pairs() {
    let (w1, b1, d, s) = (1.3, 0.4, 6, 9);
    let arch = Architecture::new(vec![
        dense(w1, Some(b1)),
        act(Activation::Relu),
        dense(0.8, None),
    ])
    .unwrap();
    let x = values(s * d, 21);
    let sample = MatRef::from_column_major_slice(&x, d, s);
    let mut cfg = FeatureConfig::new(512, Method::NtkSketch, KernelKind::Ntk, 0);
    cfg.degree = Some(3);
    cfg.fit_polynomials(&arch, sample).unwrap();
    assert_eq!(cfg.polynomial, Polynomial::Data);
    assert_eq!(cfg.data_polynomials.len(), 1);
    let sig = |i: usize, j: usize| {
        w1 * w1 * (0..d).map(|k| sample[(k, i)] * sample[(k, j)]).sum::<f64>() / d as f64 + b1 * b1
    };
    let (mut rho, mut wq, mut wt) = (Vec::new(), Vec::new(), Vec::new());
    let (mut nq, mut nt) = (0.0, 0.0);
    for j in 0..s {
        for i in j..s {
            let m = if i == j { 1.0 } else { 2.0 };
            let (qx, qy, c) = (sig(i, i), sig(j, j), sig(i, j));
            rho.push(c / (qx * qy).sqrt());
            wq.push(m * qx * qy);
            wt.push(m * c * c);
            nq += m * qx * qy;
            nt += m * qx * qy;
        }
    }
    let p1 = arccos1_data_fit(3, 0, &rho, &wq, nq / 512.0)
        .unwrap()
        .coeffs;
    let p0 = arccos0_data_fit(3, 0, &rho, &wt, nt / 512.0)
        .unwrap()
        .coeffs;
    let got = &cfg.data_polynomials[0];
    for (name, g, w) in [
        ("kappa1", &got.kappa1, p1.coeffs()),
        ("kappa0", &got.kappa0, p0.coeffs()),
    ] {
        for (a, b) in g.iter().zip(w) {
            // Same fitter, inputs equal up to the rounding of two recursions.
            assert!((a - b).abs() <= 1e-9, "{name}: {g:?} vs {w:?}");
        }
    }
}

/// The purpose of data-fitted polynomials: on samples like the fitting
/// sample (not in it), the polynomial network's NTK is closer to the exact
/// NTK than with the 2021 fits. Both polynomial networks are evaluated
/// deterministically here (per-layer recursion with `p₁`, `p₀` in place of
/// `κ₁`, `κ₀`), the exact NTK by the exact backend; near-orthogonal inputs,
/// where the 2021 degree-2 `κ₀` errs most at `ρ = 1` (`docs/NUMERICS.md`).
#[test]
fn data_polynomials_beat_the_2021_fits_on_held_out_samples() {
    let w = std::f64::consts::SQRT_2;
    let arch = Architecture::new(vec![
        dense(w, None),
        act(Activation::Relu),
        dense(w, None),
        act(Activation::Relu),
        dense(w, None),
    ])
    .unwrap();
    let (d, s, n) = (48, 60, 40);
    let fit_x = values(s * d, 5);
    let test_x = values(n * d, 6);
    let mut cfg = FeatureConfig::new(8192, Method::NtkSketch, KernelKind::Ntk, 0);
    cfg.degree = Some(2);
    cfg.fit_polynomials(&arch, MatRef::from_column_major_slice(&fit_x, d, s))
        .unwrap();
    let exact = kernels(
        &arch,
        Input::Vectors(MatRef::from_column_major_slice(&test_x, d, n)),
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap()
    .ntk;
    let poly_ntk = |polys: &[(Vec<f64>, Vec<f64>)]| -> f64 {
        let ev = |c: &[f64], r: f64| c.iter().rev().fold(0.0, |a, v| a * r + v);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                let xi = &test_x[i * d..(i + 1) * d];
                let xj = &test_x[j * d..(j + 1) * d];
                let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
                let (mut sxx, mut syy, mut sxy) = (
                    2.0 * dot(xi, xi) / d as f64,
                    2.0 * dot(xj, xj) / d as f64,
                    2.0 * dot(xi, xj) / d as f64,
                );
                let mut t = sxy;
                for (p1, p0) in polys {
                    let r = (sxx * syy).sqrt();
                    let rho = (sxy / r).clamp(-1.0, 1.0);
                    // Dense(√2) after ReLU: Σ' = 2·r·p₁(ρ)/2, Θ' = Σ' + 2·Θ·p₀(ρ)/2;
                    // the variances stay exact (p₁(1) = 1).
                    let (kxx, kyy) = (sxx * ev(p1, 1.0), syy * ev(p1, 1.0));
                    sxy = r * ev(p1, rho);
                    t = sxy + t * ev(p0, rho);
                    (sxx, syy) = (kxx, kyy);
                }
                num += (t - exact[(i, j)]).powi(2);
                den += exact[(i, j)].powi(2);
            }
        }
        (num / den).sqrt()
    };
    let data: Vec<(Vec<f64>, Vec<f64>)> = cfg
        .data_polynomials
        .iter()
        .map(|p| (p.kappa1.clone(), p.kappa0.clone()))
        .collect();
    let fit: Vec<(Vec<f64>, Vec<f64>)> = (0..2)
        .map(|h| {
            (
                arccos1_fit(2, h).unwrap().coeffs.coeffs().to_vec(),
                dual_activations::polyfit::arccos0_fit(2, h)
                    .unwrap()
                    .coeffs
                    .coeffs()
                    .to_vec(),
            )
        })
        .collect();
    let (e_data, e_fit) = (poly_ntk(&data), poly_ntk(&fit));
    // Deterministic (no sketch). Measured 2026-12-03: 2.89 % against 4.27 %.
    // Degree 2 cannot follow κ₀ both over these inputs' wide first-layer
    // correlations (|ρ| up to about 0.4 at d = 48) and at ρ = 1, so the
    // gain is smaller than on the 2021 configuration's d = 384 (NUMERICS);
    // the bound asks for a clear improvement, not that figure.
    assert!(e_data < 0.8 * e_fit, "data {e_data}, 2021 fit {e_fit}");
    // And the 2021 fits err visibly here (4.27 % measured), so the comparison
    // is not between two negligible biases.
    assert!(e_fit > 0.01, "2021 fit {e_fit}");
}

/// With degree-1 data polynomials nothing in the NNGP is sampled, so the
/// map's Gram is the polynomial network's kernel with the stored
/// coefficients, to rounding (as `ntksketch_of_degree_one_is_its_polynomial_kernel`).
#[test]
fn ntksketch_uses_the_fitted_polynomials() {
    let (w1, w2, d, n) = (1.3, 0.8, 5, 4);
    let arch = Architecture::new(vec![
        dense(w1, None),
        act(Activation::Relu),
        dense(w2, None),
    ])
    .unwrap();
    let x = values(n * d, 3);
    let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Nngp, 1);
    c.degree = Some(1);
    // Fitted on other samples, so the coefficients differ from the 2021 fit's.
    let fit_x = values(30 * d, 4);
    c.fit_polynomials(&arch, MatRef::from_column_major_slice(&fit_x, d, 30))
        .unwrap();
    let p1 = c.data_polynomials[0].kappa1.clone();
    assert_ne!(p1, arccos1_fit(1, 0).unwrap().coeffs.coeffs().to_vec());
    let g = gram(features(&arch, Shape::Vector { dim: d }, &x, &c).as_ref());
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    for i in 0..n {
        for j in 0..n {
            let (xi, xj) = (&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
            let sg = |a: &[f64], b: &[f64]| w1 * w1 * dot(a, b) / d as f64;
            let (sxx, syy, sxy) = (sg(xi, xi), sg(xj, xj), sg(xi, xj));
            let rho = sxy / (sxx * syy).sqrt();
            let want = w2 * w2 * (sxx * syy).sqrt() * (p1[0] + p1[1] * rho) / 2.0;
            assert!(
                (g[(i, j)] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "({i},{j}): {} vs {want}",
                g[(i, j)]
            );
        }
    }
}

/// Without biases a Relu network is homogeneous: scaling every input by `c`
/// scales every variance and NTK entry by `c²` and leaves the correlations,
/// hence the relative weights, unchanged, so the fitted polynomials must not
/// change — also at `c = 1e150`, where the squared variances overflow `f64`
/// unless the weights are formed relative to the largest diagonal.
#[test]
fn data_polynomials_do_not_depend_on_the_inputs_scale() {
    let arch = Architecture::new(vec![
        dense(1.2, None),
        act(Activation::Relu),
        dense(0.9, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    let (d, s) = (7, 25);
    let x = values(d * s, 8);
    let fit = |c: f64| {
        let xs: Vec<f64> = x.iter().map(|v| v * c).collect();
        let mut cfg = FeatureConfig::new(256, Method::NtkSketch, KernelKind::Ntk, 0);
        cfg.degree = Some(3);
        cfg.fit_polynomials(&arch, MatRef::from_column_major_slice(&xs, d, s))
            .unwrap();
        cfg.data_polynomials
    };
    let base = fit(1.0);
    for c in [1e-100, 1e150] {
        let other = fit(c);
        for (p, q) in base.iter().zip(&other) {
            for (a, b) in p
                .kappa1
                .iter()
                .chain(&p.kappa0)
                .zip(q.kappa1.iter().chain(&q.kappa0))
            {
                // Rounding of the recursion and of the bins' means only.
                assert!((a - b).abs() <= 1e-9, "c = {c}: {base:?} vs {other:?}");
            }
        }
    }
}

#[test]
fn data_polynomials_refuse_what_they_cannot_do() {
    let relu = |layers: usize| {
        let mut l = vec![dense(1.0, None)];
        for _ in 0..layers {
            l.push(act(Activation::Relu));
            l.push(dense(1.0, None));
        }
        Architecture::new(l).unwrap()
    };
    let x = values(3 * 10, 1);
    let sample = MatRef::from_column_major_slice(&x, 3, 10);
    let option = |r: ntk_features::Result<()>, needle: &str| match r {
        Err(FeatureError::InvalidOption { reason, .. }) => {
            assert!(reason.contains(needle), "{reason}")
        }
        other => panic!("expected InvalidOption ({needle}), got {other:?}"),
    };
    let option_map = |c: &FeatureConfig, arch: &Architecture, needle: &str| {
        option(
            FeatureMap::<f64>::new(arch, Shape::Vector { dim: 3 }, c).map(|_| ()),
            needle,
        )
    };
    // Only ntksketch fits its polynomials to data.
    let mut c = FeatureConfig::new(64, Method::Hermite, KernelKind::Ntk, 0);
    option(c.fit_polynomials(&relu(1), sample), "ntksketch");
    // Data polynomials that were never fitted, fitted for another depth, or
    // for another degree.
    let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Ntk, 0);
    c.polynomial = Polynomial::Data;
    option_map(&c, &relu(1), "fit_polynomials");
    c.fit_polynomials(&relu(1), sample).unwrap();
    FeatureMap::<f64>::new(&relu(1), Shape::Vector { dim: 3 }, &c).unwrap();
    option_map(&c, &relu(2), "fit");
    let mut other = c.clone();
    other.degree = Some(2);
    option_map(&other, &relu(1), "refit");
    let mut bad = c.clone();
    bad.data_polynomials[0].kappa0[1] = f64::NAN;
    option_map(&bad, &relu(1), "finite");
    // Another method with data polynomials set by hand.
    let mut cn = c.clone();
    cn.method = Method::CntkSketch;
    let img = Architecture::new(vec![
        conv3(),
        act(Activation::Relu),
        Layer::Flatten,
        dense(1.0, None),
    ])
    .unwrap();
    option(
        FeatureMap::<f64>::new(&img, Shape::Image { h: 4, w: 4, c: 1 }, &cn).map(|_| ()),
        "ntksketch",
    );
    // Bad samples.
    let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Ntk, 0);
    assert!(matches!(
        c.fit_polynomials(&relu(1), MatRef::from_column_major_slice(&x[..0], 3, 0)),
        Err(FeatureError::Empty { .. })
    ));
    let mut nan = x.clone();
    nan[7] = f64::NAN;
    assert!(matches!(
        c.fit_polynomials(&relu(1), MatRef::from_column_major_slice(&nan, 3, 10)),
        Err(FeatureError::NonFinite {
            sample: 2,
            index: 1,
            ..
        })
    ));
    let many = vec![0.5; ntk_features::MAX_FIT_SAMPLES + 1];
    option(
        c.fit_polynomials(
            &relu(1),
            MatRef::from_column_major_slice(&many, 1, many.len()),
        ),
        "at most",
    );
    // Zero vectors carry no correlation: the 2021 fits.
    let zeros = vec![0.0; 30];
    c.degree = Some(2);
    c.fit_polynomials(&relu(1), MatRef::from_column_major_slice(&zeros, 3, 10))
        .unwrap();
    assert_eq!(
        c.data_polynomials[0].kappa1,
        arccos1_fit(2, 0).unwrap().coeffs.coeffs().to_vec()
    );
    assert_eq!("data".parse::<Polynomial>().unwrap(), Polynomial::Data);
}

#[test]
fn onepass_is_unbiased_for_its_polynomial() {
    // E⟨Z(x), Z(y)⟩ = ‖x‖‖y‖/d · Σ c_j ρ^j over the sketch's randomness
    // (PolySketch and SRHT are unbiased; the constant and degree-1 terms
    // are exact). The mean of S = 400 independent maps is compared with the
    // polynomial at 5 standard errors, the standard error estimated from the
    // same draws (a t-test with 399 degrees of freedom: a false failure per
    // entry has probability below 1e−6, below 2e−5 for the 10 entries).
    let d = 6;
    let n = 4;
    let arch = Architecture::new(vec![
        dense(std::f64::consts::SQRT_2, None),
        act(Activation::Relu),
        dense(std::f64::consts::SQRT_2, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    polynomial_is_unbiased(Method::OnePass, &arch, d, n, 5, 4, 400);
}

#[test]
fn onepass_polynomial_is_close_to_the_exact_kernel() {
    // The fit's own error: the 2021 code's grid and weights give a degree-4
    // fit of the depth-2 ReLU NTK within 0.17·K(1) on [−1, 1]
    // (docs/SOURCES.md §P1.2b: "L = 2, q = 4: 0.17"), here K(1) = 3 in the paper's
    // units; our fit of our own kernel function must agree with that figure
    // and with the exact kernel at ρ = 1 to within its reported error.
    let arch = Architecture::new(vec![
        dense(std::f64::consts::SQRT_2, None),
        act(Activation::Relu),
        dense(std::f64::consts::SQRT_2, None),
        act(Activation::Relu),
        dense(std::f64::consts::SQRT_2, None),
    ])
    .unwrap();
    let mut c = FeatureConfig::new(256, Method::OnePass, KernelKind::Ntk, 0);
    c.degree = Some(4);
    let map = FeatureMap::<f64>::new(&arch, Shape::Vector { dim: 3 }, &c).unwrap();
    let (coeffs, max_error) = map.one_pass_fit().unwrap();
    // neural-tangents units: G = 2·K_relu (W_std = √2 everywhere, 1/d on the input).
    let k_relu = |r: f64| {
        let y1 = arccos1(r);
        let y2 = arccos1(y1);
        r * arccos0(r) * arccos0(y1) + y1 * arccos0(y1) + y2
    };
    let p = |r: f64| -> f64 {
        coeffs
            .iter()
            .enumerate()
            .map(|(k, c)| c * r.powi(k as i32))
            .sum()
    };
    // The error measured here on 4001 points of [−1, 1] (the fit's own
    // report is not the yardstick): within the paper's 0.17·K(1), and not
    // far below it (the same least-squares problem gives about the same
    // error; 0.5 of it would mean another fit). The report must match the
    // measurement from below (it is taken on the fit's coarser grid).
    let sup = (0..=4000)
        .map(|i| -1.0 + i as f64 / 2000.0)
        .map(|r| (p(r) - 2.0 * k_relu(r)).abs())
        .fold(0.0, f64::max);
    assert!(
        (0.5 * 2.0 * 0.17..=2.0 * 0.17 * 1.05).contains(&sup),
        "measured fit error {sup}"
    );
    assert!(
        max_error <= sup * (1.0 + 1e-12) && max_error >= 0.9 * sup,
        "reported {max_error} against measured {sup}"
    );
}

#[test]
fn ntkrf_is_unbiased_for_the_exact_kernel() {
    // Leverage-score rows (reweighted: norm √d exactly), the exact odd parts
    // and TensorSRHT are each unbiased and independent across layers, so
    // E⟨Z(x), Z(y)⟩ = Θ(x, y). Mean of 300 maps against the exact NTK at 5
    // standard errors (t-test, as above: false failure below 2e−5 overall).
    let (d, n) = (5, 3);
    let arch = Architecture::new(vec![
        dense(1.2, Some(0.3)),
        act(Activation::Relu),
        dense(1.1, None),
        act(Activation::LeakyRelu { alpha: 0.2 }),
        dense(0.9, None),
    ])
    .unwrap();
    let x = values(n * d, 9);
    let k = kernels(
        &arch,
        Input::Vectors(MatRef::from_column_major_slice(&x, d, n)),
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
        let (mean, se) = gram_moments(300, |seed| {
            let mut c = FeatureConfig::new(96, Method::NtkRf, kernel, seed);
            // Unbiasedness is the linear map's; calibration is a ratio.
            c.calibrate = Toggle::Off;
            gram(features(&arch, Shape::Vector { dim: d }, &x, &c).as_ref())
        });
        let want = match kernel {
            KernelKind::Nngp => &k.nngp,
            KernelKind::Ntk => &k.ntk,
        };
        assert_unbiased(&format!("{kernel:?}"), &mean, &se, |i, j| want[(i, j)]);
    }
}

#[test]
fn ntkrf_is_bitwise_equal_for_any_thread_count_and_batch_split() {
    // Random-feature layers multiply whole batches at once (128 vectors);
    // a sample's features must not depend on the batch it lands in or its
    // column in it: 300 samples span three batches, and the splits move
    // every sample to another batch and column.
    let d = 7;
    let n = 300;
    let arch = Architecture::new(vec![
        dense(1.4, None),
        act(Activation::Relu),
        dense(1.4, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    let x: Vec<f32> = values(n * d, 2).iter().map(|v| *v as f32).collect();
    let c = FeatureConfig::new(256, Method::NtkRf, KernelKind::Ntk, 4);
    let map = FeatureMap::<f32>::new(&arch, Shape::Vector { dim: d }, &c).unwrap();
    let all = map.apply(&x, Par::Seq, &mut |_, _| {}).unwrap();
    let threads = map.apply(&x, Par::rayon(2), &mut |_, _| {}).unwrap();
    for (split, rest) in [(1, n - 1), (7, n - 7), (130, n - 130), (257, n - 257)] {
        let a = map
            .apply(&x[..split * d], Par::Seq, &mut |_, _| {})
            .unwrap();
        let b = map
            .apply(&x[split * d..], Par::rayon(2), &mut |_, _| {})
            .unwrap();
        for j in 0..n {
            for i in 0..map.dim() {
                let v = if j < split {
                    a[(i, j)]
                } else {
                    b[(i, j - split)]
                };
                assert_eq!(
                    v.to_bits(),
                    all[(i, j)].to_bits(),
                    "split {split}+{rest}, sample {j}"
                );
                assert_eq!(threads[(i, j)].to_bits(), all[(i, j)].to_bits());
            }
        }
    }
}

#[test]
fn cntksketch_approximates_the_exact_cntk() {
    // Three 6×6×2 images, two VALID 3×3 convs: per-position sketches of D
    // values with exact normalisers, at D = 4096 against the exact kernel
    // (the full neural-tangents CNTK). Two Relu layers, so the sketch is not
    // unbiased (see the test above for one layer); this checks the whole
    // map's accuracy. Over seeds 0–7 the relative Frobenius error was
    // 1.9–3.6 % for the NTK (the q = 4 fit of κ₀ is 0.07 off near ρ = 1, plus
    // the noise of two sketched layers, about √(2·2/D) ≈ 3 % per entry) and
    // 0.12–0.57 % for the NNGP (κ₁'s fit is within 1.5e−3 and calibration
    // fixes the diagonal). The bounds are twice the largest; the seed is
    // fixed, so the test cannot fail by chance. Caught: NNGP and NTK
    // swapped (44 % and 80 %), features scaled by √2 (≥ 100 %).
    let arch = Architecture::new(vec![
        conv3(),
        act(Activation::Relu),
        conv3(),
        act(Activation::Relu),
        Layer::GlobalAvgPool,
        dense(1.0, None),
    ])
    .unwrap();
    let shape = Shape::Image { h: 6, w: 6, c: 2 };
    let n = 3;
    let x = values(n * 72, 4);
    let k = kernels(
        &arch,
        Input::Images {
            data: &x,
            n,
            h: 6,
            w: 6,
            c: 2,
        },
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    for (kind, exact, bound) in [
        (KernelKind::Ntk, &k.ntk, 0.072),
        (KernelKind::Nngp, &k.nngp, 0.0114),
    ] {
        let c = FeatureConfig::new(4096, Method::CntkSketch, kind, 3);
        let z = features(&arch, shape, &x, &c);
        let e = ntk_features::gram_error(z.as_ref(), exact.as_ref()).unwrap();
        assert!(e < bound, "{kind:?}: error {e}");
    }
}

/// Dense reference of the CNTK of `Conv(3×3, VALID, w₁, b₁) → Relu →
/// Conv(3×3, VALID, w₂) → GlobalAvgPool → Dense(1)` on NHWC images, written
/// from neural-tangents' rules (docs/NUMERICS.md, "Conventions"): a conv
/// averages the input covariance over the 9 offsets (and the `c` channels
/// at the input) times `w²`, plus `b²`; its NTK adds that NNGP to `w²` times
/// the averaged NTK; Relu maps `(Σ, Θ)` to `(√(q q')·k₁(ρ)/2, Θ·k₀(ρ)/2)`.
/// With `k₁ = κ₁`, `k₀ = κ₀` it is the exact CNTK (checked against
/// [`kernels`]); with the `cntksketch` polynomials it is what the sketch
/// estimates. Returns `(nngp, ntk)`.
fn reference_cntk(
    x: &[f64],
    (n, h, w, c): (usize, usize, usize, usize),
    (w1, b1, w2): (f64, f64, f64),
    k1: impl Fn(f64) -> f64,
    k0: impl Fn(f64) -> f64,
) -> (Mat<f64>, Mat<f64>) {
    let (h1, w1n) = (h - 2, w - 2);
    let (h2, w2n) = (h1 - 2, w1n - 2);
    let px = |s: usize, i: usize, j: usize, ch: usize| x[((s * h + i) * w + j) * c + ch];
    // First conv: Σ₁((i, j), (k, l)) between samples a and b.
    let layer1 = |a: usize, b: usize| {
        Mat::from_fn(h1 * w1n, h1 * w1n, |p, q| {
            let (i, j, k, l) = (p / w1n, p % w1n, q / w1n, q % w1n);
            let mut acc = 0.0;
            for di in 0..3 {
                for dj in 0..3 {
                    for ch in 0..c {
                        acc += px(a, i + di, j + dj, ch) * px(b, k + di, l + dj, ch);
                    }
                }
            }
            w1 * w1 * acc / (9.0 * c as f64) + b1 * b1
        })
    };
    let selves: Vec<Mat<f64>> = (0..n).map(|a| layer1(a, a)).collect();
    let mut nngp = Mat::zeros(n, n);
    let mut ntk = Mat::zeros(n, n);
    for a in 0..n {
        for b in 0..n {
            let s1 = layer1(a, b);
            // Θ₁ = Σ₁ (nothing before the first layer has parameters).
            let (sa, sb) = (&selves[a], &selves[b]);
            let mut s2 = Mat::zeros(h1 * w1n, h1 * w1n);
            let mut t2 = Mat::zeros(h1 * w1n, h1 * w1n);
            for p in 0..h1 * w1n {
                for q in 0..h1 * w1n {
                    let norm = (sa[(p, p)] * sb[(q, q)]).sqrt();
                    let rho = (s1[(p, q)] / norm).clamp(-1.0, 1.0);
                    s2[(p, q)] = norm * k1(rho) / 2.0;
                    t2[(p, q)] = s1[(p, q)] * k0(rho) / 2.0;
                }
            }
            let (mut s, mut t) = (0.0, 0.0);
            for p in 0..h2 * w2n {
                for q in 0..h2 * w2n {
                    let (i, j, k, l) = (p / w2n, p % w2n, q / w2n, q % w2n);
                    let (mut s3, mut t3) = (0.0, 0.0);
                    for di in 0..3 {
                        for dj in 0..3 {
                            let u = (i + di) * w1n + j + dj;
                            let v = (k + di) * w1n + l + dj;
                            s3 += s2[(u, v)];
                            t3 += t2[(u, v)];
                        }
                    }
                    let s3 = w2 * w2 * s3 / 9.0;
                    s += s3;
                    t += w2 * w2 * t3 / 9.0 + s3;
                }
            }
            let pairs = ((h2 * w2n) * (h2 * w2n)) as f64;
            // GlobalAvgPool averages the pairs; Dense(1) adds its NNGP.
            nngp[(a, b)] = s / pairs;
            ntk[(a, b)] = t / pairs + s / pairs;
        }
    }
    (nngp, ntk)
}

#[test]
fn cntksketch_is_unbiased_for_its_polynomial_cntk() {
    // One Relu layer: the first conv's per-position features are exact, the
    // Relu layer's TensorSRHT sketches of the polynomials p₁ ≈ κ₁, p₀ ≈ κ₀
    // (the 2021 fits of layer 0, degree 2) are unbiased given them, and
    // everything after is linear, so E⟨Z(x), Z(y)⟩ is the reference CNTK
    // with κ₁, κ₀ replaced by p₁, p₀ (calibration off: it is a ratio).
    // Mean of 3200 maps at 5 standard errors per entry (t with 3199 degrees
    // of freedom ≈ normal: a false failure below 6e−7 per entry, 7e−6 over
    // the 2 × 6 entries). Power: every standard error is below 0.5 % of its
    // target (asserted), so a 3 % error in any entry fails. Mutations tried,
    // as the distance of the mean from the mutated target in standard
    // errors: no bias (b₁ = 0) 90–136; the exact κ₁, κ₀ in place of the
    // fits (degree 2: p₀(1) = 0.90) 10–12 on the NTK diagonal (5–6 at 800
    // maps); NNGP and NTK swapped, or features scaled by √2, > 100.
    let (n, h, w, c) = (3, 6, 6, 2);
    let (w1, b1, w2) = (std::f64::consts::SQRT_2, 0.3, 1.1);
    let arch = Architecture::new(vec![
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Valid,
            w_std: w1,
            b_std: Some(b1),
        },
        act(Activation::Relu),
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Valid,
            w_std: w2,
            b_std: None,
        },
        Layer::GlobalAvgPool,
        dense(1.0, None),
    ])
    .unwrap();
    let x = values(n * h * w * c, 11);
    // The reference is the exact CNTK when given the arc-cosine kernels.
    let exact = kernels(
        &arch,
        Input::Images {
            data: &x,
            n,
            h,
            w,
            c,
        },
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    let (rn, rt) = reference_cntk(&x, (n, h, w, c), (w1, b1, w2), arccos1, arccos0);
    for i in 0..n {
        for j in 0..n {
            // Two summation orders of ~200 positive terms: 1e−13 relative.
            assert!((rn[(i, j)] - exact.nngp[(i, j)]).abs() <= 1e-13 * rn[(i, j)].abs());
            assert!((rt[(i, j)] - exact.ntk[(i, j)]).abs() <= 1e-13 * rt[(i, j)].abs());
        }
    }
    let p1 = arccos1_fit(2, 0).unwrap().coeffs;
    let p0 = arccos0_fit(2, 0).unwrap().coeffs;
    let (pn, pt) = reference_cntk(
        &x,
        (n, h, w, c),
        (w1, b1, w2),
        |r| p1.eval(r),
        |r| p0.eval(r),
    );
    for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
        let (mean, se) = gram_moments(3200, |seed| {
            let mut cfg = FeatureConfig::new(256, Method::CntkSketch, kernel, seed);
            cfg.degree = Some(2);
            cfg.calibrate = Toggle::Off;
            gram(features(&arch, Shape::Image { h, w, c }, &x, &cfg).as_ref())
        });
        let want = match kernel {
            KernelKind::Nngp => &pn,
            KernelKind::Ntk => &pt,
        };
        for i in 0..n {
            for j in i..n {
                assert!(
                    se[(i, j)] <= 0.005 * want[(i, j)].abs(),
                    "{kernel:?} ({i},{j}): se {} against {} has no power",
                    se[(i, j)],
                    want[(i, j)]
                );
            }
        }
        assert_unbiased(&format!("cntksketch {kernel:?}"), &mean, &se, |i, j| {
            want[(i, j)]
        });
    }
}

#[test]
fn methods_refuse_what_they_do_not_cover() {
    let fc = |a: Activation, b: Option<f64>| {
        Architecture::new(vec![dense(1.0, b), act(a), dense(1.0, None)]).unwrap()
    };
    let v = Shape::Vector { dim: 3 };
    let unsupported = |arch: &Architecture, shape: Shape, m: Method, needle: &str| {
        let c = FeatureConfig::new(64, m, KernelKind::Ntk, 0);
        match FeatureMap::<f64>::new(arch, shape, &c) {
            Err(FeatureError::Unsupported { reason, .. }) => {
                assert!(reason.contains(needle), "{m}: {reason}")
            }
            other => panic!("{m}: expected Unsupported, got {other:?}"),
        }
    };
    unsupported(&fc(Activation::Gelu, None), v, Method::NtkSketch, "hermite");
    let flat = Architecture::new(vec![
        Layer::Flatten,
        dense(1.0, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    unsupported(
        &flat,
        Shape::Image { h: 2, w: 2, c: 1 },
        Method::NtkSketch,
        "cntksketch",
    );
    unsupported(
        &fc(Activation::Relu, None),
        v,
        Method::CntkSketch,
        "ntksketch",
    );
    unsupported(&fc(Activation::Relu, Some(0.1)), v, Method::OnePass, "bias");
    unsupported(&fc(Activation::Gelu, None), v, Method::OnePass, "hermite");
    unsupported(
        &fc(Activation::Relu, Some(0.1)),
        v,
        Method::Subspace,
        "bias",
    );
    unsupported(
        &fc(
            Activation::Erf {
                a: 1.0,
                b: 1.0,
                c: 0.0,
            },
            None,
        ),
        v,
        Method::NtkRf,
        "random or hermite",
    );
    // Polynomial degrees beyond the fitter's range are typed errors too.
    let mut c = FeatureConfig::new(64, Method::NtkSketch, KernelKind::Ntk, 0);
    c.degree = Some(40);
    c.polynomial = Polynomial::Fit;
    assert!(matches!(
        FeatureMap::<f64>::new(&fc(Activation::Relu, None), v, &c),
        Err(FeatureError::Activation { .. })
    ));
    // A feature dimension below the image path's smallest per-position
    // budget (256) once panicked in a clamp; it is a plain small map.
    let img = Architecture::new(vec![Layer::Flatten, dense(1.0, None)]).unwrap();
    let c = FeatureConfig::new(8, Method::Hermite, KernelKind::Ntk, 0);
    let map = FeatureMap::<f64>::new(&img, Shape::Image { h: 2, w: 2, c: 1 }, &c).unwrap();
    assert!(map.dim() <= 8);
    // Names round-trip and unknown names list the methods.
    for m in Method::ALL {
        assert_eq!(m.name().parse::<Method>().unwrap(), m);
    }
    match "ntk-sketch".parse::<Method>() {
        Err(FeatureError::InvalidOption { reason, .. }) => {
            assert!(
                reason.contains("ntksketch") && reason.contains("onepass"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn apply_into_overwrites_a_reused_buffer_and_checks_its_shape() {
    // A buffer full of NaN from an earlier use must come out equal to a
    // fresh `apply`, entry for entry (every coordinate is written); a buffer
    // of the wrong shape is a typed error.
    let d = 4;
    let n = 37;
    let arch = Architecture::new(vec![
        dense(1.3, Some(0.2)),
        act(Activation::Relu),
        dense(0.7, None),
    ])
    .unwrap();
    let x: Vec<f32> = values(n * d, 8).iter().map(|v| *v as f32).collect();
    for method in [
        Method::Hermite,
        Method::NtkSketch,
        Method::OnePass,
        Method::NtkRf,
    ] {
        let arch = if method == Method::OnePass {
            Architecture::new(vec![
                dense(1.3, None),
                act(Activation::Relu),
                dense(0.7, None),
            ])
            .unwrap()
        } else {
            arch.clone()
        };
        let c = FeatureConfig::new(128, method, KernelKind::Ntk, 2);
        let map = FeatureMap::<f32>::new(&arch, Shape::Vector { dim: d }, &c).unwrap();
        let fresh = map.apply(&x, Par::rayon(2), &mut |_, _| {}).unwrap();
        let mut out = Mat::<f32>::from_fn(map.dim(), n, |_, _| f32::NAN);
        map.apply_into(&x, out.as_mut(), Par::rayon(2), &mut |_, _| {})
            .unwrap();
        for j in 0..n {
            for i in 0..map.dim() {
                assert_eq!(
                    out[(i, j)].to_bits(),
                    fresh[(i, j)].to_bits(),
                    "{method} ({i},{j})"
                );
            }
        }
        let mut wrong = Mat::<f32>::zeros(map.dim(), n - 1);
        assert!(matches!(
            map.apply_into(&x, wrong.as_mut(), Par::Seq, &mut |_, _| {}),
            Err(FeatureError::DimMismatch { .. })
        ));
    }
}

#[test]
fn subspace_series_is_the_exact_kernel_in_the_cosine() {
    // The Taylor coefficients of G, composed layer by layer as power
    // series, against the exact backend on two vectors of cosine ρ
    // (K = ‖x‖‖y‖/d · G(ρ)). At |ρ| ≤ 1/2 the omitted terms of degree > 30
    // sum to at most 2^−31·G(1) (nonnegative coefficients summing to at most
    // G(1)); the layers' own series, taken to degree 64, add less at these
    // correlations (their arguments stay below κ₁(1/2) < 0.67 in modulus).
    let arch = Architecture::new(vec![
        dense(1.3, None),
        act(Activation::Relu),
        dense(1.7, None),
        act(Activation::LeakyRelu { alpha: 0.3 }),
        dense(0.8, None),
    ])
    .unwrap();
    for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
        let mut c = FeatureConfig::new(64, Method::Subspace, kernel, 0);
        c.degree = Some(30);
        let map = FeatureMap::<f64>::new(&arch, Shape::Vector { dim: 2 }, &c).unwrap();
        let (coeffs, _) = map.one_pass_fit().unwrap();
        let g1: f64 = coeffs.iter().sum();
        for rho in [-0.5f64, -0.1, 0.0, 0.3, 0.5] {
            let (s, t) = (1.7, 0.6);
            let x = [s, 0.0, t * rho, t * (1.0 - rho * rho).sqrt()];
            let k = kernels(
                &arch,
                Input::Vectors(MatRef::from_column_major_slice(&x, 2, 2)),
                None,
                Par::Seq,
                &mut |_, _| {},
            )
            .unwrap();
            let kk = match kernel {
                KernelKind::Nngp => &k.nngp,
                KernelKind::Ntk => &k.ntk,
            };
            let g = kk[(0, 1)] * 2.0 / (s * t);
            let series: f64 = coeffs
                .iter()
                .enumerate()
                .map(|(j, c)| c * rho.powi(j as i32))
                .sum();
            assert!(
                (series - g).abs() <= 1e-8 * g1,
                "{kernel:?} ρ = {rho}: series {series} vs exact {g}"
            );
        }
    }
}

#[test]
fn subspace_is_unbiased_for_its_truncated_series() {
    // Degrees 0 and 1 exact, one PolySketch per higher degree (unbiased):
    // E⟨Z(x), Z(y)⟩ = ‖x‖‖y‖/d · Σ_{j≤q} c_j ρ^j. Mean of 300 maps at 5
    // standard errors (t-test: a false failure below 1e−5 over 10 entries).
    let d = 5;
    let n = 4;
    let arch = Architecture::new(vec![
        dense(1.2, None),
        act(Activation::Relu),
        dense(1.4, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    polynomial_is_unbiased(Method::Subspace, &arch, d, n, 12, 5, 300);
    let mut small = FeatureConfig::new(64, Method::Subspace, KernelKind::Ntk, 0);
    small.degree = Some(5);
    // Too small a D for the exact input block and one coordinate per degree
    // (also at degree 1, where there are no sketched degrees at all).
    for (degree, dim) in [(5, d + 2), (1, d)] {
        small.degree = Some(degree);
        small.dim = dim;
        assert!(matches!(
            FeatureMap::<f64>::new(&arch, Shape::Vector { dim: d }, &small),
            Err(FeatureError::InvalidOption { what: "dim", .. })
        ));
    }
}

#[test]
fn statistical_dimension_and_spectral_error_have_their_closed_forms() {
    // K = v vᵀ (rank one, eigenvalue ‖v‖²): s_λ = ‖v‖²/(‖v‖² + λ).
    // Features Z = vᵀ are exact: ε = 0 (to rounding of a Cholesky of an
    // n = 6 matrix). Z = 0 gives ZᵀZ + λI = λI, whose eigenvalues relative
    // to K + λI are λ/(‖v‖² + λ) and 1: ε = ‖v‖²/(‖v‖² + λ).
    let v = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1];
    let n = v.len();
    let k = Mat::<f64>::from_fn(n, n, |i, j| v[i] * v[j]);
    let v2: f64 = v.iter().map(|a| a * a).sum();
    for lambda in [1e-3, 0.5, 20.0] {
        let s = ntk_features::statistical_dimension(k.as_ref(), lambda).unwrap();
        assert!((s - v2 / (v2 + lambda)).abs() <= 1e-12, "s_λ {s}");
        let z = Mat::<f64>::from_fn(1, n, |_, j| v[j]);
        let e = ntk_features::spectral_error(z.as_ref(), k.as_ref(), lambda).unwrap();
        assert!(e <= 1e-10, "exact features: ε = {e}");
        let z0 = Mat::<f64>::zeros(3, n);
        let e0 = ntk_features::spectral_error(z0.as_ref(), k.as_ref(), lambda).unwrap();
        assert!((e0 - v2 / (v2 + lambda)).abs() <= 1e-10, "ε = {e0}");
    }
    assert!(matches!(
        ntk_features::statistical_dimension(k.as_ref(), 0.0),
        Err(FeatureError::InvalidOption { what: "lambda", .. })
    ));
    let z = Mat::<f64>::zeros(2, n - 1);
    assert!(matches!(
        ntk_features::spectral_error(z.as_ref(), k.as_ref(), 1.0),
        Err(FeatureError::DimMismatch { .. })
    ));
}

#[test]
fn onepass_fits_high_degrees() {
    // Degrees 6–8 of the one-polynomial fit on a depth-2 ReLU network used
    // to fail ("adaptive quadrature did not converge for active-set QP"):
    // the QP's active-set steps cycled at a degenerate vertex. Bland's rule,
    // the fallback, terminates; the features then approximate the kernel.
    let arch = Architecture::new(vec![
        dense(1.0, None),
        act(Activation::Relu),
        dense(1.0, None),
        act(Activation::Relu),
        dense(1.0, None),
    ])
    .unwrap();
    let d = 5;
    let x = values(d * 12, 4);
    let xm = MatRef::from_column_major_slice(&x, d, 12);
    let k = kernels(&arch, Input::Vectors(xm), None, Par::Seq, &mut |_, _| {}).unwrap();
    for degree in 6..=8 {
        let mut c = FeatureConfig::new(2048, Method::OnePass, KernelKind::Ntk, 1);
        c.degree = Some(degree);
        let map = FeatureMap::<f64>::new(&arch, Shape::Vector { dim: d }, &c)
            .unwrap_or_else(|e| panic!("degree {degree}: {e}"));
        let z = map.apply(&x, Par::Seq, &mut |_, _| {}).unwrap();
        let e = ntk_features::gram_error(z.as_ref(), k.ntk.as_ref()).unwrap();
        // One PolySketch of a degree-8 polynomial at D = 2048 on 12 points:
        // a few percent; 25 % would mean a wrong fit.
        assert!(e < 0.25, "degree {degree}: error {e}");
    }
}
