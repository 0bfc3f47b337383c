//! Golden outputs: exact kernels and the features of every method (both
//! precisions, vectors and images, NNGP and NTK, two seeds, a few non-default
//! options), recorded from the code before the feature module was split into
//! files (issue 30), so that a refactoring that claims to move code without
//! changing behaviour is held to the last bit.
//!
//! Each case stores either the error the library returns (its message) or
//! the output's shape, an FNV-1a hash of its bits and, for features, the
//! `n × n` Gram matrix (for exact kernels, the matrices themselves).
//!
//! The bits depend on faer's GEMM kernels, which are chosen at run time by
//! CPU features: the file records the signature of the machine that wrote it
//! (`avx512f`, `avx2`, `fma`). On a machine with the same signature every
//! hash must match; on another the hashes are not comparable and the test
//! compares the stored matrices instead, within `1e-10` of each matrix's
//! largest entry (`f64`; `1e-4` for `f32`: a GEMM with another blocking
//! reorders sums of at most a few hundred terms, a relative change of a few
//! hundred ulps, and the later stages are Lipschitz with small constants),
//! far below any behavioural change (a dropped term or a changed seed moves
//! the Gram by percents).
//!
//! To rewrite the file after an intended change of behaviour:
//! `cargo test -p ntk-features --test golden -- --ignored write_golden`.

use faer::{Mat, MatRef, Par};
use ntk_features::{
    ArchSpec, Architecture, FeatureConfig, FeatureMap, Input, KernelKind, Method, Polynomial, Real,
    Shape, Toggle, kernels,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden/outputs.json"
);

/// Vector networks: ReLU with biases (every method of vectors), smooth
/// activations with LayerNorm (the Hermite and random paths, variances), a
/// homogeneous network (the whole-network methods).
const VECTOR_ARCHS: [(&str, &str); 3] = [
    (
        "relu_bias",
        "Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5)",
    ),
    (
        "smooth_layernorm",
        "Dense(W_std=1.2, b_std=0.3), Erf, LayerNorm, Dense(W_std=1.0, b_std=0.2), Gelu, Dense(W_std=1.0)",
    ),
    (
        "homogeneous",
        "Dense(W_std=1.4), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.4)",
    ),
];

/// Image networks: SAME convolutions with pooling (the fused Conv sketch
/// at small budgets), and a VALID convolution with Flatten.
const IMAGE_ARCHS: [(&str, &str); 2] = [
    (
        "conv_pool_gap",
        "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.4, b_std=0.1), Relu, \
         AvgPool(window_shape=(2, 2), strides=(2, 2)), \
         Conv(filter_shape=(3, 3), padding=SAME, W_std=1.4), Relu, GlobalAvgPool, Dense(W_std=1.4)",
    ),
    (
        "conv_valid_flatten",
        "Conv(filter_shape=(3, 3), padding=VALID, W_std=1.3, b_std=0.2), Gelu, Flatten, Dense(W_std=1.0)",
    ),
];

const VECTOR_DIM: usize = 40;
const IMAGE: Shape = Shape::Image { h: 6, w: 6, c: 2 };
const SAMPLES: usize = 3;

/// Deterministic inputs of several norms (the scales 0.3, 1, 2.5 by sample).
fn inputs(n: usize, size: usize, salt: u64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n * size);
    for j in 0..n {
        let scale = [0.3, 1.0, 2.5][j % 3];
        for i in 0..size {
            let t = ((j * size + i) as f64 + 1.0) * 0.618_033_988_75 + salt as f64 * 0.37;
            v.push(scale * ((t * 12.9898).sin() * 43_758.545_3).fract());
        }
    }
    v
}

