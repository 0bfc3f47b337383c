//! Power series of unit-sphere dual kernels (Zandieh et al. 2021).

use dual_activations::taylor::{
    arccos0, arccos0_taylor, arccos1, arccos1_taylor, homogeneous_dual_taylor, relu_nngp,
    relu_nngp_taylor, relu_ntk, relu_ntk_taylor,
};
use dual_activations::{Activation, DualActivation, DualError};
use std::f64::consts::PI;

#[test]
fn arccos_series_match_paper1() {
    // docs/SOURCES.md §P1.2a, p = 1: κ1 → [1/π, 1/2, 1/(2π), 0, 1/(24π)], κ0 → [1/2, 1/π, 0, 1/(6π)].
    let k1 = arccos1_taylor(4);
    let want1 = [1.0 / PI, 0.5, 0.5 / PI, 0.0, 1.0 / (24.0 * PI)];
    let k0 = arccos0_taylor(3);
    let want0 = [0.5, 1.0 / PI, 0.0, 1.0 / (6.0 * PI)];
    for (a, b) in k1
        .coeffs()
        .iter()
        .zip(want1)
        .chain(k0.coeffs().iter().zip(want0))
    {
        assert!((a - b).abs() <= 1e-16, "{a} vs {b}");
    }
}

#[test]
fn series_sum_to_the_closed_forms() {
    // Inside |ρ| ≤ 0.9 the terms decay like 0.9^j: degree 400 leaves < 1e-18.
    let k1 = arccos1_taylor(400);
    let k0 = arccos0_taylor(400);
    for rho in [-0.9, -0.3, 0.0, 0.45, 0.9] {
        assert!((k1.eval(rho) - arccos1(rho)).abs() <= 1e-15);
        assert!((k0.eval(rho) - arccos0(rho)).abs() <= 1e-15);
    }
    // Neural-tangents' ReLU at unit variances is κ1/2 with multiplier κ0/2.
    let relu = DualActivation::new(Activation::Relu).unwrap();
    for rho in [-1.0, -0.3, 0.2, 1.0] {
        let d = relu.eval(1.0, 1.0, rho).unwrap();
        assert!(
            (d.k - 0.5 * arccos1(rho)).abs() <= 1e-16
                && (d.k_dot - 0.5 * arccos0(rho)).abs() <= 1e-16
        );
    }
}

#[test]
fn cauchy_route_reproduces_closed_coefficients() {
    // Depth 1: the composite functions are κ1 itself (NNGP) and ρκ0 + κ1 (NTK).
    let direct = arccos1_taylor(64);
    let cauchy = relu_nngp_taylor(1, 64).unwrap();
    for (a, b) in direct.coeffs().iter().zip(cauchy.coeffs()) {
        assert!((a - b).abs() <= 1e-14, "{a} vs {b}");
    }
    let ntk = relu_ntk_taylor(1, 64).unwrap();
    let k0 = arccos0_taylor(64);
    for j in 0..=64 {
        let want = direct.coeffs()[j] + if j > 0 { k0.coeffs()[j - 1] } else { 0.0 };
        assert!((ntk.coeffs()[j] - want).abs() <= 1e-14, "j={j}");
    }
}

#[test]
fn deep_relu_ntk_matches_reference_values() {
    // docs/SOURCES.md §P1.1: x_i = sin(1 + 0.5 i), y_i = cos(0.3 + 0.7 i), i = 0..4.
    let x: Vec<f64> = (0..5).map(|i| (1.0 + 0.5 * i as f64).sin()).collect();
    let y: Vec<f64> = (0..5).map(|i| (0.3 + 0.7 * i as f64).cos()).collect();
    let nx = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let ny = y.iter().map(|v| v * v).sum::<f64>().sqrt();
    let cos = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() / (nx * ny);
    assert!((nx * nx - 2.9079752409).abs() < 1e-9);
    assert!((cos - 0.2269650023).abs() < 1e-9);
    for (depth, want) in [(1, 1.6159059325), (2, 2.6571319787), (3, 3.7017390876)] {
        let got = nx * ny * relu_ntk(depth, cos);
        assert!((got - want).abs() < 1e-9, "L={depth}: {got} vs {want}");
        assert!((relu_ntk(depth, 1.0) - (depth as f64 + 1.0)).abs() < 1e-14);
        assert!((relu_nngp(depth, 1.0) - 1.0).abs() < 1e-15);
    }
}

#[test]
fn composite_series_are_nonnegative_and_bounded_by_their_tail() {
    for depth in 1..=5 {
        let degree = 128;
        let ntk = relu_ntk_taylor(depth, degree).unwrap();
        let nngp = relu_nngp_taylor(depth, degree).unwrap();
        assert!(ntk.coeffs().iter().chain(nngp.coeffs()).all(|&a| a >= 0.0));
        // Nonnegative coefficients: |K(ρ) − P(ρ)| ≤ Σ_{j>q} a_j = K(1) − P(1) on [−1, 1].
        // The Cauchy route adds at most ~3ε·K(1) per coefficient.
        let tail_ntk = (depth as f64 + 1.0) - ntk.eval(1.0);
        let tail_nngp = 1.0 - nngp.eval(1.0);
        assert!(tail_ntk > -1e-12 && tail_nngp > -1e-12);
        for i in 0..=40 {
            let rho = -1.0 + i as f64 / 20.0;
            let slack = 1e-12 * (depth as f64 + 1.0);
            assert!(
                (relu_ntk(depth, rho) - ntk.eval(rho)).abs() <= tail_ntk + slack,
                "L={depth} ρ={rho}"
            );
            assert!((relu_nngp(depth, rho) - nngp.eval(rho)).abs() <= tail_nngp + slack);
        }
    }
}

#[test]
fn homogeneous_taylor_coefficients_are_squared_hermite_coefficients() {
    let relu = DualActivation::new(Activation::Relu).unwrap();
    let (k, kd) = homogeneous_dual_taylor(&relu, 50).unwrap();
    let k1 = arccos1_taylor(50);
    let k0 = arccos0_taylor(50);
    for j in 0..=50 {
        assert!(
            (k.coeffs()[j] - 0.5 * k1.coeffs()[j]).abs() <= 1e-16,
            "j={j}"
        );
        assert!(
            (kd.coeffs()[j] - 0.5 * k0.coeffs()[j]).abs() <= 1e-16,
            "j={j}"
        );
    }
    // ExpNormalized: e^{γ(ρ−1)} = Σ e^{−γ} γ^j ρ^j/j!.
    let en = DualActivation::new(Activation::ExpNormalized {
        gamma: 2.0,
        shift: -1.0,
        do_clip: false,
    })
    .unwrap();
    let (k, _) = homogeneous_dual_taylor(&en, 10).unwrap();
    let mut fact = 1.0;
    for j in 0..=10usize {
        if j > 0 {
            fact *= j as f64;
        }
        let want = (-2.0f64).exp() * 2f64.powi(j as i32) / fact;
        assert!((k.coeffs()[j] - want).abs() <= 1e-15);
    }
    assert!(matches!(
        homogeneous_dual_taylor(&DualActivation::new(Activation::Gelu).unwrap(), 5),
        Err(DualError::InvalidParameter {
            param: "activation",
            ..
        })
    ));
    assert!(matches!(
        relu_ntk_taylor(2, 10_000),
        Err(DualError::DegreeOutOfRange { value: 10_000, .. })
    ));
}
