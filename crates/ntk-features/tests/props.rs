//! Properties of exact kernels: symmetry, positive semidefiniteness, block
//! consistency, thread-count invariance; and typed errors for bad input.

use dual_activations::Activation;
use faer::{Mat, Par};
use ntk_features::{Architecture, FeatureError, Input, Layer, Padding, Shape, kernels};

mod common;
use common::{cnn, fc, images, vectors};

fn none(_: usize, _: usize) {}

fn min_eig(m: &Mat<f64>) -> f64 {
    let e = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    e.into_iter().fold(f64::INFINITY, f64::min)
}

#[test]
fn symmetric_psd_and_block_consistent() {
    for arch in [
        fc(3, Activation::Relu),
        fc(4, Activation::Gelu),
        fc(2, Activation::numerical("tanh").unwrap()),
    ] {
        let x = vectors(7, 12, 1);
        let k = kernels(
            &arch,
            Input::Vectors(x.as_ref()),
            None,
            Par::rayon(2),
            &mut none,
        )
        .unwrap();
        // The general path computes every entry by the pair recursion (no
        // mirroring, no diagonal copied in): its matrix is symmetric for
        // duals symmetric under exchange, and its diagonal equals each
        // sample's one-point kernel, an independent recursion.
        let general = kernels(
            &arch,
            Input::Vectors(x.as_ref()),
            Some(Input::Vectors(x.as_ref())),
            Par::Seq,
            &mut none,
        )
        .unwrap();
        let symmetric = arch.layers().iter().all(|l| match l {
            Layer::Activation(a) => a.exchange_symmetric(),
            _ => true,
        });
        let scale0 = general.ntk_diag1.iter().fold(0.0f64, |m, v| m.max(*v));
        for i in 0..12 {
            for j in 0..12 {
                if symmetric {
                    // Each entry is a short chain of O(d) rounded operations.
                    let tol = 1e-14 * scale0;
                    assert!((general.nngp[(i, j)] - general.nngp[(j, i)]).abs() <= tol);
                    assert!((general.ntk[(i, j)] - general.ntk[(j, i)]).abs() <= tol);
                    assert!((k.nngp[(i, j)] - general.nngp[(i, j)]).abs() <= tol);
                } else {
                    // Quadrature duals: the symmetric call is the general one.
                    assert_eq!(k.nngp[(i, j)], general.nngp[(i, j)]);
                    assert_eq!(k.ntk[(i, j)], general.ntk[(i, j)]);
                }
            }
            let xi = x.as_ref().subcols(i, 1);
            let one = kernels(&arch, Input::Vectors(xi), None, Par::Seq, &mut none).unwrap();
            let (q, t) = (one.nngp[(0, 0)], one.ntk[(0, 0)]);
            // NNGP: the duals are Lipschitz in ρ at ρ = 1, so the pair
            // recursion's ε-level differences stay ε-level. NTK: Relu's
            // K̇ = (π − θ)/2π has θ ≈ sqrt(2δρ), so a few ulp of δρ give
            // θ ≲ 4.2e−8 and a relative change of θ/π ≈ 1.3e−8 per layer:
            // 1e−7 covers depth 3 with margin (smooth duals: 1e−12).
            let tol_ntk = if matches!(arch.layers()[1], Layer::Activation(Activation::Relu)) {
                1e-7
            } else {
                1e-12
            };
            let (gq, gt) = (general.nngp[(i, i)], general.ntk[(i, i)]);
            assert!((gq - q).abs() <= 1e-12 * q, "{i}: {gq} vs {q}");
            assert!((gt - t).abs() <= tol_ntk * t, "{i}: {gt} vs {t}");
        }
        // Gram matrices are PSD up to rounding (ε·n·‖K‖).
        let scale = k.ntk_diag1.iter().fold(0.0f64, |m, v| m.max(*v));
        assert!(min_eig(&k.nngp) >= -1e-12 * scale * 12.0);
        assert!(min_eig(&k.ntk) >= -1e-12 * scale * 12.0);
        // K(X1, X2) equals the corresponding block of K([X1; X2]).
        let a = x.as_ref().subcols(0, 5);
        let b = x.as_ref().subcols(5, 7);
        let kab = kernels(
            &arch,
            Input::Vectors(a),
            Some(Input::Vectors(b)),
            Par::Seq,
            &mut none,
        )
        .unwrap();
        for i in 0..5 {
            for j in 0..7 {
                assert!((kab.nngp[(i, j)] - k.nngp[(i, 5 + j)]).abs() <= 1e-13 * scale);
                assert!((kab.ntk[(i, j)] - k.ntk[(i, 5 + j)]).abs() <= 1e-13 * scale);
            }
        }
    }
}

