//! The 2021 paper's nonnegative monotone polynomial fits against the
//! reference coefficients of its public code (paper1.md §2b, quadprog).
//! The notes say any QP solver reproduces them to ~1e-4: the problem is
//! strictly convex, so solvers differ only in their stopping rules.

use dual_activations::DualError;
use dual_activations::polyfit::{arccos0_fit, arccos1_fit, nonnegative_monotone_fit, relu_ntk_fit};

fn check(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4,
            "{name}: c_{j} = {g}, reference {w} (all: {got:?})"
        );
    }
}

#[test]
fn relu_ntk_fits_match_reference() {
    check(
        "NTK L=1 q=2",
        relu_ntk_fit(1, 2).unwrap().coeffs.coeffs(),
        &[0.327151, 1.027107, 0.516134],
    );
    check(
        "NTK L=1 q=4",
        relu_ntk_fit(1, 4).unwrap().coeffs.coeffs(),
        &[0.313808, 0.948020, 0.537846, 0.093448, 0.039401],
    );
    check(
        "NTK L=2 q=2",
        relu_ntk_fit(2, 2).unwrap().coeffs.coeffs(),
        &[0.705547, 1.245369, 0.625814],
    );
    check(
        "NTK L=2 q=4",
        relu_ntk_fit(2, 4).unwrap().coeffs.coeffs(),
        &[0.696755, 0.842194, 0.524393, 0.467425, 0.301226],
    );
}

#[test]
fn arccos_fits_match_reference() {
    let k1: [(usize, usize, &[f64]); 6] = [
        (2, 0, &[0.315091, 0.502551, 0.182358]),
        (2, 1, &[0.315090, 0.500943, 0.183967]),
        (2, 2, &[0.315581, 0.494144, 0.190275]),
        (4, 0, &[0.318756, 0.499450, 0.151673, 0.001283, 0.028838]),
        (4, 1, &[0.318705, 0.499616, 0.151967, 0.0, 0.029712]),
        (4, 2, &[0.318723, 0.499945, 0.151183, 0.0, 0.030149]),
    ];
    for (q, h, want) in k1 {
        let fit = arccos1_fit(q, h).unwrap();
        check(&format!("krelu q={q} h={h}"), fit.coeffs.coeffs(), want);
        // The equality constraint p(1) = 1 holds to rounding.
        assert!(
            (fit.coeffs.eval(1.0) - 1.0).abs() <= 1e-6,
            "krelu p(1) = {}",
            fit.coeffs.eval(1.0)
        );
    }
    let k0: [(usize, usize, &[f64]); 6] = [
        (2, 0, &[0.484266, 0.373524, 0.043854]),
        (2, 1, &[0.484833, 0.295359, 0.140090]),
        (2, 2, &[0.501151, 0.207621, 0.220605]),
        (4, 0, &[0.499405, 0.284693, 0.0, 0.150191, 0.004019]),
        (4, 1, &[0.498095, 0.309905, 0.0, 0.0, 0.136541]),
        (4, 2, &[0.503984, 0.294242, 0.0, 0.0, 0.148574]),
    ];
    for (q, h, want) in k0 {
        check(
            &format!("kdotrelu q={q} h={h}"),
            arccos0_fit(q, h).unwrap().coeffs.coeffs(),
            want,
        );
    }
}

#[test]
fn fits_are_nonnegative_and_monotone_and_report_their_error() {
    for q in [2usize, 4, 8] {
        let fit = arccos1_fit(q, 0).unwrap();
        assert!(fit.coeffs.coeffs().iter().all(|&c| c >= 0.0));
        // paper1.md §2b: sup-error of krelu on its interval: q=2: 6.7e-3, q=4: 1.5e-3, q=8: 4e-4.
        let want = [(2, 6.7e-3), (4, 1.5e-3), (8, 4e-4)]
            .iter()
            .find(|p| p.0 == q)
            .unwrap()
            .1;
        assert!(
            fit.max_error <= 1.2 * want,
            "q={q}: max error {}",
            fit.max_error
        );
    }
}

#[test]
fn bad_fit_inputs_are_errors() {
    let invalid = |r: dual_activations::Result<dual_activations::polyfit::PolyFit>, why: &str| {
        assert!(
            matches!(&r, Err(DualError::InvalidParameter { reason, .. }) if reason.contains(why)),
            "{r:?}"
        )
    };
    invalid(
        nonnegative_monotone_fit(&[0.0, 1.0], &[0.0], &[1.0, 1.0], 2, None),
        "same non-zero length",
    );
    invalid(
        nonnegative_monotone_fit(&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0], 2, None),
        "sorted",
    );
    invalid(
        nonnegative_monotone_fit(&[0.0, f64::NAN], &[0.0, 1.0], &[1.0, 1.0], 2, None),
        "finite",
    );
    assert!(matches!(
        nonnegative_monotone_fit(&[0.0, 1.0], &[0.0, 1.0], &[1.0, 1.0], 40, None),
        Err(DualError::DegreeOutOfRange { value: 40, .. })
    ));
    assert!(
        nonnegative_monotone_fit(&[0.0, 1.0], &[0.0, 1.0], &[1.0, 1.0], 2, Some(-1.0)).is_err()
    );
    assert!(matches!(
        relu_ntk_fit(0, 2),
        Err(DualError::DegreeOutOfRange { what: "depth", .. })
    ));
}