fn fnv(bits: impl Iterator<Item = u64>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bits {
        for byte in b.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn matrix_json(m: MatRef<'_, f64>) -> Value {
    json!(
        (0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    )
}

fn wrap<'a>(shape: Shape, m: &'a Mat<f64>, n: usize, v: &'a [f64]) -> Input<'a> {
    match shape {
        Shape::Vector { .. } => Input::Vectors(m.as_ref()),
        Shape::Image { h, w, c } => Input::Images {
            data: v,
            n,
            h,
            w,
            c,
        },
    }
}

fn cpu_signature() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut s = Vec::new();
        if std::is_x86_feature_detected!("avx512f") {
            s.push("avx512f");
        }
        if std::is_x86_feature_detected!("avx2") {
            s.push("avx2");
        }
        if std::is_x86_feature_detected!("fma") {
            s.push("fma");
        }
        s.join("+")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_owned()
    }
}

fn feature_case<T: Real>(arch: &Architecture, shape: Shape, x: &[f64], c: &FeatureConfig) -> Value {
    let xt: Vec<T> = x.iter().map(|&v| T::cast(v)).collect();
    let z =
        FeatureMap::<T>::new(arch, shape, c).and_then(|m| m.apply(&xt, Par::Seq, &mut |_, _| {}));
    match z {
        Err(e) => json!({ "error": e.to_string() }),
        Ok(z) => {
            let z64 = Mat::<f64>::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)].as_f64());
            let gram = z64.transpose() * &z64;
            json!({
                "shape": [z.nrows(), z.ncols()],
                "hash": fnv((0..z.ncols()).flat_map(|j| {
                    let z = &z;
                    (0..z.nrows()).map(move |i| z[(i, j)].as_f64().to_bits())
                })),
                "gram": matrix_json(gram.as_ref()),
            })
        }
    }
}

/// The configurations each architecture is run with: every method at two
/// dimensions and seeds, both kernels, and non-default options.
fn configs() -> Vec<(String, FeatureConfig)> {
    let mut out = Vec::new();
    for method in Method::ALL {
        for kernel in [KernelKind::Ntk, KernelKind::Nngp] {
            for (dim, seed) in [(32, 0), (64, 3)] {
                let name = format!("{method}_{kernel:?}_D{dim}_s{seed}");
                out.push((name, FeatureConfig::new(dim, method, kernel, seed)));
            }
        }
    }
    let base = || FeatureConfig::new(48, Method::Hermite, KernelKind::Ntk, 5);
    let mut c = base();
    c.degree = Some(3);
    c.match_tails = Toggle::Off;
    out.push(("hermite_q3_plain".into(), c));
    let mut c = base();
    c.match_tails = Toggle::On;
    c.calibrate = Toggle::Off;
    c.inner_dim = Some(24);
    c.node_dim = Some(16);
    out.push(("hermite_matched_uncalibrated_inner24_node16".into(), c));
    let mut c = base();
    c.tolerance = 1e-3;
    c.max_degree = 5;
    out.push(("hermite_tol1e-3_max5".into(), c));
    for method in [Method::NtkSketch, Method::CntkSketch] {
        let mut c = FeatureConfig::new(48, method, KernelKind::Ntk, 2);
        c.polynomial = Polynomial::Taylor;
        c.degree = Some(3);
        out.push((format!("{method}_taylor_q3"), c));
        let mut c = FeatureConfig::new(48, method, KernelKind::Ntk, 2);
        c.calibrate = Some(method == Method::NtkSketch).into();
        out.push((format!("{method}_calibrate_flipped"), c));
    }
    let mut c = FeatureConfig::new(48, Method::NtkRf, KernelKind::Ntk, 4);
    c.node_dim = Some(20);
    c.inner_dim = Some(24);
    c.calibrate = Toggle::Off;
    out.push(("ntkrf_m20_ms24_uncalibrated".into(), c));
    let mut c = FeatureConfig::new(48, Method::Random, KernelKind::Ntk, 4);
    c.node_dim = Some(30);
    c.calibrate = Toggle::On;
    out.push(("random_m30_calibrated".into(), c));
    let mut c = FeatureConfig::new(48, Method::OnePass, KernelKind::Ntk, 6);
    c.degree = Some(3);
    out.push(("onepass_q3".into(), c));
    // `subspace` keeps the input's degrees 0 and 1 exactly: it needs D > d.
    for kernel in [KernelKind::Ntk, KernelKind::Nngp] {
        let c = FeatureConfig::new(512, Method::Subspace, kernel, 8);
        out.push((format!("subspace_D512_{kernel:?}"), c));
    }
    out
}