#[test]
fn image_kernels_are_symmetric_psd_and_thread_invariant() {
    let arch = cnn();
    let data = images(5, 8, 8, 2, 3);
    let x = Input::Images {
        data: &data,
        n: 5,
        h: 8,
        w: 8,
        c: 2,
    };
    let mut calls = Vec::new();
    let k = kernels(&arch, x, None, Par::rayon(2), &mut |d, t| {
        calls.push((d, t))
    })
    .unwrap();
    assert_eq!(
        calls.last(),
        Some(&(15, 15)),
        "progress reaches the total of 15 pairs"
    );
    let k_seq = kernels(&arch, x, None, Par::Seq, &mut none).unwrap();
    assert_eq!(k, k_seq, "thread count must not change the kernels");
    for i in 0..5 {
        assert!((k.nngp[(i, i)] - k.nngp_diag1[i]).abs() <= 1e-12 * k.nngp_diag1[i].abs());
    }
    assert!(min_eig(&k.nngp) >= -1e-12 * k.nngp_diag1.iter().sum::<f64>());
    assert!(min_eig(&k.ntk) >= -1e-12 * k.ntk_diag1.iter().sum::<f64>());
    // Blocks of the joint computation.
    let (d1, d2) = data.split_at(2 * 8 * 8 * 2);
    let k12 = kernels(
        &arch,
        Input::Images {
            data: d1,
            n: 2,
            h: 8,
            w: 8,
            c: 2,
        },
        Some(Input::Images {
            data: d2,
            n: 3,
            h: 8,
            w: 8,
            c: 2,
        }),
        Par::Seq,
        &mut none,
    )
    .unwrap();
    for i in 0..2 {
        for j in 0..3 {
            assert!((k12.ntk[(i, j)] - k.ntk[(i, 2 + j)]).abs() <= 1e-12 * k.ntk_diag1[i].abs());
        }
    }
}

#[test]
fn presets_build_and_fit_their_inputs() {
    for depth in [5, 7, 10] {
        let m = Architecture::myrtle(depth, 32, 2f64.sqrt(), Some(0.0), Activation::Relu).unwrap();
        let shapes = m.shapes(Shape::Image { h: 32, w: 32, c: 3 }).unwrap();
        assert_eq!(*shapes.last().unwrap(), Shape::Vector { dim: 1 });
        let convs = m
            .layers()
            .iter()
            .filter(|l| matches!(l, Layer::Conv { .. }))
            .count();
        assert_eq!(convs + 1, depth, "Myrtle-{depth} has {depth} weight layers");
    }
    assert!(matches!(
        Architecture::myrtle(6, 32, 1.0, None, Activation::Relu),
        Err(FeatureError::InvalidArchitecture { reason, .. }) if reason.contains("depth")
    ));
    assert!(matches!(
        Architecture::myrtle(5, 12, 1.0, None, Activation::Relu),
        Err(FeatureError::InvalidArchitecture { reason, .. }) if reason.contains("power of two")
    ));
    let c = Architecture::cntk_2021(3, 4, 1.0).unwrap();
    // CIFAR grids of the 2021 code: 32 → 29 → 26 → 23 with VALID 4×4 filters.
    let s = c.shapes(Shape::Image { h: 32, w: 32, c: 3 }).unwrap();
    assert_eq!(s[4], Shape::Image { h: 23, w: 23, c: 3 });
}

