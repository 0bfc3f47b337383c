//! Architecture strings: stax names, defaults and positional order; the
//! canonical `Display` round-trips; errors name the column.

use dual_activations::{Activation, HermiteConvention, NumericalMethod};
use ntk_features::{ArchSpec, Architecture, FeatureError, Input, Layer, Padding, Shape, kernels};

fn layers(text: &str) -> Architecture {
    match ArchSpec::parse(text) {
        Ok(ArchSpec::Layers(a)) => a,
        other => panic!("{text}: {other:?}"),
    }
}

fn column(text: &str) -> usize {
    match ArchSpec::parse(text) {
        Err(FeatureError::Parse { column, .. }) => column,
        other => panic!("{text}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn the_issue_examples_parse() {
    let a = layers(
        "Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5), Erf(a=1, b=2, c=0), Dense(W_std=1.5)",
    );
    assert_eq!(a.layers().len(), 5);
    assert!(matches!(a.layers()[0], Layer::Dense { w_std: 1.5, b_std: Some(b) } if b == 0.1));
    assert!(matches!(a.layers()[2], Layer::Dense { b_std: None, .. }));
    assert!(matches!(
        a.layers()[3],
        Layer::Activation(Activation::Erf {
            a: 1.0,
            b: 2.0,
            c: 0.0
        })
    ));
    let a = layers(
        "Conv(filter_shape=(3, 3), strides=(1, 1), padding=SAME, W_std=1.414, b_std=None), Relu, \
         AvgPool(window_shape=(2, 2), strides=(2, 2), padding=VALID), GlobalAvgPool, Dense(W_std=1.414)",
    );
    assert!(matches!(
        a.layers()[0],
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.414,
            b_std: None
        }
    ));
    assert!(matches!(
        a.layers()[2],
        Layer::AvgPool {
            window: (2, 2),
            strides: (2, 2),
            padding: Padding::Valid
        }
    ));
    let a = layers("Dense, ElementwiseNumerical(fn=tanh, deg=25), Dense");
    assert!(matches!(
        &a.layers()[1],
        Layer::Activation(Activation::Numerical {
            method: NumericalMethod::GaussHermite { deg: 25 },
            ..
        })
    ));
    let a = layers("Dense, Polynomial(coef=[0.5, -1.0, 0.3]), Dense");
    assert!(
        matches!(&a.layers()[1], Layer::Activation(Activation::Polynomial { coef }) if coef == &[0.5, -1.0, 0.3])
    );
    for (name, depth) in [("Myrtle5", 5), ("Myrtle7", 7), ("Myrtle10", 10)] {
        let spec = ArchSpec::parse(name).unwrap();
        assert!(matches!(spec, ArchSpec::Myrtle { depth: d, .. } if d == depth));
        let built = spec.build(Shape::Image { h: 32, w: 32, c: 3 }).unwrap();
        let want =
            Architecture::myrtle(depth, 32, std::f64::consts::SQRT_2, None, Activation::Relu)
                .unwrap();
        assert_eq!(built.to_string(), want.to_string());
    }
}

#[test]
fn stax_defaults_and_positional_arguments() {
    // Conv and AvgPool default to VALID padding and unit strides, as stax.
    let a = layers("Conv(64, (3, 3)), Relu, AvgPool((2, 2)), Flatten, Dense(10, 2.0, 0.5)");
    assert!(matches!(
        a.layers()[0],
        Layer::Conv {
            filter: (3, 3),
            strides: (1, 1),
            padding: Padding::Valid,
            w_std: 1.0,
            b_std: None
        }
    ));
    assert!(matches!(
        a.layers()[2],
        Layer::AvgPool {
            strides: (1, 1),
            padding: Padding::Valid,
            ..
        }
    ));
    assert!(matches!(
        a.layers()[4],
        Layer::Dense {
            w_std: 2.0,
            b_std: Some(0.5)
        }
    ));
    let a = layers(
        "Dense, Gaussian, Dense, ExpNormalized(do_clip=True), Dense, Hermite(3), LayerNorm(axis=-1)",
    );
    assert!(matches!(
        a.layers()[1],
        Layer::Activation(Activation::Gaussian { a: 1.0, b: -1.0 })
    ));
    assert!(matches!(
        a.layers()[3],
        Layer::Activation(Activation::ExpNormalized {
            gamma: 1.0,
            shift: -1.0,
            do_clip: true
        })
    ));
    assert!(matches!(
        a.layers()[5],
        Layer::Activation(Activation::Hermite {
            degree: 3,
            convention: HermiteConvention::NeuralTangents
        })
    ));
    // Quoted enumerations and trailing commas, as Python would allow.
    layers("Conv(filter_shape=[2, 2], padding='SAME',), Relu,");
}

/// One table for both directions: what a user may write, and the canonical
/// string `Display` gives for the layer it means. Each input parses to a
/// layer whose canonical string is the second column, and that string parses
/// back to the same value (compared by `Debug`, which prints every field,
/// floats in their shortest round-trip form).
const LAYERS: &[(&str, &str)] = &[
    ("Dense(W_std=1.5, b_std=0.1)", "Dense(W_std=1.5, b_std=0.1)"),
    ("Dense(512)", "Dense(W_std=1.0, b_std=None)"),
    ("Identity", "Identity"),
    ("Relu", "Relu"),
    ("LeakyRelu(alpha=0.1)", "LeakyRelu(alpha=0.1)"),
    ("ABRelu(a=-0.5, b=2)", "ABRelu(a=-0.5, b=2.0)"),
    ("Abs", "Abs"),
    ("Sign", "Sign"),
    ("Erf(a=1.3, b=0.7, c=0.2)", "Erf(a=1.3, b=0.7, c=0.2)"),
    ("Sigmoid_like", "Sigmoid_like"),
    ("Gelu", "Gelu"),
    ("Sin(a=1.2, b=0.8, c=0.3)", "Sin(a=1.2, b=0.8, c=0.3)"),
    ("Cos", "Cos(a=1.0, b=1.0, c=0.0)"),
    ("Rbf(gamma=0.7)", "Rbf(gamma=0.7)"),
    ("Exp(a=0.5, b=0.6)", "Exp(a=0.5, b=0.6)"),
    ("Gaussian(a=1.5, b=-0.4)", "Gaussian(a=1.5, b=-0.4)"),
    (
        "ExpNormalized(gamma=1, shift=-1)",
        "ExpNormalized(gamma=1.0, shift=-1.0, do_clip=False)",
    ),
    ("Hermite(degree=2)", "Hermite(degree=2)"),
    (
        "Hermite(degree=3, convention=exact)",
        "Hermite(degree=3, convention=exact)",
    ),
    ("Monomial(degree=3)", "Monomial(degree=3)"),
    ("RectifiedMonomial(degree=2)", "RectifiedMonomial(degree=2)"),
    (
        "Polynomial(coef=[-0.1, 2.1, 0, 0.3])",
        "Polynomial(coef=[-0.1, 2.1, 0.0, 0.3])",
    ),
    ("Gabor", "Gabor"),
    (
        "ElementwiseNumerical(fn=tanh, deg=20)",
        "ElementwiseNumerical(fn=tanh, deg=20)",
    ),
    (
        "ElementwiseNumerical(fn=softplus, method=hermite_series, degree=16)",
        "ElementwiseNumerical(fn=softplus, method=hermite_series, degree=16)",
    ),
    (
        "ElementwiseNumerical(fn=gelu, method=adaptive, tol=1e-9)",
        "ElementwiseNumerical(fn=gelu, method=adaptive, tol=1e-9)",
    ),
    ("LayerNorm", "LayerNorm"),
    (
        "Conv(filter_shape=(3, 2), strides=(2, 1), padding=CIRCULAR, W_std=1.2, b_std=0.3)",
        "Conv(filter_shape=(3, 2), strides=(2, 1), padding=CIRCULAR, W_std=1.2, b_std=0.3)",
    ),
    (
        "Conv(64, (1, 1))",
        "Conv(filter_shape=(1, 1), strides=(1, 1), padding=VALID, W_std=1.0, b_std=None)",
    ),
    (
        "AvgPool(window_shape=(2, 2), strides=(1, 2), padding=SAME)",
        "AvgPool(window_shape=(2, 2), strides=(1, 2), padding=SAME)",
    ),
    ("GlobalAvgPool", "GlobalAvgPool"),
    ("Flatten", "Flatten"),
];

#[test]
fn every_layer_and_activation_round_trips() {
    // Activations need a Gaussian input, so every row follows a Dense.
    const DENSE: &str = "Dense(W_std=1.0, b_std=None)";
    let rows: Vec<(String, String)> = LAYERS
        .iter()
        .map(|(i, c)| (format!("Dense, {i}"), format!("{DENSE}, {c}")))
        .collect();
    for (input, canonical) in &rows {
        let a = layers(input);
        assert_eq!(&a.to_string(), canonical, "display of {input}");
        let b = layers(canonical);
        assert_eq!(
            format!("{:?}", b.layers()),
            format!("{:?}", a.layers()),
            "{canonical}"
        );
    }
    // A whole network: the canonical string of the list is the list of the
    // canonical strings, and it parses back to the same values.
    let input: Vec<&str> = rows.iter().map(|(i, _)| i.as_str()).collect();
    let canonical: Vec<&str> = rows.iter().map(|(_, c)| c.as_str()).collect();
    let all = layers(&input.join(", "));
    assert_eq!(all.to_string(), canonical.join(", "));
    let back = layers(&all.to_string());
    assert_eq!(
        format!("{:?}", back.layers()),
        format!("{:?}", all.layers())
    );
}

#[test]
fn a_user_closure_prints_but_the_parser_names_what_it_knows() {
    let f = dual_activations::registry::CustomFn::new(
        "my_act",
        |t: f64| t.tanh() * 0.5,
        |t: f64| 0.5 / t.cosh().powi(2),
    )
    .into_numerical();
    let a = Architecture::new(vec![
        Layer::Dense {
            w_std: 1.0,
            b_std: None,
        },
        Layer::Activation(Activation::Numerical {
            function: f,
            method: NumericalMethod::GaussHermite { deg: 25 },
        }),
        Layer::Dense {
            w_std: 1.0,
            b_std: None,
        },
    ])
    .unwrap();
    let text = a.to_string();
    assert!(text.contains("fn=my_act"), "{text}");
    match ArchSpec::parse(&text) {
        Err(ntk_features::FeatureError::Parse {
            expected, found, ..
        }) => {
            assert!(
                expected.contains("tanh") && found.contains("my_act"),
                "{expected} / {found}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parsed_and_built_architectures_give_the_same_kernels() {
    let parsed = layers("Dense(W_std=1.3, b_std=0.2), Erf(a=1, b=2, c=0), Dense(W_std=1.3)");
    let built = Architecture::new(vec![
        Layer::Dense {
            w_std: 1.3,
            b_std: Some(0.2),
        },
        Layer::Activation(Activation::Erf {
            a: 1.0,
            b: 2.0,
            c: 0.0,
        }),
        Layer::Dense {
            w_std: 1.3,
            b_std: None,
        },
    ])
    .unwrap();
    let x = faer::Mat::<f64>::from_fn(3, 4, |i, j| ((i * 4 + j) as f64 * 0.7).sin());
    let run = |a: &Architecture| {
        kernels(
            a,
            Input::Vectors(x.as_ref()),
            None,
            faer::Par::Seq,
            &mut |_, _| {},
        )
        .unwrap()
    };
    assert_eq!(run(&parsed), run(&built));
}

#[test]
fn errors_name_the_column() {
    assert_eq!(column("Dense, Relu, Dense("), 20);
    assert_eq!(column("Dense, Rellu"), 8);
    assert_eq!(column("Dense(W_std=abc)"), 13);
    assert_eq!(column("Dense(W_sd=1)"), 7);
    assert_eq!(column("Dense(W_std=1, W_std=2)"), 16);
    assert_eq!(column("Conv(padding=SAME)"), 1);
    assert_eq!(column("Conv(filter_shape=(3, 0))"), 23);
    assert_eq!(column("Conv(filter_shape=(3, 3, 3))"), 19);
    assert_eq!(column("Dense Relu"), 7);
    assert_eq!(column("Dense, ElementwiseNumerical(fn=nosuch)"), 32);
    assert_eq!(column("Conv(filter_shape=(3, 3), padding=FULL)"), 35);
    assert_eq!(column("Dense, LeakyRelu, Dense"), 8);
    assert_eq!(column("Dense(1e999)"), 7);
    assert_eq!(column(""), 1);
    assert_eq!(column("Dense, Myrtle5"), 8);
    assert_eq!(
        column("AvgPool(window_shape=(2, 2), normalize_edges=True)"),
        46
    );
    // Parses, but invalid: typed architecture errors.
    assert!(matches!(
        ArchSpec::parse("Dense(W_std=-1)"),
        Err(FeatureError::InvalidArchitecture { .. })
    ));
    assert!(matches!(
        ArchSpec::parse("Relu, Dense"),
        Err(FeatureError::InvalidArchitecture { .. })
    ));
    // Fits vectors or not.
    let conv = ArchSpec::parse("Conv(filter_shape=(3, 3)), Relu, Flatten, Dense").unwrap();
    assert!(matches!(
        conv.build(Shape::Vector { dim: 5 }),
        Err(FeatureError::ShapeMismatch { .. })
    ));
    let myrtle = ArchSpec::parse("Myrtle5").unwrap();
    assert!(matches!(
        myrtle.build(Shape::Vector { dim: 5 }),
        Err(FeatureError::ShapeMismatch { reason, .. }) if reason.contains("image inputs")
    ));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 10⁴ nested brackets would overflow the stack of a recursive parser.
    let deep = format!(
        "Polynomial(coef={}1{}), Dense",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = ntk_features::ArchSpec::parse(&format!("Dense, {deep}")).unwrap_err();
    let ntk_features::FeatureError::Parse {
        column, expected, ..
    } = e
    else {
        panic!("expected a parse error, got {e:?}")
    };
    assert!(expected.contains("nested brackets"), "{expected}");
    // The seventeenth bracket, after "Dense, Polynomial(coef=" (23 columns).
    assert_eq!(column, 24 + 16);
}

/// The column of a structural (branching) error.
fn branch_column(text: &str) -> (Option<usize>, String) {
    match ArchSpec::parse(text) {
        Err(FeatureError::Branching { column, reason, .. }) => (column, reason),
        other => panic!("{text}: expected a branching error, got {other:?}"),
    }
}

/// The exact kernels of a vector network on a few fixed inputs.
fn vector_kernels(arch: &Architecture) -> (Vec<f64>, Vec<f64>) {
    let x = faer::Mat::from_fn(4, 5, |i, j| ((i * 5 + j) as f64 * 0.61).sin());
    let k = kernels(
        arch,
        Input::Vectors(x.as_ref()),
        None,
        faer::Par::Seq,
        &mut |_, _| {},
    )
    .unwrap();
    let flat = |m: &faer::Mat<f64>| {
        (0..5)
            .flat_map(|i| (0..5).map(move |j| (i, j)))
            .map(|(i, j)| m[(i, j)])
            .collect()
    };
    (flat(&k.nngp), flat(&k.ntk))
}

#[test]
fn branching_networks_parse_and_round_trip() {
    // stax's spelling, pasted from Python, and the bare one mean the same
    // network; nested `serial` flattens; `Display` writes a form that
    // parses back to the same string and the same kernels.
    let python = layers(
        "stax.Dense(512, W_std=1.5), stax.FanOut(2), \
         stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(512, 1.3, 0.2))), \
         stax.FanInSum(), stax.Relu(), stax.Dense(1)",
    );
    let bare = layers(
        "Dense(W_std=1.5), FanOut(2), parallel(Identity, serial(Relu, Dense(W_std=1.3, b_std=0.2))), FanInSum, serial(Relu, serial(Dense))",
    );
    assert_eq!(python.to_string(), bare.to_string());
    assert_eq!(
        python.to_string(),
        "Dense(W_std=1.5, b_std=None), FanOut(2), parallel(Identity, serial(Relu, Dense(W_std=1.3, b_std=0.2))), FanInSum, Relu, Dense(W_std=1.0, b_std=None)"
    );
    assert_eq!(python.layers().len(), 6);
    assert!(python.is_branching());
    assert!(!layers("Dense, serial(Relu, Dense)").is_branching());
    // Indices are depth-first: the parallel, then its branches' layers.
    let names: Vec<&str> = python.walk().iter().map(|(_, l)| l.stax_name()).collect();
    assert_eq!(
        names,
        [
            "Dense", "FanOut", "parallel", "Identity", "Relu", "Dense", "FanInSum", "Relu", "Dense"
        ]
    );
    for text in [
        "Dense, FanOut(3), parallel(Dense(W_std=0.9), serial(Relu, Dense), serial(Erf, Dense)), FanInConcat, Dense, Relu, Dense",
        "Dense, FanOut(2), parallel(serial(Dense, FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum), serial()), FanInSum, Relu, Dense",
        "Dense, FanOut(1), parallel(serial(Gelu, Dense)), FanInSum, Gelu, Dense",
        "Dense, FanOut(2), FanInSum, Relu, Dense",
        "Dense, FanOut(2), parallel(Identity, Identity), FanInConcat, Dense, Relu, Dense",
    ] {
        let a = layers(text);
        let back = layers(&a.to_string());
        assert_eq!(back.to_string(), a.to_string(), "{text}");
        assert_eq!(vector_kernels(&a), vector_kernels(&back), "{text}");
    }
}

#[test]
fn branching_kernels_follow_stax_rules() {
    // A residual block whose branches are the same Dense on the same input
    // doubles it (FanInSum adds independent branches' kernels), the mean of
    // FanInConcat leaves it unchanged, and an Identity branch adds the
    // input kernel: closed forms of stax.branching, checked entry by entry.
    let one = vector_kernels(&layers(
        "Dense(W_std=1.3, b_std=0.2), Relu, Dense(W_std=0.8)",
    ));
    let sum = vector_kernels(&layers(
        "Dense(W_std=1.3, b_std=0.2), Relu, FanOut(2), parallel(Dense(W_std=0.8), Dense(W_std=0.8)), FanInSum",
    ));
    let concat = vector_kernels(&layers(
        "Dense(W_std=1.3, b_std=0.2), Relu, FanOut(2), parallel(Dense(W_std=0.8), Dense(W_std=0.8)), FanInConcat",
    ));
    let base = vector_kernels(&layers("Dense(W_std=1.3, b_std=0.2)"));
    let skip = vector_kernels(&layers(
        "Dense(W_std=1.3, b_std=0.2), FanOut(2), parallel(serial(Relu, Dense(W_std=0.8)), Identity), FanInSum",
    ));
    for i in 0..25 {
        // Sums of two terms and halves of sums: exact up to one rounding.
        let tol = |x: f64| 4.0 * f64::EPSILON * x.abs();
        assert!((sum.0[i] - 2.0 * one.0[i]).abs() <= tol(sum.0[i]));
        assert!((sum.1[i] - 2.0 * one.1[i]).abs() <= tol(sum.1[i]));
        assert!((concat.0[i] - one.0[i]).abs() <= tol(one.0[i]));
        assert!((concat.1[i] - one.1[i]).abs() <= tol(one.1[i]));
        assert!((skip.0[i] - (one.0[i] + base.0[i])).abs() <= tol(skip.0[i]));
        assert!((skip.1[i] - (one.1[i] + base.1[i])).abs() <= tol(skip.1[i]));
    }
}

#[test]
fn branching_errors_name_the_column() {
    // Branch counts, unjoined fan-outs, and single inputs to fan-ins.
    let (c, r) = branch_column("Dense, FanOut(3), parallel(Identity, Dense), FanInSum");
    assert_eq!(c, Some(19));
    assert!(r.contains("2 branch(es) for 3 input(s)"), "{r}");
    let (c, r) = branch_column("Dense, FanOut(2), parallel(Identity, Dense), Relu, Dense");
    assert_eq!(c, Some(46));
    assert!(r.contains("join them"), "{r}");
    let (c, r) = branch_column("Dense, FanOut(2), parallel(Identity, Dense)");
    assert_eq!(c, Some(8), "{r}");
    assert!(r.contains("unjoined"), "{r}");
    let (c, _) = branch_column("Dense, FanInSum, Dense");
    assert_eq!(c, Some(8));
    let (c, _) = branch_column("Dense, parallel(Dense, Dense), FanInSum");
    assert_eq!(c, Some(8));
    let (c, r) =
        branch_column("Dense, FanOut(2), parallel(serial(Dense, FanOut(2)), Dense), FanInSum");
    assert_eq!(c, Some(19));
    assert!(r.contains("inside the branch"), "{r}");
    // stax sums only Gaussian inputs: a branch ending in an activation.
    let (c, r) = branch_column("Dense, FanOut(2), parallel(Relu, Dense), FanInSum, Dense");
    assert_eq!(c, Some(42));
    assert!(r.contains("input 1"), "{r}");
    // A sum of the raw input (not Gaussian) and a Dense.
    let (c, _) = branch_column("FanOut(2), parallel(Identity, Dense), FanInSum, Dense");
    assert_eq!(c, Some(39));
    // Syntax: unclosed groups, bad counts, unsupported axes, presets inside.
    assert_eq!(column("Dense, parallel(Dense, Dense"), 29);
    assert_eq!(column("Dense, parallel()"), 8);
    assert_eq!(column("Dense, FanOut(0)"), 15);
    assert_eq!(column("Dense, FanOut(2.5)"), 15);
    assert_eq!(
        column("Dense, FanOut(2), parallel(Dense, Dense), FanInConcat(axis=0)"),
        60
    );
    assert_eq!(column("Dense, serial Relu"), 15);
    assert_eq!(column("Dense, serial(WideResnet(1))"), 15);
    assert_eq!(column("WideResnet(0)"), 1);
    // Branches of different spatial sizes meet at a FanInSum (the shape is
    // only known for an input: the column still names the layer).
    let a = layers(
        "Conv(filter_shape=(3, 3), padding=SAME), FanOut(2), parallel(Identity, Conv(filter_shape=(3, 3), strides=(2, 2), padding=SAME)), FanInSum, GlobalAvgPool, Dense",
    );
    match a.shapes(Shape::Image { h: 8, w: 8, c: 3 }) {
        Err(FeatureError::Branching { column, reason, .. }) => {
            assert_eq!(column, Some(130));
            assert!(reason.contains("(8, 8, 3), (4, 4, 3)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wide_resnet_is_the_readme_network() {
    // The preset, sized for 32x32 images, printed in full and parsed back:
    // the same string, with the README's structure (a 3x3 Conv, three
    // groups of `block_size` blocks, AvgPool over the 8x8 map, Flatten,
    // Dense(1, 0)).
    let spec = ArchSpec::parse("WideResnet(block_size=2, k=4, num_classes=10)").unwrap();
    let arch = spec.build(Shape::Image { h: 32, w: 32, c: 3 }).unwrap();
    let text = arch.to_string();
    assert_eq!(layers(&text).to_string(), text);
    assert_eq!(text.matches("FanOut(2)").count(), 6);
    assert_eq!(text.matches("parallel(").count(), 6);
    assert_eq!(text.matches(", Identity)").count(), 3);
    assert_eq!(text.matches("strides=(2, 2)").count(), 4);
    assert!(text.ends_with(
        "AvgPool(window_shape=(8, 8), strides=(8, 8), padding=VALID), Flatten, Dense(W_std=1.0, b_std=0.0)"
    ));
    let shapes = arch.shapes(Shape::Image { h: 32, w: 32, c: 3 }).unwrap();
    assert!(matches!(shapes.last(), Some(Shape::Vector { .. })));
    assert_eq!(shapes.len(), arch.walk().len());
    assert!(matches!(
        spec.build(Shape::Image { h: 10, w: 10, c: 3 }),
        Err(FeatureError::InvalidArchitecture { .. })
    ));
    assert!(matches!(
        spec.build(Shape::Vector { dim: 10 }),
        Err(FeatureError::ShapeMismatch { .. })
    ));
}

#[test]
fn deep_groups_are_an_error_not_a_stack_overflow() {
    // 10⁴ nested groups would overflow a recursive parser's stack; the
    // limit is the brackets' (16).
    let deep = format!(
        "Dense, {}Relu{}",
        "serial(".repeat(10_000),
        ")".repeat(10_000)
    );
    let e = ArchSpec::parse(&deep).unwrap_err();
    assert!(matches!(e, FeatureError::Parse { .. }), "{e}");
    assert!(e.to_string().contains("nested"), "{e}");
    // Within the limit, nesting is fine.
    let ok = format!(
        "Dense, {}Relu{}, Dense",
        "serial(".repeat(10),
        ")".repeat(10)
    );
    assert_eq!(layers(&ok).layers().len(), 3);
}