fn compute() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut archs: Vec<(&str, Shape, Architecture)> = Vec::new();
    for (name, text) in VECTOR_ARCHS {
        let shape = Shape::Vector { dim: VECTOR_DIM };
        archs.push((
            name,
            shape,
            ArchSpec::parse(text).unwrap().build(shape).unwrap(),
        ));
    }
    for (name, text) in IMAGE_ARCHS {
        archs.push((
            name,
            IMAGE,
            ArchSpec::parse(text).unwrap().build(IMAGE).unwrap(),
        ));
    }
    for (name, shape, arch) in &archs {
        let size = match *shape {
            Shape::Vector { dim } => dim,
            Shape::Image { h, w, c } => h * w * c,
        };
        let x = inputs(SAMPLES, size, 1);
        let x2 = inputs(2, size, 2);
        // Exact kernels, K(X, X) and K(X, X2).
        for (tag, second) in [("xx", None), ("xy", Some(&x2))] {
            let input = |v: &[f64], n: usize| -> (Mat<f64>, usize) {
                (Mat::from_fn(size, n, |i, j| v[j * size + i]), n)
            };
            let (m1, n1) = input(&x, SAMPLES);
            let m2 = second.map(|v| input(v, 2));
            let k = kernels(
                arch,
                wrap(*shape, &m1, n1, &x),
                m2.as_ref()
                    .map(|(m, n)| wrap(*shape, m, *n, second.unwrap())),
                Par::Seq,
                &mut |_, _| {},
            )
            .unwrap();
            for (kind, m) in [("nngp", &k.nngp), ("ntk", &k.ntk)] {
                let bits =
                    (0..m.ncols()).flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits()));
                out.insert(
                    format!("exact/{name}/{tag}/{kind}"),
                    json!({ "hash": fnv(bits), "matrix": matrix_json(m.as_ref()) }),
                );
            }
        }
        for (cname, config) in configs() {
            let mut config = config;
            // Data-fitted polynomials: fitted on the inputs themselves.
            if config.method == Method::NtkSketch
                && cname.starts_with("ntksketch_Ntk_D64")
                && matches!(shape, Shape::Vector { .. })
            {
                let sample = Mat::from_fn(size, SAMPLES, |i, j| x[j * size + i]);
                let fitted = config.fit_polynomials(arch, sample.as_ref());
                let key = format!("features/{name}/{cname}_datafit");
                match fitted {
                    Err(e) => {
                        out.insert(key, json!({ "error": e.to_string() }));
                    }
                    Ok(()) => {
                        out.insert(
                            format!("{key}/f64"),
                            feature_case::<f64>(arch, *shape, &x, &config),
                        );
                        out.insert(
                            format!("{key}/f32"),
                            feature_case::<f32>(arch, *shape, &x, &config),
                        );
                    }
                }
                config.polynomial = Polynomial::Fit;
                config.data_polynomials.clear();
            }
            for (p, v) in [
                ("f64", feature_case::<f64>(arch, *shape, &x, &config)),
                ("f32", feature_case::<f32>(arch, *shape, &x, &config)),
            ] {
                out.insert(format!("features/{name}/{cname}/{p}"), v);
            }
        }
    }
    out
}

fn close(a: &Value, b: &Value, tol: f64) -> bool {
    let flat = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let (a, b) = (flat(a), flat(b));
    let scale = a
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tol * scale)
}

#[test]
fn outputs_equal_the_recorded_ones() {
    let text = std::fs::read_to_string(FILE).expect("golden file present");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let same_cpu = stored["cpu"].as_str() == Some(cpu_signature().as_str());
    let cases = stored["cases"].as_object().unwrap();
    let now = compute();
    let mut failures = Vec::new();
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        cases.keys().collect::<Vec<_>>(),
        "the set of cases changed"
    );
    for (key, got) in &now {
        let want = &cases[key];
        let ok = if got.get("error").is_some() || want.get("error").is_some() {
            got == want
        } else if same_cpu {
            got["hash"] == want["hash"] && got.get("shape") == want.get("shape")
        } else {
            let field = if got.get("gram").is_some() {
                "gram"
            } else {
                "matrix"
            };
            let tol = if key.ends_with("/f32") { 1e-4 } else { 1e-10 };
            got.get("shape") == want.get("shape") && close(&got[field], &want[field], tol)
        };
        if !ok {
            failures.push(format!("{key}: got {got}, want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden outputs changed:\n{}",
        failures.len(),
        now.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "rewrites the golden file; run only after an intended change of behaviour"]
fn write_golden() {
    let doc = json!({
        "about": "tests/golden.rs: outputs of the feature maps and exact kernels, recorded before the issue-30 refactoring",
        "cpu": cpu_signature(),
        "cases": compute(),
    });
    std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
    std::fs::write(FILE, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
}
