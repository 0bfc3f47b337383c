//! Properties over generated architectures (proptest): random stacks of
//! the supported layers, activations and combinators (residual blocks,
//! multi-branch concatenations, nested branches) on vectors and images,
//! with random parameters; and random damage to valid strings.
//!
//! - parse ∘ display is the identity (the canonical string reparses to
//!   itself);
//! - the exact `K(X, X)` is symmetric and positive semidefinite: its
//!   smallest eigenvalue is at least `−n·64ε·max|K|` (the rounding of a
//!   symmetric eigensolver on an `n × n` matrix, with room for the
//!   recursions' own rounding);
//! - the symmetric path (one triangle) equals the general path
//!   (`x2 = x1`) off the diagonal within `1e−9` of the largest entry
//!   (`1e−7` where a ReLU-type `K̇` is evaluated next to `ρ = 1`, whose
//!   `sqrt(ε)` sensitivity `tests/props.rs` documents);
//! - feature maps (`hermite`, `random`) give finite features with the same
//!   bits for any thread count and batch split, or a typed error;
//! - anything the parser or the validator refuses, and any architecture
//!   that does not fit its input, is a typed error — never a panic.
//!
//! Case counts: 40 vector and 24 image architectures for the kernels, 24
//! for the features, 200 damaged strings (about 20 s in the dev profile).

use faer::{Mat, Par};
use ntk_features::{
    ArchSpec, FeatureConfig, FeatureMap, Input, KernelKind, Method, Shape, kernels,
};
use proptest::prelude::*;

const ACTS: &[&str] = &[
    "Relu",
    "Gelu",
    "Erf",
    "Abs",
    "LeakyRelu(alpha=0.2)",
    "Sin(a=0.8, b=0.5, c=0.2)",
    "Erf(a=1.3, b=0.7, c=0.1)",
];

/// ReLU-type activations: `K̇` is not Lipschitz at `ρ = 1`.
fn kinked(text: &str) -> bool {
    ["Relu", "Abs", "LeakyRelu"]
        .iter()
        .any(|a| text.contains(a))
}

#[derive(Debug, Clone)]
struct Params {
    w: f64,
    b: Option<f64>,
}

fn params() -> impl Strategy<Value = Params> {
    (0.5f64..1.8, prop::option::of(0.0f64..0.5)).prop_map(|(w, b)| Params { w, b })
}

fn dense(p: &Params) -> String {
    match p.b {
        Some(b) => format!("Dense(W_std={:.3}, b_std={:.3})", p.w, b),
        None => format!("Dense(W_std={:.3})", p.w),
    }
}

/// One block of a vector network, entered with a Gaussian state and left
/// with a Gaussian state.
fn vector_block() -> impl Strategy<Value = String> {
    (0usize..5, 0usize..ACTS.len(), 0usize..ACTS.len(), params(), params(), 2usize..4).prop_map(
        |(kind, a1, a2, p1, p2, n)| {
            let (a1, a2) = (ACTS[a1], ACTS[a2]);
            match kind {
                0 => format!("{a1}, {}", dense(&p1)),
                1 => format!(
                    "FanOut(2), parallel(Identity, serial({a1}, {})), FanInSum",
                    dense(&p1)
                ),
                2 => {
                    let mut branches = vec![dense(&p1)];
                    for k in 1..n {
                        let a = if k % 2 == 1 { a1 } else { a2 };
                        branches.push(format!("serial({a}, {})", dense(&p2)));
                    }
                    format!(
                        "FanOut({n}), parallel({}), FanInConcat, {}",
                        branches.join(", "),
                        dense(&p2)
                    )
                }
                3 => format!(
                    "FanOut(2), parallel(serial({a1}, {}, FanOut(2), parallel(Identity, serial({a2}, {})), FanInSum), {}), FanInSum",
                    dense(&p1),
                    dense(&p2),
                    dense(&p2)
                ),
                _ => format!("LayerNorm, {}", dense(&p1)),
            }
        },
    )
}

fn vector_net() -> impl Strategy<Value = String> {
    (
        params(),
        prop::collection::vec(vector_block(), 1..4),
        0usize..ACTS.len(),
        params(),
    )
        .prop_map(|(p0, blocks, a, p1)| {
            format!(
                "{}, {}, {}, {}",
                dense(&p0),
                blocks.join(", "),
                ACTS[a],
                dense(&p1)
            )
        })
}

fn conv(k: usize, s: usize, pad: &str, p: &Params) -> String {
    let b = p.b.map_or("None".to_owned(), |b| format!("{b:.3}"));
    format!(
        "Conv(filter_shape=({k}, {k}), strides=({s}, {s}), padding={pad}, W_std={:.3}, b_std={b})",
        p.w
    )
}

