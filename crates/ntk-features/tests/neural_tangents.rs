//! Exact kernels against neural-tangents 0.6.5 (float64) on every case of
//! the shared oracle: fully connected nets of depth 1 and 2 for every
//! closed-form and several numerical activations (edge inputs included),
//! convolutions with SAME padding, AvgPool, GlobalAvgPool, Flatten and
//! Myrtle-5; and branching networks (FanOut, parallel, FanInSum,
//! FanInConcat, SumPool, GlobalSumPool, WideResnet).
//!
//! Tolerances (docs/NUMERICS.md, "Exact kernels"): `1e-10` of each matrix's
//! largest entry; `1e-6` on the pairs a fixture lists as parallel, where
//! θ = atan2(sqrt(det), c) carries sqrt(ε) ≈ 1.5e-8 of noise on either side
//! (the oracle's worst such difference is 1.2e-8); numerical activations use
//! neural-tangents' own 25-point rule, so `1e-10` as well.

use dual_activations::{Activation, HermiteConvention, NumericalMethod};
use faer::{Mat, Par};
use ntk_features::{ArchSpec, Architecture, Input, Layer, Padding, Shape, kernels};

fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn pair(v: &serde_json::Value) -> (usize, usize) {
    (
        v[0].as_u64().unwrap() as usize,
        v[1].as_u64().unwrap() as usize,
    )
}