#[test]
fn bad_input_is_a_typed_error() {
    // An activation without a Gaussian input.
    let no_dense = Architecture::new(vec![
        Layer::Activation(Activation::Relu),
        Layer::Dense {
            w_std: 1.0,
            b_std: None,
        },
    ]);
    assert!(matches!(
        no_dense,
        Err(FeatureError::InvalidArchitecture { layer: 0, .. })
    ));
    let twice = Architecture::new(vec![
        Layer::Dense {
            w_std: 1.0,
            b_std: None,
        },
        Layer::Activation(Activation::Relu),
        Layer::Activation(Activation::Relu),
    ]);
    assert!(matches!(
        twice,
        Err(FeatureError::InvalidArchitecture { layer: 2, .. })
    ));
    assert!(matches!(
        Architecture::new(vec![Layer::Dense {
            w_std: -1.0,
            b_std: None
        }]),
        Err(FeatureError::InvalidArchitecture { .. })
    ));
    assert!(matches!(
        Architecture::new(vec![Layer::Dense {
            w_std: 1.0,
            b_std: Some(f64::NAN)
        }]),
        Err(FeatureError::InvalidArchitecture { .. })
    ));
    assert!(matches!(
        Architecture::new(vec![
            Layer::Dense {
                w_std: 1.0,
                b_std: None
            },
            Layer::Activation(Activation::Rbf { gamma: -1.0 })
        ]),
        Err(FeatureError::Activation { layer: 1, .. })
    ));
    assert!(matches!(
        Architecture::new(vec![]),
        Err(FeatureError::Empty { .. })
    ));
    // A Conv on vectors.
    let conv = Architecture::new(vec![
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.0,
            b_std: None,
        },
        Layer::GlobalAvgPool,
    ])
    .unwrap();
    let x = vectors(4, 3, 1);
    assert!(matches!(
        kernels(&conv, Input::Vectors(x.as_ref()), None, Par::Seq, &mut none),
        Err(FeatureError::ShapeMismatch { .. })
    ));
    // A window larger than the image, and a spatial output.
    let big = Architecture::new(vec![
        Layer::AvgPool {
            window: (9, 9),
            strides: (1, 1),
            padding: Padding::Valid,
        },
        Layer::Flatten,
    ])
    .unwrap();
    let imgs = images(2, 8, 8, 1, 2);
    let inp = Input::Images {
        data: &imgs,
        n: 2,
        h: 8,
        w: 8,
        c: 1,
    };
    assert!(matches!(
        kernels(&big, inp, None, Par::Seq, &mut none),
        Err(FeatureError::ShapeMismatch { .. })
    ));
    let spatial = Architecture::new(vec![Layer::Conv {
        filter: (3, 3),
        strides: (1, 1),
        padding: Padding::Same,
        w_std: 1.0,
        b_std: None,
    }])
    .unwrap();
    assert!(matches!(
        kernels(&spatial, inp, None, Par::Seq, &mut none),
        Err(FeatureError::ShapeMismatch { .. })
    ));
    // Mismatched inputs, wrong buffer length, NaN, empty.
    let arch = fc(1, Activation::Relu);
    let a = vectors(4, 3, 1);
    let b = vectors(5, 3, 2);
    assert!(matches!(
        kernels(
            &arch,
            Input::Vectors(a.as_ref()),
            Some(Input::Vectors(b.as_ref())),
            Par::Seq,
            &mut none
        ),
        Err(FeatureError::DimMismatch { .. })
    ));
    let short = vec![0.0; 10];
    assert!(matches!(
        kernels(
            &conv,
            Input::Images {
                data: &short,
                n: 1,
                h: 3,
                w: 3,
                c: 2
            },
            None,
            Par::Seq,
            &mut none
        ),
        Err(FeatureError::DimMismatch { .. })
    ));
    let mut nan = a.clone();
    nan[(2, 1)] = f64::NAN;
    assert!(matches!(
        kernels(
            &arch,
            Input::Vectors(nan.as_ref()),
            None,
            Par::Seq,
            &mut none
        ),
        Err(FeatureError::NonFinite {
            sample: 1,
            index: 2,
            ..
        })
    ));
    let empty = Mat::<f64>::zeros(4, 0);
    assert!(matches!(
        kernels(
            &arch,
            Input::Vectors(empty.as_ref()),
            None,
            Par::Seq,
            &mut none
        ),
        Err(FeatureError::Empty { .. })
    ));
    // A kernel that is infinite for these inputs is an error, not a NaN.
    let g = fc(1, Activation::Gaussian { a: 1.0, b: 0.4 });
    let large = Mat::from_fn(3, 2, |_, _| 3.0);
    assert!(matches!(
        kernels(
            &g,
            Input::Vectors(large.as_ref()),
            None,
            Par::Seq,
            &mut none
        ),
        Err(FeatureError::Activation { .. })
    ));
}

