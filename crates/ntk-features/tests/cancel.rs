//! Cancellation through the progress callback: a `Break` stops the work
//! with a typed error before the end, and `Continue` changes nothing.

use faer::{Mat, Par};
use ntk_features::{
    ArchSpec, FeatureConfig, FeatureError, FeatureMap, Input, KernelKind, Method, Shape, kernels,
    kernels_cancellable,
};
use std::ops::ControlFlow;

fn arch(text: &str, input: Shape) -> ntk_features::Architecture {
    ArchSpec::parse(text).unwrap().build(input).unwrap()
}

#[test]
fn vectors_stop_after_the_first_block() {
    // 300 columns: two blocks of at most 256, so one report comes before the end.
    let x = Mat::from_fn(5, 300, |i, j| ((3 * i + j) as f64 * 0.37).sin());
    let a = arch(
        "Dense(W_std=1.5), Relu, Dense(W_std=1.5)",
        Shape::Vector { dim: 5 },
    );
    let mut calls = 0;
    let r = kernels_cancellable(
        &a,
        Input::Vectors(x.as_ref()),
        None,
        Par::Seq,
        &mut |_, _| {
            calls += 1;
            ControlFlow::Break(())
        },
    );
    assert!(
        matches!(
            r,
            Err(FeatureError::Cancelled {
                done: 256,
                total: 300
            })
        ),
        "{r:?}"
    );
    assert_eq!(calls, 1);
    let go = kernels_cancellable(
        &a,
        Input::Vectors(x.as_ref()),
        None,
        Par::Seq,
        &mut |_, _| ControlFlow::Continue(()),
    )
    .unwrap();
    let plain = kernels(
        &a,
        Input::Vectors(x.as_ref()),
        None,
        Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(go, plain);
}

#[test]
fn images_stop_after_the_first_chunk_of_pairs() {
    // 10 images: 55 pairs of the upper triangle, chunks of 32.
    let (n, h, w, c) = (10, 4, 4, 2);
    let data: Vec<f64> = (0..n * h * w * c)
        .map(|k| (k as f64 * 0.61).cos())
        .collect();
    let input = Input::Images {
        data: &data,
        n,
        h,
        w,
        c,
    };
    let a = arch(
        "Conv(filter_shape=(3, 3), padding=SAME), Relu, GlobalAvgPool, Dense()",
        Shape::Image { h, w, c },
    );
    let r = kernels_cancellable(&a, input, None, Par::rayon(2), &mut |_, _| {
        ControlFlow::Break(())
    });
    assert!(
        matches!(
            r,
            Err(FeatureError::Cancelled {
                done: 32,
                total: 55
            })
        ),
        "{r:?}"
    );
}

#[test]
fn features_stop_after_the_first_chunk_of_samples() {
    let d = 6;
    let n = 600;
    let x: Vec<f64> = (0..n * d).map(|k| (k as f64 * 0.29).sin()).collect();
    let a = arch("Dense(W_std=1.2), Erf, Dense()", Shape::Vector { dim: d });
    let cfg = FeatureConfig::new(64, Method::Hermite, KernelKind::Ntk, 3);
    let map = FeatureMap::<f64>::new(&a, Shape::Vector { dim: d }, &cfg).unwrap();
    let mut out = Mat::<f64>::zeros(map.dim(), n);
    let mut seen = Vec::new();
    let r = map.apply_into_cancellable(&x, out.as_mut(), Par::Seq, &mut |done, total| {
        seen.push((done, total));
        if done >= 512 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert!(
        matches!(
            r,
            Err(FeatureError::Cancelled {
                done: 512,
                total: 600
            })
        ),
        "{r:?}"
    );
    assert_eq!(seen, [(256, 600), (512, 600)]);
    // A Break at the last report is no cancellation: the work is complete
    // (200 samples: one chunk, one report), and the output is `apply`'s.
    let small = &x[..200 * d];
    let mut part = Mat::<f64>::zeros(map.dim(), 200);
    map.apply_into_cancellable(small, part.as_mut(), Par::Seq, &mut |_, _| {
        ControlFlow::Break(())
    })
    .unwrap();
    let plain = map.apply(small, Par::Seq, &mut |_, _| {}).unwrap();
    assert_eq!(part, plain);
}