fn activation(l: &serde_json::Value) -> Activation {
    let f = |k: &str| l[k].as_f64().unwrap();
    let n = |k: &str| l[k].as_u64().unwrap() as usize;
    match l["name"].as_str().unwrap() {
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::LeakyRelu { alpha: f("alpha") },
        "ab_relu" => Activation::AbRelu {
            a: f("a"),
            b: f("b"),
        },
        "abs" => Activation::Abs,
        "sign" => Activation::Sign,
        "erf" => Activation::Erf {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "sigmoid_like" => Activation::SigmoidLike,
        "gelu" => Activation::Gelu,
        "sin" => Activation::Sin {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "cos" => Activation::Cos {
            a: f("a"),
            b: f("b"),
            c: f("c"),
        },
        "rbf" => Activation::Rbf { gamma: f("gamma") },
        "exp" => Activation::Exp {
            a: f("a"),
            b: f("b"),
        },
        "gaussian" => Activation::Gaussian {
            a: f("a"),
            b: f("b"),
        },
        "exp_normalized" => Activation::ExpNormalized {
            gamma: f("gamma"),
            shift: f("shift"),
            do_clip: l["do_clip"].as_bool().unwrap(),
        },
        "hermite" => Activation::Hermite {
            degree: n("degree"),
            convention: HermiteConvention::NeuralTangents,
        },
        "monomial" => Activation::Monomial {
            degree: n("degree"),
        },
        "rectified_monomial" => Activation::RectifiedMonomial {
            degree: n("degree"),
        },
        "polynomial" => Activation::Polynomial {
            coef: l["coef"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        },
        "gabor" => Activation::Gabor,
        "numerical" => Activation::Numerical {
            function: dual_activations::registry::by_name(l["fn"].as_str().unwrap()).unwrap(),
            method: NumericalMethod::GaussHermite { deg: n("deg") },
        },
        other => panic!("unknown activation {other}"),
    }
}

fn pair2(v: &serde_json::Value) -> (usize, usize) {
    pair(v)
}

fn layer(l: &serde_json::Value) -> Layer {
    let b = |l: &serde_json::Value| l["b_std"].as_f64();
    let padding = |s: &str| match s {
        "SAME" => Padding::Same,
        "VALID" => Padding::Valid,
        "CIRCULAR" => Padding::Circular,
        other => panic!("padding {other}"),
    };
    match l["type"].as_str().unwrap() {
        "dense" => Layer::Dense {
            w_std: l["W_std"].as_f64().unwrap(),
            b_std: b(l),
        },
        "conv" => Layer::Conv {
            filter: pair2(&l["filter_shape"]),
            strides: pair2(&l["strides"]),
            padding: padding(l["padding"].as_str().unwrap()),
            w_std: l["W_std"].as_f64().unwrap(),
            b_std: b(l),
        },
        "avg_pool" => Layer::AvgPool {
            window: pair2(&l["window_shape"]),
            strides: pair2(&l["strides"]),
            padding: padding(l["padding"].as_str().unwrap()),
        },
        "global_avg_pool" => Layer::GlobalAvgPool,
        "flatten" => Layer::Flatten,
        "layer_norm" => Layer::LayerNorm,
        "activation" => Layer::Activation(activation(l)),
        other => panic!("layer {other}"),
    }
}

fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
        x => out.push(x.as_f64().unwrap()),
    }
}

#[test]
fn every_oracle_case_matches() {
    // The shared oracle (203 cases) and the cases of tools/gen_nt_fixtures.py
    // (63: FC depth 3–5 with edge inputs, VALID/CIRCULAR/strided convs, SAME
    // pooling, LayerNorm, Myrtle-5 on 32×32).
    assert_eq!(check_dir("neural_tangents"), 203);
    assert_eq!(check_dir("neural_tangents_extra"), 63);
}

#[test]
fn branching_networks_match_neural_tangents() {
    // tools/gen_nt_branching.py (7 cases): residual MLPs (ReLU; depth-4
    // Gelu), FanInConcat of three branches with a nested residual branch,
    // a residual CNN with a strided branch and a strided 1x1 shortcut,
    // channel concatenation of convolutions with SumPool and
    // GlobalSumPool, and the README's WideResnet with block sizes 1 and 2,
    // all on 8x8x3 images or edge-case vectors. Same tolerances.
    assert_eq!(check_dir("neural_tangents_branching"), 7);
}

fn check_dir(sub: &str) -> usize {
    let dir = format!("{}/tests/fixtures/{sub}", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let shape1: Vec<usize> = v["x1_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap() as usize)
            .collect();
        // Branching cases carry the network in this crate's syntax (the
        // parser is under test too); the others as the oracle's layer list.
        let arch = match v["stax"].as_str() {
            Some(text) => {
                let input = match shape1[..] {
                    [_, d] => Shape::Vector { dim: d },
                    [_, h, w, c] => Shape::Image { h, w, c },
                    _ => panic!("{path:?}: shape"),
                };
                ArchSpec::parse(text)
                    .and_then(|s| s.build(input))
                    .unwrap_or_else(|e| panic!("{path:?}: {e}"))
            }
            None => Architecture::new(
                v["architecture"]["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(layer)
                    .collect(),
            )
            .unwrap(),
        };
        let shape2: Vec<usize> = v["x2_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap() as usize)
            .collect();
        let (mut b1, mut b2) = (Vec::new(), Vec::new());
        flat(&v["x1"], &mut b1);
        flat(&v["x2"], &mut b2);
        let (m1, m2);
        let (i1, i2, par) = if shape1.len() == 2 {
            m1 = Mat::from_fn(shape1[1], shape1[0], |i, j| b1[j * shape1[1] + i]);
            m2 = Mat::from_fn(shape2[1], shape2[0], |i, j| b2[j * shape2[1] + i]);
            (
                Input::Vectors(m1.as_ref()),
                Input::Vectors(m2.as_ref()),
                Par::Seq,
            )
        } else {
            let (h, w, c) = (shape1[1], shape1[2], shape1[3]);
            let image = |data, n| Input::Images { data, n, h, w, c };
            (image(&b1, shape1[0]), image(&b2, shape2[0]), Par::rayon(2))
        };
        let k = kernels(&arch, i1, Some(i2), par, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        // The symmetric path (x2 = None: one triangle, each diagonal entry
        // from its sample alone) on each side.
        let sym = [i1, i2].map(|x| {
            kernels(&arch, x, None, par, &mut |_, _| {})
                .unwrap_or_else(|e| panic!("{path:?} (symmetric): {e}"))
        });
        let (nngp, ntk) = (matrix(&v["nngp"]), matrix(&v["ntk"]));
        let parallel: Vec<(usize, usize)> = v["parallel_pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(pair)
            .collect();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let max = |m: &Vec<Vec<f64>>| m.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs()));
        let (mn, mt) = (max(&nngp), max(&ntk));
        for i in 0..nngp.len() {
            for j in 0..nngp[0].len() {
                let tol: f64 = if parallel.contains(&(i, j)) {
                    1e-6
                } else {
                    1e-10
                };
                assert!(
                    (k.nngp[(i, j)] - nngp[i][j]).abs() <= tol * mn,
                    "{name} nngp[{i}][{j}] {} vs {}",
                    k.nngp[(i, j)],
                    nngp[i][j]
                );
                assert!(
                    (k.ntk[(i, j)] - ntk[i][j]).abs() <= tol * mt,
                    "{name} ntk[{i}][{j}] {} vs {}",
                    k.ntk[(i, j)],
                    ntk[i][j]
                );
            }
        }
        // Off the diagonal, the symmetric path computes what the general
        // one does (the same pair recursion, mirrored): 1e-12 of the largest
        // entry allows for the GEMM's different blocking.
        let general = kernels(&arch, i1, Some(i1), par, &mut |_, _| {}).unwrap();
        let n1 = shape1[0];
        for i in 0..n1 {
            for j in 0..n1 {
                if i != j {
                    let (a, b) = (sym[0].nngp[(i, j)], general.nngp[(i, j)]);
                    assert!(
                        (a - b).abs() <= 1e-12 * mn,
                        "{name} sym nngp[{i}][{j}] {a} vs {b}"
                    );
                    let (a, b) = (sym[0].ntk[(i, j)], general.ntk[(i, j)]);
                    assert!(
                        (a - b).abs() <= 1e-12 * mt,
                        "{name} sym ntk[{i}][{j}] {a} vs {b}"
                    );
                }
            }
        }
        for (key, got) in [
            ("cov1", &k.nngp_diag1),
            ("cov2", &k.nngp_diag2),
            ("cov1", &sym[0].nngp_diag1),
            ("cov2", &sym[1].nngp_diag1),
        ] {
            let want: Vec<f64> = v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-9 * mn.max(w.abs()),
                    "{name} {key}: {g} vs {w}"
                );
            }
        }
        checked += 1;
    }
    checked
}
