//! Inputs and networks shared by the exact-kernel test files (each uses
//! some of them, hence `dead_code` allowed).
#![allow(dead_code)]

use dual_activations::Activation;
use faer::Mat;
use ntk_features::{Architecture, Layer, Padding};

/// `depth` hidden layers of `act` between Dense layers (W_std 1.4, b_std 0.2).
pub(crate) fn fc(depth: usize, act: Activation) -> Architecture {
    let mut layers = Vec::new();
    for _ in 0..depth {
        layers.push(Layer::Dense {
            w_std: 1.4,
            b_std: Some(0.2),
        });
        layers.push(Layer::Activation(act.clone()));
    }
    layers.push(Layer::Dense {
        w_std: 1.4,
        b_std: Some(0.2),
    });
    Architecture::new(layers).unwrap()
}

/// Smooth deterministic vectors `(d, n)`, growing with the column.
pub(crate) fn vectors(d: usize, n: usize, seed: u64) -> Mat<f64> {
    Mat::from_fn(d, n, |i, j| {
        ((i * 7 + j * 13 + seed as usize * 31) as f64 * 0.61).sin() * (1.0 + j as f64 * 0.1)
    })
}

/// Smooth deterministic NHWC images.
pub(crate) fn images(n: usize, h: usize, w: usize, c: usize, seed: u64) -> Vec<f64> {
    (0..n * h * w * c)
        .map(|k| ((k + seed as usize * 101) as f64 * 0.37).cos())
        .collect()
}

/// A convolutional network with every image layer kind: SAME and CIRCULAR
/// and VALID convolutions, pooling, LayerNorm, three activations.
pub(crate) fn cnn() -> Architecture {
    Architecture::new(vec![
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.3,
            b_std: Some(0.1),
        },
        Layer::Activation(Activation::Erf {
            a: 1.0,
            b: 1.0,
            c: 0.0,
        }),
        Layer::Conv {
            filter: (2, 2),
            strides: (1, 1),
            padding: Padding::Circular,
            w_std: 1.1,
            b_std: None,
        },
        Layer::Activation(Activation::Relu),
        Layer::AvgPool {
            window: (2, 2),
            strides: (2, 2),
            padding: Padding::Same,
        },
        Layer::LayerNorm,
        Layer::Conv {
            filter: (3, 3),
            strides: (2, 2),
            padding: Padding::Valid,
            w_std: 1.0,
            b_std: Some(0.3),
        },
        Layer::Activation(Activation::Gelu),
        Layer::GlobalAvgPool,
        Layer::Dense {
            w_std: 1.0,
            b_std: Some(0.1),
        },
    ])
    .unwrap()
}