#[test]
fn streamed_blocks_equal_the_full_kernels() {
    let arch = fc(
        3,
        Activation::Erf {
            a: 1.2,
            b: 0.8,
            c: 0.1,
        },
    );
    let (x1, x2) = (vectors(6, 11, 4), vectors(6, 9, 5));
    let full = kernels(
        &arch,
        Input::Vectors(x1.as_ref()),
        Some(Input::Vectors(x2.as_ref())),
        Par::Seq,
        &mut none,
    )
    .unwrap();
    let mut seen = Vec::new();
    ntk_features::kernel_blocks(
        &arch,
        x1.as_ref(),
        x2.as_ref(),
        4,
        Par::rayon(2),
        &mut |b| {
            for j in 0..b.nngp.ncols() {
                for i in 0..11 {
                    // The same recursion; only the GEMM's summation order may differ
                    // with block shapes and threads (d = 6 terms: a few ulps).
                    let (k, t) = (full.nngp[(i, b.start + j)], full.ntk[(i, b.start + j)]);
                    assert!((b.nngp[(i, j)] - k).abs() <= 1e-13 * k.abs().max(1.0));
                    assert!((b.ntk[(i, j)] - t).abs() <= 1e-13 * t.abs().max(1.0));
                }
            }
            seen.push((b.start, b.nngp.ncols()));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, vec![(0, 4), (4, 4), (8, 1)]);
    // An error from the sink stops the stream.
    let stop =
        ntk_features::kernel_blocks(&arch, x1.as_ref(), x2.as_ref(), 4, Par::Seq, &mut |_| {
            Err(FeatureError::Empty { what: "sink" })
        });
    assert!(matches!(stop, Err(FeatureError::Empty { what: "sink" })));
    assert!(
        ntk_features::kernel_blocks(
            &arch,
            x1.as_ref(),
            x2.as_ref(),
            0,
            Par::Seq,
            &mut |_| Ok(())
        )
        .is_err()
    );
}

#[test]
fn overflowing_weights_and_inputs_are_errors_not_nan() {
    // W_std = 1e200 is finite but its square is not: with a zero input the
    // kernel would be inf·0 = NaN.
    let e = Architecture::new(vec![Layer::Dense {
        w_std: 1e200,
        b_std: None,
    }])
    .unwrap_err();
    assert!(
        matches!(e, FeatureError::InvalidArchitecture { layer: 0, .. }),
        "{e}"
    );
    let e = Architecture::new(vec![Layer::Dense {
        w_std: 1.0,
        b_std: Some(1e160),
    }])
    .unwrap_err();
    assert!(matches!(e, FeatureError::InvalidArchitecture { .. }), "{e}");
    // Inputs near 1e154: ⟨x, x⟩/d overflows in a network without activations.
    let arch = Architecture::new(vec![Layer::Dense {
        w_std: 1.0,
        b_std: None,
    }])
    .unwrap();
    let x = Mat::from_fn(3, 2, |i, j| 1e154 * (1.0 + (i + j) as f64));
    let e = kernels(
        &arch,
        Input::Vectors(x.as_ref()),
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(e, FeatureError::NonFiniteOutput { .. }), "{e}");
    let e =
        ntk_features::kernel_blocks(&arch, x.as_ref(), x.as_ref(), 1, Par::Seq, &mut |_| Ok(()))
            .unwrap_err();
    assert!(matches!(e, FeatureError::NonFiniteOutput { .. }), "{e}");
}

#[test]
fn absurd_windows_are_refused_before_any_allocation() {
    // A 10⁵ × 10⁵ SAME filter on 32×32 images used to be accepted (and its
    // offset maps alone would need 10¹⁰ entries).
    let arch = Architecture::new(vec![
        Layer::Conv {
            filter: (100_000, 100_000),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.0,
            b_std: None,
        },
        Layer::GlobalAvgPool,
    ])
    .unwrap();
    let e = arch
        .shapes(Shape::Image { h: 32, w: 32, c: 3 })
        .unwrap_err();
    assert!(
        matches!(e, FeatureError::ShapeMismatch { layer: 0, .. }),
        "{e}"
    );
    // A SAME window a little larger than the input is legitimate (Myrtle's
    // 3×3 filters on 2×2 maps) and still matches the sum over its taps.
    let small = Architecture::new(vec![
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.0,
            b_std: None,
        },
        Layer::GlobalAvgPool,
    ])
    .unwrap();
    assert!(small.shapes(Shape::Image { h: 2, w: 2, c: 1 }).is_ok());
    // Exact kernel of that layer by hand: Σ'[i,j] = (1/9)Σ_δ Σ[i+δ, j+δ], zeros
    // outside; the GAP averages all 16 position pairs.
    let x = [1.0, 2.0, -1.0, 0.5];
    let k = kernels(
        &small,
        Input::Images {
            data: &x,
            n: 1,
            h: 2,
            w: 2,
            c: 1,
        },
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    let mut want = 0.0;
    for p in 0..4usize {
        for q in 0..4usize {
            let (pi, pj, qi, qj) = (p / 2, p % 2, q / 2, q % 2);
            for di in -1i32..=1 {
                for dj in -1i32..=1 {
                    let a = (pi as i32 + di, pj as i32 + dj);
                    let b = (qi as i32 + di, qj as i32 + dj);
                    let inside = |(r, c): (i32, i32)| (0..2).contains(&r) && (0..2).contains(&c);
                    if inside(a) && inside(b) {
                        want += x[(a.0 * 2 + a.1) as usize] * x[(b.0 * 2 + b.1) as usize] / 9.0;
                    }
                }
            }
        }
    }
    want /= 16.0;
    assert!(
        (k.nngp[(0, 0)] - want).abs() <= 1e-14 * want.abs(),
        "{} vs {want}",
        k.nngp[(0, 0)]
    );
}

#[test]
fn symmetric_and_streamed_paths_agree_past_one_block() {
    // 300 columns: the symmetric path's upper triangle spans two 256-column
    // blocks, and `kernel_blocks` with x2 = x1 streams three of 128.
    let arch = fc(2, Activation::Relu);
    let x = vectors(9, 300, 5);
    let x = x.as_ref();
    let sym = kernels(&arch, Input::Vectors(x), None, Par::rayon(2), &mut none).unwrap();
    let general = kernels(
        &arch,
        Input::Vectors(x),
        Some(Input::Vectors(x)),
        Par::Seq,
        &mut none,
    )
    .unwrap();
    let scale = general.ntk_diag1.iter().fold(0.0f64, |m, v| m.max(*v));
    let mut streamed = Mat::<f64>::zeros(300, 300);
    let mut streamed_ntk = Mat::<f64>::zeros(300, 300);
    ntk_features::kernel_blocks(&arch, x, x, 128, Par::rayon(2), &mut |b| {
        let c = b.nngp.ncols();
        streamed.as_mut().subcols_mut(b.start, c).copy_from(b.nngp);
        streamed_ntk
            .as_mut()
            .subcols_mut(b.start, c)
            .copy_from(b.ntk);
        Ok(())
    })
    .unwrap();
    for j in 0..300 {
        for i in 0..300 {
            // Off the diagonal every path runs the same pair recursion on
            // GEMM entries that may be blocked differently: a few ulp of the
            // inputs, so 1e-12 of the largest entry. On the diagonal the
            // symmetric path takes each sample's own recursion and the pair
            // paths carry Relu's sqrt(ε) noise of K̇ (docs/NUMERICS.md):
            // 1e-7 for the NTK, 1e-12 for the NNGP.
            let tol_ntk = if i == j { 1e-7 } else { 1e-12 };
            assert!((sym.nngp[(i, j)] - general.nngp[(i, j)]).abs() <= 1e-12 * scale);
            assert!((sym.ntk[(i, j)] - general.ntk[(i, j)]).abs() <= tol_ntk * scale);
            assert!((streamed[(i, j)] - general.nngp[(i, j)]).abs() <= 1e-12 * scale);
            assert!((streamed_ntk[(i, j)] - general.ntk[(i, j)]).abs() <= 1e-12 * scale);
        }
    }
}