const PADS: &[&str] = &["SAME", "VALID", "CIRCULAR"];

fn image_block() -> impl Strategy<Value = String> {
    (
        0usize..5,
        0usize..ACTS.len(),
        1usize..4,
        0usize..3,
        params(),
        params(),
    )
        .prop_map(|(kind, a, k, pad, p1, p2)| {
            let a = ACTS[a];
            match kind {
                0 => format!("{a}, {}", conv(k, 1, PADS[pad], &p1)),
                // A strided residual block with a strided 1x1 shortcut.
                1 => format!(
                    "FanOut(2), parallel(serial({a}, {}), {}), FanInSum",
                    conv(3, 2, "SAME", &p1),
                    conv(1, 2, "SAME", &p2)
                ),
                2 => format!(
                    "FanOut(2), parallel(Identity, serial({a}, {})), FanInSum",
                    conv(k, 1, "SAME", &p1)
                ),
                3 => format!(
                    "FanOut(2), parallel({}, serial({a}, {})), FanInConcat, {}",
                    conv(k, 1, "SAME", &p1),
                    conv(1, 1, "VALID", &p2),
                    conv(k, 1, "SAME", &p2)
                ),
                _ => format!(
                    "{a}, {}, {}",
                    if k == 1 {
                        "SumPool((2, 2), (2, 2), SAME)"
                    } else {
                        "AvgPool((2, 2), (1, 1), VALID)"
                    },
                    conv(k, 1, PADS[pad], &p1)
                ),
            }
        })
}

fn image_net() -> impl Strategy<Value = String> {
    (
        params(),
        prop::collection::vec(image_block(), 1..3),
        0usize..ACTS.len(),
        0usize..3,
        params(),
    )
        .prop_map(|(p0, blocks, a, end, p1)| {
            let end = ["GlobalAvgPool", "GlobalSumPool", "Flatten"][end];
            format!(
                "{}, {}, {}, {end}, {}",
                conv(3, 1, "SAME", &p0),
                blocks.join(", "),
                ACTS[a],
                dense(&p1)
            )
        })
}

fn vectors(d: usize, n: usize) -> Mat<f64> {
    Mat::from_fn(d, n, |i, j| {
        ((i * 7 + j * 13) as f64 * 0.61).sin() * (0.4 + j as f64 * 0.25)
    })
}

fn image_data(n: usize, h: usize, w: usize, c: usize) -> Vec<f64> {
    (0..n * h * w * c)
        .map(|k| (k as f64 * 0.37).cos() * (0.5 + (k / (h * w * c)) as f64 * 0.3))
        .collect()
}

fn min_eig(m: &Mat<f64>) -> f64 {
    let e = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    e.into_iter().fold(f64::INFINITY, f64::min)
}

