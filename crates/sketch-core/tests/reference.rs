//! Every map against a dense reference on tiny sizes: explicit sketch
//! matrices applied to explicit tensor powers.

mod common;

use common::{matvec, max_abs_diff, one, vector};
use rustfft::num_complex::Complex;
use sketch_core::reference::{circular_convolution, kron, tensor_power};
use sketch_core::{
    CountSketch, GaussianProjection, PolySketch, Seed, Sketch, Srht, TensorSketch, TensorSrht,
    Transform,
};

// f64 transforms of length ≤ 64: rounding ≲ 64·ε·‖x‖ per coordinate.
const TOL: f64 = 1e-12;

#[test]
fn linear_maps_match_their_matrices() {
    let x = vector(13, 1);
    let cs = CountSketch::new(13, 7, Seed(2)).unwrap();
    assert!(max_abs_diff(&one(&cs, &x), &matvec(&cs.to_dense(), &x)) < TOL);
    let g = GaussianProjection::new(13, 9, Seed(3)).unwrap();
    assert!(max_abs_diff(&one(&g, &x), &matvec(&g.to_dense(), &x)) < TOL);
    for t in [Transform::Hadamard, Transform::Fourier] {
        let s = Srht::<f64>::new(13, 10, t, Seed(4)).unwrap();
        assert!(
            max_abs_diff(&one(&s, &x), &matvec(&s.to_dense(), &x)) < TOL,
            "{t:?}"
        );
    }
}

#[test]
fn hadamard_sketches_past_a_power_of_two_match_their_matrices() {
    // d = P + t with t ≤ P/2 takes the split transform (one of length P,
    // one of length next_power_of_two(t)); the matrix comes from the
    // definition of the padded 2P transform. t > P/2 and powers of two take
    // the padded transform: both kinds, beside each other. Lengths ≤ 256
    // keep the rounding below TOL.
    for d in [2usize, 3, 5, 6, 9, 12, 17, 24, 33, 40, 65, 100, 129, 200] {
        let x = vector(d, d as u64);
        for m in [1usize, 7, 16, 50] {
            let s = Srht::<f64>::new(d, m, Transform::Hadamard, Seed(d as u64)).unwrap();
            assert!(
                max_abs_diff(&one(&s, &x), &matvec(&s.to_dense(), &x)) < TOL,
                "Srht d = {d}, m = {m}"
            );
        }
        let b = vector(9, 3);
        let t = TensorSrht::<f64>::new(d, 9, 20, Transform::Hadamard, Seed(5)).unwrap();
        let need = t.pair_scratch_len();
        let mut out = vec![0.0; 20];
        let mut r = vec![0.0; need.real];
        t.apply_pair(&x, &b, &mut out, &mut r, &mut []);
        assert!(
            max_abs_diff(&out, &matvec(&t.to_dense(), &kron(&x, &b))) < TOL,
            "TensorSrht d = {d}"
        );
    }
    // f32 agrees with f64 to its rounding (same rows and signs).
    let x = vector(8194, 1);
    let s64 = Srht::<f64>::new(8194, 64, Transform::Hadamard, Seed(9)).unwrap();
    let s32 = Srht::<f32>::new(8194, 64, Transform::Hadamard, Seed(9)).unwrap();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let a = one(&s64, &x);
    let mut b = vec![0.0f32; 64];
    let need = s32.scratch_len();
    s32.apply_one(&x32, &mut b, &mut vec![0.0f32; need.real], &mut []);
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (p, q) in a.iter().zip(&b) {
        // f32 rounds the input (2⁻²⁴ relative), 13 transform stages of 8192,
        // the stage joining the length-2 tail and the final scale: 16
        // roundings of relative 2⁻²⁴ on partial sums bounded by ‖x‖₁, then
        // the 1/√64 scale, so |error| ≤ 16·2⁻²⁴·‖x‖₁/8 ≈ 9.5e−7·‖x‖₁/8 (the
        // f64 side's error is 2⁻²⁹ times smaller). With ‖x‖₁ ≤ √d·‖x‖₂ the
        // bound below is 10× that worst case.
        assert!((p - f64::from(*q)).abs() < 1e-5 * norm * 8194f64.sqrt() / 8.0);
    }
}

