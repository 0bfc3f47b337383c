//! The pipeline against its definitions: streamed features are the map's
//! features bit for bit, the ridge fitted from blocks is the dense ridge,
//! the spec's JSON round-trips, and malformed specs are typed errors.

use faer::{Mat, Par};
use ntk_features::{ArchSpec, Architecture, KernelKind, Method, Polynomial, Shape, Toggle};
use ntk_pipeline::{
    AnyMap, Block, BlockMut, Cache, FeatureSpec, Lambda, LambdaRecord, Options, PipelineError,
    Precision, Stream, Targets,
};
use serde_json::json;

const D: usize = 5;

fn arch() -> Architecture {
    ArchSpec::parse("Dense(W_std=1.4, b_std=0.1), Relu, Dense(W_std=1.4), Relu, Dense()")
        .unwrap()
        .build(Shape::Vector { dim: D })
        .unwrap()
}

/// `n` seeded samples, sample-major (a C-order `(n, D)` array).
fn samples(n: usize) -> Vec<f64> {
    (0..n * D)
        .map(|i| ((i as f64 * 0.7548776662).fract() - 0.5) * 2.0)
        .collect()
}

fn map(method: Method, dtype: Precision) -> AnyMap {
    let spec = Options::default().spec(64, method, KernelKind::Ntk, 3, dtype);
    AnyMap::new(&arch(), Shape::Vector { dim: D }, &spec).unwrap()
}

/// The stream's features collected into one `(D′, n)` matrix, as `f64`.
fn streamed(m: &AnyMap, x: &[f64], block: usize, par: Par) -> Mat<f64> {
    let n = x.len() / D;
    let mut out = Mat::<f64>::zeros(m.dim(), n);
    let mut s = Stream::<PipelineError>::new(par);
    s.block = block;
    m.stream(x, &mut s, &mut |start, z| {
        for j in 0..z.ncols() {
            for i in 0..z.nrows() {
                out[(i, start + j)] = match z {
                    Block::F32(z) => f64::from(z[(i, j)]),
                    Block::F64(z) => z[(i, j)],
                };
            }
        }
        Ok(())
    })
    .unwrap();
    out
}

fn applied(m: &AnyMap, x: &[f64]) -> Mat<f64> {
    match m {
        AnyMap::F32(f) => {
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let z = f.apply(&x32, Par::Seq, &mut |_, _| {}).unwrap();
            Mat::from_fn(z.nrows(), z.ncols(), |i, j| f64::from(z[(i, j)]))
        }
        AnyMap::F64(f) => f.apply(x, Par::Seq, &mut |_, _| {}).unwrap(),
    }
}

#[test]
fn streamed_features_are_the_maps_bit_for_bit() {
    let x = samples(23);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (method, dtype) in [
        (Method::Hermite, Precision::F64),
        (Method::Random, Precision::F32),
        (Method::NtkRf, Precision::F64),
    ] {
        let m = map(method, dtype);
        let whole = applied(&m, &x);
        for block in [1, 2, 5, 7, 256] {
            for par in [Par::Seq, Par::rayon(2)] {
                let z = pool.install(|| streamed(&m, &x, block, par));
                assert!(
                    z == whole,
                    "{method:?} {dtype}: block {block}, {par:?} differs from apply"
                );
            }
        }
    }
}

/// A cache in memory: the blocks saved, and how many were loaded.
#[derive(Default)]
struct Memory {
    blocks: Vec<(usize, Mat<f64>)>,
    loads: usize,
}

