//! Properties over random problems: ridge residuals, merge = union, CG ≈ Cholesky.

mod common;

use common::{random, rel_diff};
use faer::Par;
use ntk_solve::{CgParams, GramAccumulator, KernelRidge, ShiftedMatrix, conjugate_gradient};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ridge_solution_has_small_residual(m in 1usize..20, n in 1usize..60, k in 1usize..4, seed in any::<u64>(), log_l in -6.0f64..3.0) {
        let phi = random(m, n, seed);
        let y = random(k, n, seed ^ 1);
        let lambda = 10f64.powf(log_l);
        let mut acc = GramAccumulator::new(m, k).unwrap();
        acc.add_block(phi.as_ref(), y.as_ref(), Par::Seq).unwrap();
        let (w, _) = acc.solve(lambda).unwrap();
        let g = acc.gram();
        let mut r = &g * &w - acc.cross();
        for j in 0..k {
            for i in 0..m {
                r[(i, j)] += lambda * w[(i, j)];
            }
        }
        // Backward stability: ‖(G + λI)W − B‖ ≲ c·m·ε·‖G + λI‖·‖W‖.
        let gn = (0..m).map(|i| g[(i, i)]).sum::<f64>() + lambda * m as f64;
        let wn = (0..k).map(|j| (0..m).map(|i| w[(i, j)].abs()).fold(0.0, f64::max)).fold(0.0, f64::max);
        let rn = (0..k).map(|j| (0..m).map(|i| r[(i, j)].abs()).fold(0.0, f64::max)).fold(0.0, f64::max);
        prop_assert!(rn <= 1e3 * f64::EPSILON * gn * wn.max(1e-300) + 1e-300, "residual {rn}, scale {}", gn * wn);
    }

    #[test]
    fn merging_shards_equals_one_pass(m in 1usize..12, n in 2usize..80, cut in 0.0f64..1.0, seed in any::<u64>()) {
        let phi = random(m, n, seed);
        let y = random(2, n, seed ^ 7);
        let c = ((cut * n as f64) as usize).clamp(1, n - 1);
        let mut whole = GramAccumulator::new(m, 2).unwrap();
        whole.add_block(phi.as_ref(), y.as_ref(), Par::Seq).unwrap();
        let mut a = GramAccumulator::new(m, 2).unwrap();
        a.add_block(phi.as_ref().subcols(0, c), y.as_ref().subcols(0, c), Par::Seq).unwrap();
        let mut b = GramAccumulator::new(m, 2).unwrap();
        b.add_block(phi.as_ref().subcols(c, n - c), y.as_ref().subcols(c, n - c), Par::Seq).unwrap();
        a.merge(&b).unwrap();
        prop_assert_eq!(a.samples(), n);
        prop_assert!(rel_diff(&a.gram(), &whole.gram()) < 1e-13);
    }

    #[test]
    fn cg_agrees_with_cholesky(n in 2usize..40, seed in any::<u64>(), log_l in -2.0f64..1.0) {
        let x = random(n, n + 3, seed);
        let k = &x * x.transpose();
        let y = random(1, n, seed ^ 3);
        let lambda = 10f64.powf(log_l);
        let direct = KernelRidge::fit(k.as_ref(), y.as_ref(), lambda).unwrap();
        let op = ShiftedMatrix::new(k.as_ref(), lambda).unwrap();
        let (sol, _) = conjugate_gradient(&op, None, y.transpose(), CgParams { rel_tol: 1e-12, max_iters: 10_000 }).unwrap();
        let kappa = direct.info().condition_estimate;
        prop_assert!(rel_diff(&sol, &direct.coefficients().to_owned()) <= kappa * 1e-11);
    }
}

#[test]
fn thread_count_does_not_change_the_accumulation_beyond_rounding() {
    let phi = random(64, 500, 1);
    let y = random(3, 500, 2);
    let mut seq = GramAccumulator::new(64, 3).unwrap();
    seq.add_block(phi.as_ref(), y.as_ref(), Par::Seq).unwrap();
    let mut par = GramAccumulator::new(64, 3).unwrap();
    par.add_block(phi.as_ref(), y.as_ref(), Par::rayon(2))
        .unwrap();
    // GEMM blocking may differ with the thread count: equal to n·ε, not bitwise.
    assert!(rel_diff(&par.gram(), &seq.gram()) < 1e-13);
}
