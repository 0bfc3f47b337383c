//! Exact algebra for all seeds (proptest): linearity of the degree-1 maps,
//! multilinearity of TensorSketch, and seeds as inputs.

mod common;

use common::{max_abs_diff, one};
use proptest::prelude::*;
use rustfft::num_complex::Complex;
use sketch_core::{CountSketch, Seed, Sketch, Srht, TensorSketch, Transform};

fn vec_strategy(d: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-4.0f64..4.0, d)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn degree_one_maps_are_linear(seed in any::<u64>(), x in vec_strategy(9), y in vec_strategy(9), a in -3.0f64..3.0, b in -3.0f64..3.0) {
        let z: Vec<f64> = x.iter().zip(&y).map(|(p, q)| a * p + b * q).collect();
        let maps: Vec<Box<dyn Sketch<f64>>> = vec![
            Box::new(CountSketch::new(9, 5, Seed(seed)).unwrap()),
            Box::new(Srht::<f64>::new(9, 6, Transform::Hadamard, Seed(seed)).unwrap()),
            Box::new(Srht::<f64>::new(9, 6, Transform::Fourier, Seed(seed)).unwrap()),
        ];
        for s in &maps {
            let (sx, sy, sz) = (one(s.as_ref(), &x), one(s.as_ref(), &y), one(s.as_ref(), &z));
            let comb: Vec<f64> = sx.iter().zip(&sy).map(|(p, q)| a * p + b * q).collect();
            // Transforms of length 16 on entries ≤ 4·(|a| + |b|): rounding ≲ 1e-12.
            prop_assert!(max_abs_diff(&sz, &comb) < 1e-11, "{:?}", s);
        }
    }

    #[test]
    fn tensor_sketch_is_multilinear(seed in any::<u64>(), x in vec_strategy(6), y in vec_strategy(6), w in vec_strategy(6), a in -2.0f64..2.0) {
        let ts = TensorSketch::<f64>::new(6, 8, 2, Seed(seed)).unwrap();
        let need = ts.scratch_len();
        let (mut r, mut c) = (vec![0.0; need.real], vec![Complex::new(0.0, 0.0); need.complex]);
        let mut run = |p: &[f64], q: &[f64]| {
            let mut o = vec![0.0; 8];
            ts.apply_multi(&[p, q], &mut o, &mut r, &mut c);
            o
        };
        let mixed: Vec<f64> = x.iter().zip(&w).map(|(p, q)| p + a * q).collect();
        let lhs = run(&mixed, &y);
        let (p1, p2) = (run(&x, &y), run(&w, &y));
        let rhs: Vec<f64> = p1.iter().zip(&p2).map(|(u, v)| u + a * v).collect();
        prop_assert!(max_abs_diff(&lhs, &rhs) < 1e-10);
    }
}