#[test]
fn tensor_srht_matches_its_matrix_on_the_kronecker_product() {
    let (a, b) = (vector(5, 5), vector(6, 6));
    for t in [Transform::Hadamard, Transform::Fourier] {
        let s = TensorSrht::<f64>::new(5, 6, 12, t, Seed(7)).unwrap();
        let need = s.pair_scratch_len();
        let mut out = vec![0.0; 12];
        let (mut r, mut c) = (
            vec![0.0; need.real],
            vec![Complex::new(0.0, 0.0); need.complex],
        );
        s.apply_pair(&a, &b, &mut out, &mut r, &mut c);
        assert!(
            max_abs_diff(&out, &matvec(&s.to_dense(), &kron(&a, &b))) < TOL,
            "{t:?}"
        );
        // As a map of one vector it sketches x ⊗ x.
        let sq = TensorSrht::<f64>::new(5, 5, 12, t, Seed(8)).unwrap();
        assert!(max_abs_diff(&one(&sq, &a), &matvec(&sq.to_dense(), &tensor_power(&a, 2))) < TOL);
        // It reports the degree of the polynomial it sketches (the
        // layered feature maps size their stages by it).
        assert_eq!(Sketch::<f64>::degree(&sq), 2);
    }
}

#[test]
fn tensor_sketch_is_the_convolution_of_count_sketches() {
    let x = vector(9, 9);
    for p in [1usize, 2, 3] {
        let ts = TensorSketch::<f64>::new(9, 16, p, Seed(10)).unwrap();
        let parts: Vec<Vec<f64>> = ts
            .count_sketches()
            .iter()
            .map(|c| matvec(&c.to_dense(), &x))
            .collect();
        let want = parts[1..]
            .iter()
            .fold(parts[0].clone(), |acc, p| circular_convolution(&acc, p));
        assert!(max_abs_diff(&one(&ts, &x), &want) < TOL, "p={p}");
    }
}

#[test]
fn poly_sketch_degree_two_is_one_tensor_srht_and_is_multilinear() {
    // For p = 2 the tree is a single node.
    let x = vector(6, 11);
    let ps = PolySketch::<f64>::new(6, 8, 2, Transform::Hadamard, Seed(12)).unwrap();
    let v = one(&ps, &x);
    assert_eq!(v.len(), 8);
    // Multilinearity in each leaf, for p = 3 (a padded tree of four leaves).
    let ps3 = PolySketch::<f64>::new(4, 8, 3, Transform::Hadamard, Seed(13)).unwrap();
    let need = Sketch::<f64>::scratch_len(&ps3);
    let (mut r, mut c) = (
        vec![0.0; need.real],
        vec![Complex::new(0.0, 0.0); need.complex],
    );
    let (a, b, cc, e) = (vector(4, 14), vector(4, 15), vector(4, 16), vector(4, 17));
    let apply = |l: [&[f64]; 3], r: &mut [f64], c: &mut [Complex<f64>]| {
        let mut o = vec![0.0; 8];
        ps3.apply_leaves(&l, &mut o, r, c);
        o
    };
    let sum: Vec<f64> = b.iter().zip(&e).map(|(p, q)| 2.0 * p - 3.0 * q).collect();
    let lhs = apply([&a, &sum, &cc], &mut r, &mut c);
    let p1 = apply([&a, &b, &cc], &mut r, &mut c);
    let p2 = apply([&a, &e, &cc], &mut r, &mut c);
    let rhs: Vec<f64> = p1.iter().zip(&p2).map(|(u, v)| 2.0 * u - 3.0 * v).collect();
    assert!(max_abs_diff(&lhs, &rhs) < TOL);
    // The dense linear map on x^{⊗3} built from basis tensors reproduces the sketch.
    let d = 4;
    let mut cols = Vec::new();
    for i in 0..d {
        for j in 0..d {
            for k in 0..d {
                let ei = |t: usize| {
                    (0..d)
                        .map(|u| f64::from(u8::from(u == t)))
                        .collect::<Vec<f64>>()
                };
                cols.push(apply([&ei(i), &ei(j), &ei(k)], &mut r, &mut c));
            }
        }
    }
    let t3 = tensor_power(&a, 3);
    let via_dense: Vec<f64> = (0..8)
        .map(|row| cols.iter().zip(&t3).map(|(col, w)| col[row] * w).sum())
        .collect();
    assert!(max_abs_diff(&one(&ps3, &a), &via_dense) < TOL);
}

