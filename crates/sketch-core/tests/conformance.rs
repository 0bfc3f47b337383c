//! The contract every map keeps: shapes and typed errors, bitwise
//! determinism across thread counts and batch splits, seeds, f32 vs f64,
//! and scratch contents that do not matter.

mod common;

use common::batch;
use faer::{Mat, Par};
use rustfft::num_complex::Complex;
use sketch_core::{
    CountSketch, GaussianProjection, PolyExpansion, PolySketch, Seed, Sketch, SketchError,
    SketchExt, Srht, TensorSketch, TensorSrht, Transform,
};

/// `n` workers where the `rayon` feature is on; sequential without it (the
/// suite also builds with `--no-default-features`, where `Par::Seq` is the
/// only mode; the default build's `Par::Seq` takes the same path).
fn threads(n: usize) -> Par {
    #[cfg(feature = "rayon")]
    {
        Par::rayon(n)
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = n;
        Par::Seq
    }
}

fn maps_f64(d: usize, seed: u64) -> Vec<Box<dyn Sketch<f64>>> {
    maps::<f64>(d, seed)
}

fn maps<T: sketch_core::Real>(d: usize, seed: u64) -> Vec<Box<dyn Sketch<T>>> {
    let s = Seed(seed);
    vec![
        Box::new(CountSketch::new(d, 32, s).unwrap()),
        Box::new(GaussianProjection::new(d, 32, s).unwrap()),
        Box::new(Srht::<T>::new(d, 32, Transform::Hadamard, s).unwrap()),
        Box::new(Srht::<T>::new(d, 32, Transform::Fourier, s).unwrap()),
        Box::new(TensorSrht::<T>::new(d, d, 32, Transform::Hadamard, s).unwrap()),
        Box::new(TensorSrht::<T>::new(d, d, 32, Transform::Fourier, s).unwrap()),
        Box::new(TensorSketch::<T>::new(d, 32, 3, s).unwrap()),
        Box::new(PolySketch::<T>::new(d, 32, 1, Transform::Hadamard, s).unwrap()),
        Box::new(PolySketch::<T>::new(d, 32, 5, Transform::Hadamard, s).unwrap()),
        Box::new(PolySketch::<T>::new(d, 32, 4, Transform::Fourier, s).unwrap()),
        Box::new(PolyExpansion::<T>::new(d, 32, &[0.1, 0.5, 0.3, 0.2], Some(48), s).unwrap()),
        Box::new(PolyExpansion::<T>::new(d, 16, &[1.0, 1.0], None, s).unwrap()),
    ]
}

#[test]
#[allow(clippy::float_cmp)] // bitwise equality is the contract
fn outputs_are_bitwise_deterministic() {
    let x = batch(11, 150, 1);
    for s in maps_f64(11, 7) {
        let seq = s.apply(x.as_ref(), Par::Seq).unwrap();
        assert_eq!((seq.nrows(), seq.ncols()), (s.dim_out(), 150));
        assert_eq!(
            seq,
            s.apply(x.as_ref(), threads(4)).unwrap(),
            "{s:?}: thread count changed the output"
        );
        // Any split of the batch.
        let head = s.apply(x.as_ref().subcols(0, 37), threads(2)).unwrap();
        let tail = s.apply(x.as_ref().subcols(37, 113), Par::Seq).unwrap();
        for j in 0..150 {
            for i in 0..s.dim_out() {
                let v = if j < 37 {
                    head[(i, j)]
                } else {
                    tail[(i, j - 37)]
                };
                assert_eq!(v, seq[(i, j)]);
            }
        }
    }
    // Same seed, same map; another seed, another map.
    let a = maps_f64(11, 7);
    let b = maps_f64(11, 7);
    let c = maps_f64(11, 8);
    for ((a, b), c) in a.iter().zip(&b).zip(&c) {
        let (ya, yb, yc) = (
            a.apply(x.as_ref(), Par::Seq).unwrap(),
            b.apply(x.as_ref(), Par::Seq).unwrap(),
            c.apply(x.as_ref(), Par::Seq).unwrap(),
        );
        assert_eq!(ya, yb);
        assert_ne!(ya, yc, "{a:?}");
    }
}