impl Cache<PipelineError> for Memory {
    fn load(&mut self, start: usize, out: BlockMut<'_>) -> Result<bool, PipelineError> {
        let BlockMut::F64(mut out) = out else {
            return Ok(false);
        };
        match self
            .blocks
            .iter()
            .find(|(s, b)| *s == start && b.ncols() == out.ncols())
        {
            Some((_, b)) => {
                out.copy_from(b);
                self.loads += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn save(&mut self, start: usize, z: Block<'_>) -> Result<(), PipelineError> {
        if let Block::F64(z) = z {
            self.blocks.push((start, z.to_owned()));
        }
        Ok(())
    }
}

#[test]
fn a_cache_supplies_the_blocks_it_saved() {
    let x = samples(20);
    let m = map(Method::Hermite, Precision::F64);
    let mut cache = Memory::default();
    let mut first = Mat::<f64>::zeros(m.dim(), 20);
    for round in 0..2 {
        let mut s = Stream::new(Par::Seq);
        s.block = 8;
        s.cache = Some(&mut cache);
        let mut z_all = Mat::<f64>::zeros(m.dim(), 20);
        m.stream(&x, &mut s, &mut |start, z| {
            if let Block::F64(z) = z {
                z_all.as_mut().subcols_mut(start, z.ncols()).copy_from(z);
            }
            Ok(())
        })
        .unwrap();
        if round == 0 {
            first = z_all;
        } else {
            assert!(z_all == first);
        }
    }
    assert_eq!(cache.blocks.len(), 3, "three blocks saved once");
    assert_eq!(cache.loads, 3, "and loaded on the second run");
}

#[test]
fn a_stop_cancels_the_stream() {
    let x = samples(20);
    let m = map(Method::Hermite, Precision::F64);
    let stop = || true;
    let mut s = Stream::<PipelineError>::new(Par::Seq);
    s.block = 4;
    s.stop = Some(&stop);
    let e = m.stream(&x, &mut s, &mut |_, _| Ok(())).unwrap_err();
    assert!(e.is_cancelled(), "{e}");
}

#[test]
fn ridge_from_blocks_is_the_dense_ridge() {
    // D′ = 64 features: 30 samples take the dual side (n × n, as 2n ≤ D′),
    // 40 and 100 the primal (D × D); all must equal the dense primal solve.
    for n in [30, 40, 100] {
        ridge_matches_dense(n);
    }
}

fn ridge_matches_dense(n: usize) {
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F64);
    let y = Mat::<f64>::from_fn(2, n, |i, j| x[j * D + i] - 0.5 * x[j * D + 4]);
    let lambda = 1e-2;
    let mut s = Stream::<PipelineError>::new(Par::Seq);
    s.block = 7;
    let fit = ntk_pipeline::fit(
        &m,
        &x,
        Targets {
            y: y.as_ref(),
            labels: None,
        },
        Lambda::Given(lambda),
        &mut s,
    )
    .unwrap();
    assert_eq!(fit.record, LambdaRecord::Given);
    // Dense: (ZZᵀ + λI) W = Z Yᵀ on the whole feature matrix.
    let z = applied(&m, &x);
    let dim = z.nrows();
    let mut g = &z * z.transpose();
    for i in 0..dim {
        g[(i, i)] += lambda;
    }
    let rhs = &z * y.transpose();
    let w = faer::linalg::solvers::Solve::solve(&g.llt(faer::Side::Lower).unwrap(), &rhs);
    // Both solve the same SPD system in f64; they differ by the summation
    // order of ZZᵀ (blocks of 7 against one product), at most about
    // n·ε·‖Z‖² per entry, amplified by the condition number
    // κ = (s_max + λ)/λ of the system: ‖ΔW‖/‖W‖ ≲ κ·n·ε (times a small
    // constant for the factorisation, taken as 10).
    let eig = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    let kappa = eig.iter().cloned().fold(0.0, f64::max) / lambda;
    let tol = 10.0 * kappa * n as f64 * f64::EPSILON;
    let err = (&fit.weights - &w).norm_l2() / w.norm_l2();
    assert!(err <= tol, "n = {n}: relative error {err:e} above {tol:e}");
}

/// Every value of a matrix as bits, column by column.
fn bits(w: &Mat<f64>) -> Vec<u64> {
    w.col_iter()
        .flat_map(|c| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// Two selections' `(λ, score)` lists: the same λ, the same scores to
/// rounding. Predictions of two routes agree to κ·n·ε relative (the solve
/// test above); at λ = 1e−4 κ ≈ 1e6, so scores (squared errors) agree to
/// about 1e−8 of their size: 1e−6 allows for it.
fn scores_agree(a: &[(f64, f64)], b: &[(f64, f64)]) {
    assert_eq!(a.len(), b.len());
    for ((l1, s1), (l2, s2)) in a.iter().zip(b) {
        assert_eq!(l1, l2);
        assert!(
            (s1 - s2).abs() <= 1e-6 * s1.abs().max(1e-12),
            "λ = {l1}: {s1} vs {s2}"
        );
    }
}

/// λ chosen by MSE on the seeded split `(fraction, seed)` of `x` through
/// `select_ridge` (the f64 accumulation and one eigendecomposition, the
/// validation features projected once): the reference the pipeline's own
/// selections are compared with.
fn eigen_path_selection(
    m: &AnyMap,
    x: &[f64],
    y: &Mat<f64>,
    grid: &[f64],
    fraction: f64,
    seed: u64,
) -> ntk_solve::select::Selection {
    let z = applied(m, x);
    let n = z.ncols();
    let (_, val) = ntk_solve::select::validation_split(n, fraction, seed).unwrap();
    let fit_idx: Vec<usize> = (0..n).filter(|i| !val.contains(i)).collect();
    let zf = Mat::<f64>::from_fn(z.nrows(), fit_idx.len(), |i, a| z[(i, fit_idx[a])]);
    let yf = Mat::<f64>::from_fn(1, fit_idx.len(), |_, a| y[(0, fit_idx[a])]);
    let zv = Mat::<f64>::from_fn(z.nrows(), val.len(), |i, a| z[(i, val[a])]);
    let yv = Mat::<f64>::from_fn(1, val.len(), |_, a| y[(0, val[a])]);
    let mut acc = ntk_solve::GramAccumulator::new(z.nrows(), 1).unwrap();
    acc.add_block(zf.as_ref(), yf.as_ref(), Par::Seq).unwrap();
    ntk_solve::select::select_ridge(
        &acc,
        zv.as_ref(),
        ntk_solve::metrics::Truth::Values(yv.as_ref()),
        grid,
        ntk_solve::metrics::Metric::Mse,
    )
    .unwrap()
}

#[test]
fn both_sides_choose_the_same_lambda_with_the_same_scores() {
    // The dual side's λ path (kernel ridge on the fitting part, scored on
    // the validation part's cross block) against the primal one computed
    // here from the same split: the same validation scores to rounding and
    // the same λ. Regression (MSE), so scores are continuous.
    let n = 32;
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F64);
    let y = Mat::<f64>::from_fn(1, n, |_, j| x[j * D] - 0.7 * x[j * D + 2] * x[j * D + 3]);
    let grid = [1e-4, 1e-2, 1.0, 100.0];
    let mut s = Stream::<PipelineError>::new(Par::Seq);
    let targets = Targets {
        y: y.as_ref(),
        labels: None,
    };
    let split = Lambda::Split {
        grid: &grid,
        val_fraction: 0.25,
        seed: 11,
    };
    let fit = ntk_pipeline::fit(&m, &x, targets, split, &mut s).unwrap();
    let LambdaRecord::Split(r) = &fit.record else {
        panic!("a split record");
    };
    assert!(m.dim() >= 2 * n, "the dual side");
    // The primal path on the same split.
    let primal = eigen_path_selection(&m, &x, &y, &grid, 0.25, 11);
    assert_eq!(
        primal.lambda, fit.lambda,
        "{:?} vs {:?}",
        primal.scores, r.selection.scores
    );
    scores_agree(&primal.scores, &r.selection.scores);
}

#[test]
fn lambda_on_a_split_keeps_its_record() {
    let n = 50;
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F32);
    let labels: Vec<usize> = (0..n).map(|j| usize::from(x[j * D] > 0.0)).collect();
    let y = ntk_solve::metrics::one_hot(&labels, 2).unwrap();
    let grid = [1e-3, 1e-1, 10.0];
    let mut s = Stream::<PipelineError>::new(Par::Seq);
    let fit = ntk_pipeline::fit(
        &m,
        &x,
        Targets {
            y: y.as_ref(),
            labels: Some(&labels),
        },
        Lambda::Split {
            grid: &grid,
            val_fraction: 0.2,
            seed: 7,
        },
        &mut s,
    )
    .unwrap();
    let LambdaRecord::Split(r) = &fit.record else {
        panic!("a split record");
    };
    assert_eq!(r.n_fit + r.n_validation, n);
    assert_eq!(r.n_validation, 10);
    assert!(grid.contains(&fit.lambda));
    assert_eq!(fit.record.validation_score(), Some(r.selection.score));
    let j = fit.record.to_json();
    assert_eq!(j["method"], "validation split of the training set");
    assert_eq!(j["metric"], "accuracy");
    assert_eq!(j["seed"], 7);
    assert_eq!(j["scores"].as_array().unwrap().len(), 3);
    // Predictions on the training inputs, streamed, are finite and (k, n).
    let p = ntk_pipeline::predict(&m, fit.weights.as_ref(), &x, &mut s).unwrap();
    assert_eq!((p.nrows(), p.ncols()), (2, n));
}

#[test]
fn the_spec_json_round_trips_every_method_and_option() {
    for method in Method::ALL {
        for kernel in KernelKind::ALL {
            for dtype in Precision::ALL {
                for toggle in Toggle::ALL {
                    for polynomial in [Polynomial::Fit, Polynomial::Taylor, Polynomial::Data] {
                        let options = Options {
                            degree: Some(3),
                            tolerance: Some(1e-4),
                            max_degree: Some(6),
                            inner_dim: Some(96),
                            node_dim: None,
                            polynomial,
                            match_tails: toggle,
                            calibrate: toggle,
                        };
                        let mut spec = options.spec(128, method, kernel, 11, dtype);
                        if polynomial == Polynomial::Data {
                            spec.config.data_polynomials = vec![ntk_features::ReluPolynomials {
                                kappa1: vec![0.1, 0.5, 0.25],
                                kappa0: vec![0.3, 0.7],
                            }];
                        }
                        let back = FeatureSpec::from_json(&spec.to_json()).unwrap();
                        // `calibrate` is stored resolved: auto reads back as
                        // the method's default.
                        let mut expected = spec.clone();
                        expected.config.calibrate = Toggle::from(Some(spec.config.calibrates()));
                        assert_eq!(back, expected, "{method:?} {kernel} {dtype} {toggle}");
                    }
                }
            }
        }
    }
}

#[test]
fn malformed_specs_are_typed_errors() {
    let good = Options::default()
        .spec(64, Method::Hermite, KernelKind::Nngp, 1, Precision::F64)
        .to_json();
    let cases = [
        ("method", json!("sketchy"), "unknown feature method"),
        ("kernel", json!("gp"), "unknown feature kernel 'gp'"),
        ("dtype", json!("f16"), "unknown feature dtype 'f16'"),
        ("dim", json!(-1), "features 'dim' is not a whole number"),
        ("seed", json!("0"), "features 'seed' is not a whole number"),
        (
            "tolerance",
            json!(null),
            "features 'tolerance' is not a number",
        ),
        (
            "match_tails",
            json!(1),
            "features 'match_tails' is not a boolean or null",
        ),
        (
            "polynomial",
            json!("chebyshev"),
            "features 'polynomial' is not fit, taylor or data",
        ),
        (
            "data_polynomials",
            json!({}),
            "features 'data_polynomials' is not an array",
        ),
        (
            "data_polynomials",
            json!([{"kappa1": [1.0]}]),
            "lacks a numeric 'kappa0' array",
        ),
        (
            "calibrate",
            json!(null),
            "features 'calibrate' is not a boolean",
        ),
    ];
    for (key, value, message) in cases {
        let mut v = good.clone();
        v[key] = value;
        match FeatureSpec::from_json(&v) {
            Err(PipelineError::InvalidSpec { reason }) => {
                assert!(reason.contains(message), "{key}: {reason}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("method");
    assert!(matches!(
        FeatureSpec::from_json(&v),
        Err(PipelineError::InvalidSpec { reason }) if reason == "features lack 'method'"
    ));
    // Keys added after the first models may be absent.
    let mut v = good;
    for k in ["polynomial", "data_polynomials", "calibrate"] {
        v.as_object_mut().unwrap().remove(k);
    }
    let old = FeatureSpec::from_json(&v).unwrap();
    assert_eq!(old.config.calibrate, Toggle::Off);
}

#[test]
fn data_polynomials_are_fitted_to_vectors_only() {
    let spec = Options {
        polynomial: Polynomial::Data,
        ..Options::default()
    }
    .spec(64, Method::NtkSketch, KernelKind::Ntk, 0, Precision::F64);
    let mut s = spec.clone();
    let x = samples(300);
    s.fit_polynomials(&arch(), &x, 300, Shape::Vector { dim: D })
        .unwrap();
    assert!(!s.config.data_polynomials.is_empty());
    let mut s = spec;
    let e = s
        .fit_polynomials(&arch(), &[0.0; 12], 1, Shape::Image { h: 2, w: 2, c: 3 })
        .unwrap_err();
    assert!(matches!(e, PipelineError::PolynomialsNeedVectors));
}

#[test]
fn targets_must_match_the_inputs() {
    let x = samples(10);
    let m = map(Method::Hermite, Precision::F64);
    let y = Mat::<f64>::zeros(1, 9);
    let e = ntk_pipeline::fit(
        &m,
        &x,
        Targets {
            y: y.as_ref(),
            labels: None,
        },
        Lambda::Given(1.0),
        &mut Stream::<PipelineError>::new(Par::Seq),
    )
    .unwrap_err();
    assert!(matches!(e, PipelineError::Shape { .. }), "{e}");
}

/// The primal fit of `x` with chunks of `chunk` samples, its blocks of
/// `block` samples added in the order `order` gives (a permutation of the
/// blocks), under `par`.
fn primal_fit(
    m: &AnyMap,
    x: &[f64],
    targets: Targets<'_>,
    lambda: Lambda<'_>,
    (chunk, block, reverse, par): (usize, usize, bool, Par),
) -> ntk_pipeline::FeatureFit {
    let z = applied(m, x);
    let n = z.ncols();
    let mut ridge = ntk_pipeline::FeatureRidge::with_chunk(m, targets, lambda, chunk).unwrap();
    let mut starts: Vec<usize> = (0..n).step_by(block).collect();
    if reverse {
        starts.reverse();
        // And the second half first, so completion order is mixed.
        let h = starts.len() / 2;
        starts.rotate_left(h);
    }
    for s in starts {
        let len = block.min(n - s);
        let zb = z.as_ref().subcols(s, len);
        match m {
            AnyMap::F64(_) => ridge.add(s, Block::F64(zb), par).unwrap(),
            AnyMap::F32(_) => {
                let z32 = Mat::<f32>::from_fn(zb.nrows(), len, |i, j| zb[(i, j)] as f32);
                ridge.add(s, Block::F32(z32.as_ref()), par).unwrap()
            }
        }
    }
    ridge.finish(par).unwrap()
}

#[test]
fn primal_fits_are_the_same_bits_however_the_samples_arrive() {
    // The primal side sums chunk Grams exactly (fixed point), so any block
    // size, any arrival order of blocks and any thread count give the same
    // weights, λ and scores, bit for bit. Mutation measured: a chunk's
    // samples stored in arrival order rather than sample order fails it
    // (the chunk GEMM then sums in another order).
    let n = 150;
    let x = samples(n);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let y = Mat::<f64>::from_fn(3, n, |i, j| (x[j * D + i] * 2.0).sin() - x[j * D + 4]);
    let labels: Vec<usize> = (0..n)
        .map(|j| {
            (0..3)
                .max_by(|&a, &b| y[(a, j)].total_cmp(&y[(b, j)]))
                .unwrap()
        })
        .collect();
    let grid = [1e-3, 1e-1, 10.0];
    for (method, dtype) in [
        (Method::Hermite, Precision::F64),
        (Method::Random, Precision::F32),
    ] {
        let m = map(method, dtype);
        assert!(2 * n > m.dim(), "the primal side");
        for (labels, lambda) in [
            (None, Lambda::Given(1e-2)),
            (
                None,
                Lambda::Split {
                    grid: &grid,
                    val_fraction: 0.3,
                    seed: 5,
                },
            ),
            (
                Some(labels.as_slice()),
                Lambda::Split {
                    grid: &grid,
                    val_fraction: 0.3,
                    seed: 6,
                },
            ),
        ] {
            let t = Targets {
                y: y.as_ref(),
                labels,
            };
            let reference = primal_fit(&m, &x, t, lambda, (16, 256, false, Par::Seq));
            for how in [
                (16, 7, true, Par::rayon(2)),
                (16, 1, true, Par::Seq),
                (16, 40, false, Par::rayon(2)),
            ] {
                let other = pool.install(|| primal_fit(&m, &x, t, lambda, how));
                assert_eq!(other.lambda.to_bits(), reference.lambda.to_bits());
                assert_eq!(other.record, reference.record, "{how:?}");
                assert_eq!(
                    bits(&other.weights),
                    bits(&reference.weights),
                    "{method:?} {how:?}"
                );
            }
        }
    }
}

#[test]
fn primal_selection_matches_the_eigen_path_on_the_same_split() {
    // The chunked scoring (weights per λ, squared errors summed chunk by
    // chunk) against `select_ridge` (one projection of the validation
    // features) on the same split: the same λ and the same scores to
    // rounding (κ·n·ε as in the test above).
    let n = 120;
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F64);
    let y = Mat::<f64>::from_fn(1, n, |_, j| x[j * D] - 0.7 * x[j * D + 2] * x[j * D + 3]);
    let grid = [1e-4, 1e-2, 1.0, 100.0];
    let t = Targets {
        y: y.as_ref(),
        labels: None,
    };
    let split = Lambda::Split {
        grid: &grid,
        val_fraction: 0.25,
        seed: 11,
    };
    let fit = primal_fit(&m, &x, t, split, (32, 256, false, Par::Seq));
    let LambdaRecord::Split(r) = &fit.record else {
        panic!("a split record");
    };
    let eigen = eigen_path_selection(&m, &x, &y, &grid, 0.25, 11);
    assert_eq!(eigen.lambda, fit.lambda);
    scores_agree(&eigen.scores, &r.selection.scores);
}

#[test]
fn a_sample_added_twice_or_missing_is_refused() {
    let n = 100;
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F64);
    let z = applied(&m, &x);
    let y = Mat::<f64>::from_fn(1, n, |_, j| x[j * D]);
    let t = Targets {
        y: y.as_ref(),
        labels: None,
    };
    let mut r = ntk_pipeline::FeatureRidge::with_chunk(&m, t, Lambda::Given(0.1), 16).unwrap();
    r.add(0, Block::F64(z.as_ref().subcols(0, 50)), Par::Seq)
        .unwrap();
    let twice = r.add(40, Block::F64(z.as_ref().subcols(40, 20)), Par::Seq);
    assert!(
        matches!(twice, Err(PipelineError::Shape { .. })),
        "{twice:?}"
    );
    let missing = r.finish(Par::Seq);
    assert!(
        matches!(
            missing,
            Err(PipelineError::Shape {
                expected: 100,
                got: 50,
                ..
            })
        ),
        "{missing:?}"
    );
}

#[test]
fn shards_merged_in_any_order_fit_the_same_bits_as_one_process() {
    // 1, 2 and 5 shards of chunks of 16 samples (150 samples: 10 chunks,
    // the last one short), each featurising its own range plus the first
    // samples for the grid, merged in a shuffled order: the same λ, record
    // and weights as one process. A missing shard and an overlapping one
    // are refused with the chunks they concern.
    let n = 150;
    let x = samples(n);
    let m = map(Method::Hermite, Precision::F32);
    let z = applied(&m, &x);
    let y = Mat::<f64>::from_fn(3, n, |i, j| (x[j * D + i] * 2.0).sin() - x[j * D + 4]);
    let labels: Vec<usize> = (0..n)
        .map(|j| {
            (0..3)
                .max_by(|&a, &b| y[(a, j)].total_cmp(&y[(b, j)]))
                .unwrap()
        })
        .collect();
    let grid = [1e-3, 1e-1, 10.0];
    let t = Targets {
        y: y.as_ref(),
        labels: Some(&labels),
    };
    let split = Lambda::Split {
        grid: &grid,
        val_fraction: 0.3,
        seed: 6,
    };
    let whole = primal_fit(&m, &x, t, split, (16, 256, false, Par::Seq));
    let z32 = Mat::<f32>::from_fn(z.nrows(), n, |i, j| z[(i, j)] as f32);
    let shard = |i: usize, of: usize| {
        let layout_chunks = n.div_ceil(16);
        let range = ntk_pipeline::shard_chunks(layout_chunks, i, of);
        let mut r =
            ntk_pipeline::FeatureRidge::for_chunks(&m, t, split, 16, range.clone()).unwrap();
        let (a, b) = ((range.start * 16).min(n), (range.end * 16).min(n));
        // The first samples for the grid, those the range does not hold.
        let s = ntk_pipeline::SCALE_SAMPLES.min(n);
        if a > 0 {
            r.add(0, Block::F32(z32.as_ref().subcols(0, s.min(a))), Par::Seq)
                .unwrap();
        }
        if b < s {
            r.add(b, Block::F32(z32.as_ref().subcols(b, s - b)), Par::Seq)
                .unwrap();
        }
        if b > a {
            r.add(a, Block::F32(z32.as_ref().subcols(a, b - a)), Par::Seq)
                .unwrap();
        }
        r.into_shard().unwrap()
    };
    for (of, order) in [(1, vec![0]), (2, vec![1, 0]), (5, vec![3, 0, 4, 2, 1])] {
        let shards: Vec<_> = (0..of).map(|i| shard(i, of)).collect();
        let mut merged = shards[order[0]].clone();
        for &i in &order[1..] {
            merged.merge(&shards[i]).unwrap();
        }
        assert!(merged.missing().is_empty());
        let fit = merged.finish(split, Par::Seq).unwrap();
        assert_eq!(fit.record, whole.record, "{of} shards");
        assert_eq!(bits(&fit.weights), bits(&whole.weights), "{of} shards");
        if of == 5 {
            let mut partial = shards[0].clone();
            partial.merge(&shards[1]).unwrap();
            partial.merge(&shards[4]).unwrap();
            let again = partial.merge(&shards[4]);
            assert!(
                matches!(again, Err(PipelineError::ShardMismatch { .. })),
                "{again:?}"
            );
            let err = partial.finish(split, Par::Seq).unwrap_err().to_string();
            assert!(err.contains("chunks 4..8 of 10"), "{err}");
        }
    }
}