/// The kernel properties of the module docs for one architecture string
/// and input (a typed refusal passes).
fn check_kernels(text: &str, shape: Shape, x1: Input<'_>) -> Result<(), TestCaseError> {
    let spec = ArchSpec::parse(text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
    let arch = match spec.build(shape) {
        Ok(a) => a,
        // A window that no longer fits after strides: a typed refusal.
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    let canonical = arch.to_string();
    let back = ArchSpec::parse(&canonical).unwrap().build(shape).unwrap();
    prop_assert_eq!(back.to_string(), canonical.clone());
    let sym = kernels(&arch, x1, None, Par::rayon(2), &mut |_, _| {});
    let Ok(sym) = sym else {
        // Overflowing kernels (Exp-like growth) are typed errors.
        return Ok(());
    };
    let general = kernels(&arch, x1, Some(x1), Par::Seq, &mut |_, _| {}).unwrap();
    let n = sym.nngp.nrows();
    for (name, k, g) in [
        ("nngp", &sym.nngp, &general.nngp),
        ("ntk", &sym.ntk, &general.ntk),
    ] {
        let scale = (0..n)
            .map(|i| k[(i, i)].abs())
            .fold(0.0f64, f64::max)
            .max(1e-300);
        let tol = if name == "ntk" && kinked(text) {
            1e-7
        } else {
            1e-9
        };
        for i in 0..n {
            for j in 0..n {
                prop_assert_eq!(k[(i, j)].to_bits(), k[(j, i)].to_bits());
                prop_assert!(k[(i, j)].is_finite());
                if i != j {
                    prop_assert!(
                        (k[(i, j)] - g[(i, j)]).abs() <= tol * scale,
                        "{} [{},{}] {} vs {} in {}",
                        name,
                        i,
                        j,
                        k[(i, j)],
                        g[(i, j)],
                        canonical
                    );
                }
            }
        }
        let e = min_eig(k);
        prop_assert!(
            e >= -(n as f64) * 64.0 * f64::EPSILON * scale,
            "{}: smallest eigenvalue {} (scale {}) of {}",
            name,
            e,
            scale,
            canonical
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn vector_networks_have_symmetric_psd_kernels(text in vector_net()) {
        let x = vectors(5, 7);
        check_kernels(&text, Shape::Vector { dim: 5 }, Input::Vectors(x.as_ref()))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn image_networks_have_symmetric_psd_kernels(text in image_net()) {
        let (h, w, c) = (6, 6, 2);
        let x = image_data(5, h, w, c);
        check_kernels(&text, Shape::Image { h, w, c }, Input::Images { data: &x, n: 5, h, w, c })?;
    }

    #[test]
    fn feature_maps_are_deterministic_or_refuse(text in vector_net(), seed in 0u64..1000) {
        let d = 5;
        let shape = Shape::Vector { dim: d };
        let arch = ArchSpec::parse(&text).unwrap().build(shape).unwrap();
        let x = vectors(d, 9);
        let xs: Vec<f64> = (0..9).flat_map(|j| (0..d).map(move |i| (i, j))).map(|(i, j)| x[(i, j)]).collect();
        for method in [Method::Hermite, Method::Random] {
            let cfg = FeatureConfig::new(64, method, KernelKind::Ntk, seed);
            let map = match FeatureMap::<f64>::new(&arch, shape, &cfg) {
                Ok(m) => m,
                // `random` of a kernel-only activation, and the like.
                Err(e) => { prop_assert!(!e.to_string().is_empty()); continue; }
            };
            let whole = map.apply(&xs, Par::Seq, &mut |_, _| {}).unwrap();
            let threads = map.apply(&xs, Par::rayon(2), &mut |_, _| {}).unwrap();
            let tail = map.apply(&xs[4 * d..], Par::Seq, &mut |_, _| {}).unwrap();
            for j in 0..9 {
                for i in 0..map.dim() {
                    prop_assert!(whole[(i, j)].is_finite());
                    prop_assert_eq!(whole[(i, j)].to_bits(), threads[(i, j)].to_bits());
                    if j >= 4 {
                        prop_assert_eq!(whole[(i, j)].to_bits(), tail[(i, j - 4)].to_bits());
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Damaged strings (a character removed, a span duplicated, two
    /// characters swapped) parse or fail with a typed error; those that
    /// parse build or refuse their input with a typed error; never a panic.
    #[test]
    fn damaged_strings_are_typed_errors(text in vector_net(), at in 0usize..10_000, len in 1usize..12, kind in 0usize..3) {
        let chars: Vec<char> = text.chars().collect();
        let i = at % chars.len();
        let j = (i + len).min(chars.len());
        let damaged: String = match kind {
            0 => chars[..i].iter().chain(&chars[j..]).collect(),
            1 => chars[..j].iter().chain(&chars[i..]).collect(),
            _ => {
                let mut c = chars.clone();
                c.swap(i, j - 1);
                c.into_iter().collect()
            }
        };
        if let Ok(spec) = ArchSpec::parse(&damaged) {
            let shape = Shape::Vector { dim: 4 };
            if let Ok(arch) = spec.build(shape) {
                let x = vectors(4, 3);
                let _ = kernels(&arch, Input::Vectors(x.as_ref()), None, Par::Seq, &mut |_, _| {});
            }
        }
    }
}

/// The generators are not vacuous: most generated networks build for
/// their inputs and compute kernels (a generator whose networks all failed
/// to fit would make the properties above hold trivially).
#[test]
fn most_generated_networks_compute_kernels() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (h, w, c) = (6, 6, 2);
    let x = image_data(3, h, w, c);
    let v = vectors(5, 3);
    let (mut ok_img, mut ok_vec, total) = (0, 0, 40);
    for _ in 0..total {
        let text = image_net().new_tree(&mut runner).unwrap().current();
        let shape = Shape::Image { h, w, c };
        if let Ok(arch) = ArchSpec::parse(&text).unwrap().build(shape) {
            let input = Input::Images {
                data: &x,
                n: 3,
                h,
                w,
                c,
            };
            ok_img += usize::from(kernels(&arch, input, None, Par::Seq, &mut |_, _| {}).is_ok());
        }
        let text = vector_net().new_tree(&mut runner).unwrap().current();
        let arch = ArchSpec::parse(&text)
            .unwrap()
            .build(Shape::Vector { dim: 5 })
            .unwrap();
        let input = Input::Vectors(v.as_ref());
        ok_vec += usize::from(kernels(&arch, input, None, Par::Seq, &mut |_, _| {}).is_ok());
    }
    assert!(
        ok_img * 2 >= total,
        "only {ok_img} of {total} image networks computed"
    );
    assert!(
        ok_vec * 10 >= total * 9,
        "only {ok_vec} of {total} vector networks computed"
    );
}