#[test]
fn non_contiguous_inputs_and_dirty_scratch_do_not_matter() {
    let big = batch(20, 30, 2);
    let rows = big.as_ref().subrows(3, 11); // columns are strided views
    let copy = rows.to_owned();
    for s in maps_f64(11, 9) {
        let a = s.apply(rows, Par::Seq).unwrap();
        let b = s.apply(copy.as_ref(), Par::Seq).unwrap();
        assert_eq!(a, b);
        // Garbage in the scratch buffers must not leak into the output.
        let need = s.scratch_len();
        let (mut r, mut c) = (
            vec![f64::NAN; need.real],
            vec![Complex::new(f64::NAN, 7.0); need.complex],
        );
        let mut out = vec![0.0; s.dim_out()];
        let x: Vec<f64> = (0..11).map(|i| copy[(i, 4)]).collect();
        s.apply_one(&x, &mut out, &mut r, &mut c);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(*o, b[(i, 4)], "{s:?}");
        }
    }
}

#[test]
fn f32_agrees_with_f64_for_the_same_seed() {
    let x = batch(11, 20, 3);
    let x32: Mat<f32> = Mat::from_fn(11, 20, |i, j| x[(i, j)] as f32);
    for (a, b) in maps_f64(11, 5).iter().zip(maps::<f32>(11, 5).iter()) {
        let (ya, yb) = (
            a.apply(x.as_ref(), Par::Seq).unwrap(),
            b.apply(x32.as_ref(), Par::Seq).unwrap(),
        );
        let scale = (0..ya.ncols())
            .flat_map(|j| (0..ya.nrows()).map(move |i| (i, j)))
            .fold(0.0f64, |m, (i, j)| m.max(ya[(i, j)].abs()));
        for j in 0..ya.ncols() {
            for i in 0..ya.nrows() {
                // f32 rounding through a transform of length ≤ 64 and ≤ 4 products: ≲ 1e-5 of the scale.
                assert!(
                    (ya[(i, j)] - f64::from(yb[(i, j)])).abs() <= 1e-5 * scale.max(1e-30),
                    "{a:?}"
                );
            }
        }
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let s = Srht::<f64>::new(8, 16, Transform::Hadamard, Seed(1)).unwrap();
    let wrong = batch(9, 3, 1);
    assert!(matches!(
        s.apply(wrong.as_ref(), Par::Seq),
        Err(SketchError::DimMismatch {
            expected: 8,
            got: 9,
            ..
        })
    ));
    let mut nan = batch(8, 3, 2);
    nan[(2, 1)] = f64::NAN;
    assert!(matches!(
        s.apply(nan.as_ref(), Par::Seq),
        Err(SketchError::NonFinite { row: 2, col: 1, .. })
    ));
    nan[(2, 1)] = f64::INFINITY;
    assert!(matches!(
        s.apply(nan.as_ref(), threads(2)),
        Err(SketchError::NonFinite { .. })
    ));
    assert!(matches!(
        CountSketch::new(0, 4, Seed(0)),
        Err(SketchError::ZeroDimension { .. })
    ));
    assert!(matches!(
        Srht::<f64>::new(4, 0, Transform::Hadamard, Seed(0)),
        Err(SketchError::ZeroDimension { .. })
    ));
    assert!(matches!(
        Srht::<f64>::new(4, 7, Transform::Fourier, Seed(0)),
        Err(SketchError::InvalidParameter { .. })
    ));
    assert!(matches!(
        TensorSketch::<f64>::new(4, 8, 0, Seed(0)),
        Err(SketchError::InvalidDegree { degree: 0 })
    ));
    assert!(matches!(
        PolySketch::<f64>::new(4, 8, 0, Transform::Hadamard, Seed(0)),
        Err(SketchError::InvalidDegree { .. })
    ));
    assert!(matches!(
        PolyExpansion::<f64>::new(4, 8, &[1.0, -0.5], None, Seed(0)),
        Err(SketchError::InvalidParameter { .. })
    ));
    assert!(matches!(
        PolyExpansion::<f64>::new(4, 8, &[1.0], None, Seed(0)),
        Err(SketchError::InvalidDegree { .. })
    ));
    let pe = PolyExpansion::<f64>::signed(4, 8, 2, None, Seed(0)).unwrap();
    let x = batch(4, 5, 3);
    let coeffs = batch(2, 5, 4);
    assert!(matches!(
        pe.apply_signed(x.as_ref(), coeffs.as_ref(), Par::Seq),
        Err(SketchError::DimMismatch { .. })
    ));
    // An empty batch is fine: zero columns out.
    let empty = Mat::<f64>::zeros(8, 0);
    assert_eq!(s.apply(empty.as_ref(), Par::Seq).unwrap().ncols(), 0);
}

#[test]
fn maps_are_send_and_sync() {
    fn check<S: Send + Sync>() {}
    check::<CountSketch>();
    check::<PolySketch<f32>>();
    check::<PolyExpansion<f64>>();
    check::<TensorSketch<f64>>();
    check::<Box<dyn Sketch<f64>>>();
}
