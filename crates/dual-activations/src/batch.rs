//! The ReLU family's dual over arrays: one branch-free loop, compiled for
//! AVX-512, AVX2 + FMA and the portable target and chosen at run time, whose
//! results are bitwise those of the scalar `ab_relu` where its preconditions
//! hold (`DualActivation::eval_many` redoes the other entries).

use crate::special::angle;
use core::f64::consts::PI;

/// Entries per call of [`ab_relu_batch`] in `eval_many`: the unit a failed
/// precondition check rescans.
pub(crate) const REDO_PIECE: usize = 256;

/// Whether [`ab_relu_batch`] is bitwise equal to `ab_relu` on an entry:
/// variances in `[1e-100, 1e100]` or exactly zero (`ab_relu`'s scale is then
/// `s = 1`) and `c² ≤ q_x q_y`. A zero variance forces `c = 0`, where both
/// compute `det = 0`, the angle `π/2` (`angle`'s `hi = 0` case), `K = +0`
/// and the same `K̇`, whatever the zeros' signs: image positions whose
/// window is all zeros (the background of real digits) take the vector
/// path instead of one scalar evaluation each, which made such images
/// 2.5× slower than smooth ones.
#[inline]
pub(crate) fn ab_relu_batch_applies(x: f64, y: f64, c: f64) -> bool {
    let in_range = |v: f64| (1e-100..=1e100).contains(&v) | (v == 0.0);
    in_range(x) & in_range(y) & (c * c <= x * y)
}

/// `ab_relu` over arrays, branch-free so that it vectorises (the angle is
/// [`angle`]'s polynomial form, not a libm call). Exact only where
/// [`ab_relu_batch_applies`]; other entries must be recomputed.
///
/// On x86-64 the same code is compiled twice more, for the 8-wide vectors
/// of AVX-512 (F and DQ) and the 4-wide ones of AVX2 and FMA, and the
/// widest the CPU has is chosen at run time (on the 2-core AMD EPYC of
/// docs/NUMERICS.md, AVX-512 took 17 % off the real-digits CNTK). Rust never contracts `a·b + c`
/// into a fused multiply-add on its own, so all three builds round
/// identically: the output does not depend on the CPU.
///
/// Returns whether [`ab_relu_batch_applies`] holds for every entry, checked
/// in the same pass (a separate scan cost a fifth of the batch's time).
pub(crate) fn ab_relu_batch(
    a: f64,
    b: f64,
    q_x: &[f64],
    q_y: &[f64],
    c: &[f64],
    k: &mut [f64],
    k_dot: &mut [f64],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("fma")
    {
        #[allow(unsafe_code)]
        // SAFETY: `ab_relu_batch_avx512` requires AVX-512 F and DQ (which
        // imply AVX2, FMA and F16C in rustc's feature model); the CPU was
        // just checked to have them, and FMA explicitly.
        return unsafe { ab_relu_batch_avx512(a, b, q_x, q_y, c, k, k_dot) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[allow(unsafe_code)]
        // SAFETY: `ab_relu_batch_avx2` only requires AVX2 and FMA, which
        // the CPU was just checked to support.
        return unsafe { ab_relu_batch_avx2(a, b, q_x, q_y, c, k, k_dot) };
    }
    ab_relu_batch_portable(a, b, q_x, q_y, c, k, k_dot)
}

/// [`ab_relu_batch_portable`] compiled with the given target features.
macro_rules! vector_build {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(
            a: f64,
            b: f64,
            q_x: &[f64],
            q_y: &[f64],
            c: &[f64],
            k: &mut [f64],
            k_dot: &mut [f64],
        ) -> bool {
            ab_relu_batch_portable(a, b, q_x, q_y, c, k, k_dot)
        }
    };
}

vector_build!(ab_relu_batch_avx2, "avx2,fma");
vector_build!(ab_relu_batch_avx512, "avx512f,avx512dq");

#[inline(always)]
fn ab_relu_batch_portable(
    a: f64,
    b: f64,
    q_x: &[f64],
    q_y: &[f64],
    c: &[f64],
    k: &mut [f64],
    k_dot: &mut [f64],
) -> bool {
    let f = (a - b) * (a - b) / (2.0 * PI);
    let h = 0.5 * (a * a + b * b);
    // Non-short-circuit `&` keeps the check branch-free (vectorised).
    let mut all = true;
    for i in 0..c.len() {
        all &= ab_relu_batch_applies(q_x[i], q_y[i], c[i]);
        let (x, y, cc) = (q_x[i], q_y[i], c[i] + 0.0);
        let det = (x * y - cc * cc).max(0.0);
        let sd = det.sqrt();
        let kd = h - f * angle(sd, cc);
        k_dot[i] = kd;
        k[i] = f * sd + kd * cc;
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dual::ab_relu;

    /// The AVX-512, AVX2 and portable builds round identically (no FMA
    /// contraction), so results do not depend on the CPU. Each vector build
    /// is run directly where this CPU has it, not only the dispatched one.
    #[test]
    fn vector_and_portable_builds_agree_bitwise() {
        let n = 1001;
        let qx: Vec<f64> = (0..n)
            .map(|i| 0.1 + (i as f64 * 0.37).sin().abs() * 3.0)
            .collect();
        let qy: Vec<f64> = (0..n)
            .map(|i| 0.2 + (i as f64 * 0.11).cos().abs() * 2.0)
            .collect();
        let c: Vec<f64> = (0..n)
            .map(|i| (i as f64 * 0.07).sin() * (qx[i] * qy[i]).sqrt())
            .collect();
        // Bit patterns, so that −0 and +0 (or two NaNs) count as different.
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<u64>>();
        let run = |f: &dyn Fn(&mut [f64], &mut [f64]) -> bool| {
            let (mut k, mut kd) = (vec![0.0; n], vec![0.0; n]);
            let all = f(&mut k, &mut kd);
            (bits(k), bits(kd), all)
        };
        let portable = run(&|k, kd| ab_relu_batch_portable(-0.3, 1.2, &qx, &qy, &c, k, kd));
        let dispatched = run(&|k, kd| ab_relu_batch(-0.3, 1.2, &qx, &qy, &c, k, kd));
        assert_eq!(portable, dispatched);
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                // SAFETY: the features were just detected.
                let v = run(&|k, kd| unsafe { ab_relu_batch_avx2(-0.3, 1.2, &qx, &qy, &c, k, kd) });
                assert_eq!(portable, v);
            }
            if has!("avx512f") && has!("avx512dq") && has!("fma") {
                // SAFETY: the features were just detected.
                let v =
                    run(&|k, kd| unsafe { ab_relu_batch_avx512(-0.3, 1.2, &qx, &qy, &c, k, kd) });
                assert_eq!(portable, v);
            }
        }
        // The in-loop check is the entrywise one; one entry made to fail it
        // (a covariance beyond Cauchy–Schwarz) turns it off.
        let each = (0..n).all(|i| ab_relu_batch_applies(qx[i], qy[i], c[i]));
        assert_eq!(portable.2, each);
        let mut bad = c.clone();
        bad[n / 2] = 2.0 * (qx[n / 2] * qy[n / 2]).sqrt();
        let (mut k, mut kd) = (vec![0.0; n], vec![0.0; n]);
        assert!(!ab_relu_batch(-0.3, 1.2, &qx, &qy, &bad, &mut k, &mut kd));
        for i in 0..n {
            let d = ab_relu(-0.3, 1.2, qx[i], qy[i], c[i]);
            assert_eq!(
                (portable.0[i], portable.1[i]),
                (d.k.to_bits(), d.k_dot.to_bits())
            );
        }
    }
}