#[test]
fn the_portable_transform_is_the_dispatched_one() {
    // `transform::fwht_portable` is the benchmarks' fixed baseline: the same
    // bits as `fwht` (which its own tests compare with the explicit
    // Sylvester matrix) at every length, in both precisions.
    for k in 0..=12 {
        let n = 1usize << k;
        let x = vector(n, k as u64 + 5);
        let (mut a, mut b) = (x.clone(), x.clone());
        sketch_core::transform::fwht(&mut a);
        sketch_core::transform::fwht_portable(&mut b);
        assert_eq!(a, b, "f64, n = {n}");
        assert!(n == 1 || a != x, "the transform changed nothing at n = {n}");
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut a, mut b) = (x32.clone(), x32.clone());
        sketch_core::transform::fwht(&mut a);
        sketch_core::transform::fwht_portable(&mut b);
        assert_eq!(a, b, "f32, n = {n}");
    }
}

#[test]
fn seeded_normals_are_standard_normal_and_reproducible() {
    // 40 000 draws: the mean within 5/√n = 0.025 of 0 and the second
    // moment within 5·√(2/n) = 0.035 of 1 (a false failure below 1e−6
    // each); a constant stream, a scale of 2 or a shift of 0.1 fails.
    let n = 40_000;
    let z = Seed(17).normals(n);
    assert_eq!(z.len(), n);
    let mean = z.iter().sum::<f64>() / n as f64;
    let m2 = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
    assert!(mean.abs() <= 5.0 / (n as f64).sqrt(), "mean {mean}");
    assert!(
        (m2 - 1.0).abs() <= 5.0 * (2.0 / n as f64).sqrt(),
        "second moment {m2}"
    );
    // The same seed gives the same draws, a prefix for fewer; another
    // seed gives others.
    assert_eq!(Seed(17).normals(1001), z[..1001]);
    assert_ne!(Seed(18).normals(100), z[..100]);
}

#[test]
fn all_degree_sketches_are_homogeneous_of_their_degree() {
    // `apply_all_degrees` writes sketches of x, x^{⊗2}, …, x^{⊗p}: block j
    // is a linear map of x^{⊗j}, so scaling x by 2 scales it by 2^j exactly
    // (powers of two: no rounding). Degree 5 is a tree of three levels.
    for p in [2usize, 3, 5] {
        let (d, m) = (6, 8);
        let ps = PolySketch::<f64>::new(d, m, p, Transform::Hadamard, Seed(21)).unwrap();
        let need = ps.tree_scratch_len();
        let run = |x: &[f64]| {
            let mut out = vec![0.0; p * m];
            let (mut r, mut c) = (
                vec![0.0; need.real],
                vec![Complex::new(0.0, 0.0); need.complex],
            );
            ps.apply_all_degrees(x, &mut out, &mut r, &mut c);
            out
        };
        let x = vector(d, 22);
        let x2: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        let (a, b) = (run(&x), run(&x2));
        for j in 1..=p {
            let block = (j - 1) * m..j * m;
            let scale = f64::powi(2.0, j as i32);
            let want: Vec<f64> = a[block.clone()].iter().map(|v| scale * v).collect();
            assert!(
                max_abs_diff(&b[block.clone()], &want) <= 1e-12 * scale,
                "p = {p}, block {j}"
            );
            assert!(
                a[block].iter().any(|v| *v != 0.0),
                "p = {p}, block {j} is zero"
            );
        }
        // The top block is the degree-p sketch of the same tree.
        assert!(
            max_abs_diff(&a[(p - 1) * m..], &one(&ps, &x)) <= 1e-12,
            "p = {p}"
        );
    }
}

#[test]
fn child_seeds_are_distinct() {
    // Sibling and cousin maps must not share randomness: the children
    // 0..64 of the seeds 0..64 are 4096 distinct seeds. For one index the
    // mix is a bijection of the seed, so only children of different indices
    // could collide; none do here.
    let mut all: Vec<u64> = (0..64u64)
        .flat_map(|s| (0..64u64).map(move |i| Seed(s).child(i).0))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 64 * 64);
}

#[test]
fn sketches_report_their_shapes() {
    // The feature maps size their stages from these.
    let ts = TensorSketch::<f64>::new(5, 16, 3, Seed(1)).unwrap();
    assert_eq!(Sketch::<f64>::degree(&ts), 3);
    let patch = sketch_core::PatchSrht::<f64>::new(7, 9, 32, Seed(2)).unwrap();
    assert_eq!(patch.taps(), 9);
    assert_eq!(patch.dim_out(), 32);
}
