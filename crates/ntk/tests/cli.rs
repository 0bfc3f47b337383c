//! End-to-end: run the `ntk` binary on small files and compare with the
//! library; one test per error path of the issue.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use faer::{Mat, MatRef, Par};
use ntk_data::npy::{NpyData, read_npy};
use ntk_features::{ArchSpec, Input, Shape, kernels};
use ntk_solve::KernelRidge;
use ntk_solve::metrics::{accuracy, argmax, mse, one_hot};

mod common;
use common::{save, write_cifar};

const FC: &str =
    "Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5), Erf(a=1, b=2, c=0), Dense(W_std=1.5)";
const CONV: &str = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, \
    AvgPool(window_shape=(2, 2), strides=(2, 2)), GlobalAvgPool, Dense(W_std=1.414)";

/// A fresh directory per test.
fn dir(name: &str) -> PathBuf {
    common::fresh_dir("cli", name)
}

fn load(path: &Path) -> ntk_data::npy::NpyArray {
    read_npy(std::fs::File::open(path).unwrap(), "test").unwrap()
}

fn ntk(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ntk"));
    cmd.args(args);
    if !args.contains(&"--threads") {
        cmd.args(["--threads", "2"]);
    }
    cmd.output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = ntk(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fails with exit code 1 and one clear line on stderr, never a panic.
fn fails(args: &[&str], needle: &str) {
    let out = ntk(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("ntk: error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Deterministic, varied inputs (not on the sphere).
fn points(n: usize, d: usize, seed: f64) -> Vec<f64> {
    (0..n * d)
        .map(|k| ((k as f64 + seed) * 0.731).sin() * (1.0 + (k % 5) as f64 * 0.3))
        .collect()
}

/// A path as a `&'static str` argument (leaked: test processes are short).
fn s(p: &Path) -> &'static str {
    Box::leak(p.to_str().unwrap().to_owned().into_boxed_str())
}

fn input(shape: Shape, x: &[f64], n: usize) -> Input<'_> {
    match shape {
        Shape::Vector { dim } => Input::Vectors(MatRef::from_column_major_slice(x, dim, n)),
        Shape::Image { h, w, c } => Input::Images {
            data: x,
            n,
            h,
            w,
            c,
        },
    }
}

fn lib_kernels(
    arch: &str,
    shape: Shape,
    x1: &[f64],
    n1: usize,
    x2: Option<(&[f64], usize)>,
) -> ntk_features::Kernels {
    let a = ArchSpec::parse(arch).unwrap().build(shape).unwrap();
    let x2 = x2.map(|(x, n)| input(shape, x, n));
    kernels(&a, input(shape, x1, n1), x2, Par::Seq, &mut |_, _| {}).unwrap()
}

fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect()
}

#[test]
fn kernel_matches_the_library() {
    let d = dir("kernel");
    let (x1, x2) = (points(7, 5, 0.0), points(4, 5, 9.0));
    save(&d.join("x1.npy"), &[7, 5], &x1);
    // f32 and CSV inputs are read too; use values exact in f32.
    let x2f: Vec<f32> = x2.iter().map(|&v| v as f32).collect();
    save(&d.join("x2.npy"), &[4, 5], &x2f);
    let x2r: Vec<f64> = x2f.iter().map(|&v| f64::from(v)).collect();
    let (nngp, ntk_p) = (d.join("nngp.npy"), d.join("ntk.npy"));
    ok(&[
        "kernel",
        "--arch",
        FC,
        "--x1",
        s(&d.join("x1.npy")),
        "--x2",
        s(&d.join("x2.npy")),
        "--nngp",
        s(&nngp),
        "--ntk",
        s(&ntk_p),
        "--json",
        s(&d.join("k.json")),
    ]);
    let want = lib_kernels(FC, Shape::Vector { dim: 5 }, &x1, 7, Some((&x2r, 4)));
    let got = load(&nngp);
    assert_eq!(got.shape, vec![7, 4]);
    // Thread count does not change a single bit.
    assert_eq!(got.data, NpyData::F64(row_major(want.nngp.as_ref())));
    assert_eq!(
        load(&ntk_p).data,
        NpyData::F64(row_major(want.ntk.as_ref()))
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("k.json")).unwrap()).unwrap();
    assert_eq!(json["shape"], serde_json::json!([7, 4]));

    // Symmetric call from CSV with a header line.
    let mut csv = String::from("a,b,c,d,e\n");
    for r in x1.chunks(5) {
        csv.push_str(
            &r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        csv.push('\n');
    }
    std::fs::write(d.join("x1.csv"), csv).unwrap();
    let sym = d.join("sym.npy");
    ok(&[
        "kernel",
        "--arch",
        FC,
        "--x1",
        s(&d.join("x1.csv")),
        "--ntk",
        s(&sym),
    ]);
    let want = lib_kernels(FC, Shape::Vector { dim: 5 }, &x1, 7, None);
    assert_eq!(load(&sym).data, NpyData::F64(row_major(want.ntk.as_ref())));
}

#[test]
fn images_and_presets() {
    let d = dir("images");
    let x = points(3, 8 * 8 * 2, 1.0);
    save(&d.join("x.npy"), &[3, 8, 8, 2], &x);
    let residual = "Conv(filter_shape=(3, 3), padding=SAME), FanOut(2), parallel(Identity, serial(Relu, Conv(filter_shape=(3, 3), padding=SAME))), FanInSum, Relu, GlobalAvgPool, Dense";
    for arch in [CONV, "Myrtle5", "WideResnet(1, 1, 10)", residual] {
        let out = d.join("k.npy");
        ok(&[
            "kernel",
            "--arch",
            arch,
            "--x1",
            s(&d.join("x.npy")),
            "--ntk",
            s(&out),
            "--force",
        ]);
        let want = lib_kernels(arch, Shape::Image { h: 8, w: 8, c: 2 }, &x, 3, None);
        assert_eq!(load(&out).data, NpyData::F64(row_major(want.ntk.as_ref())));
    }
}

/// Writes a 3-class problem; returns (x_train, labels_train, x_test, labels_test).
fn classification(d: &Path) -> (Vec<f64>, Vec<usize>, Vec<f64>, Vec<usize>) {
    let (ntr, nte, dim) = (30, 12, 4);
    let label = |x: &[f64]| {
        if x[0] > 0.3 {
            0
        } else if x[1] > 0.0 {
            1
        } else {
            2
        }
    };
    let xtr = points(ntr, dim, 2.0);
    let xte = points(nte, dim, 50.0);
    let ltr: Vec<usize> = xtr.chunks(dim).map(label).collect();
    let lte: Vec<usize> = xte.chunks(dim).map(label).collect();
    save(&d.join("xtr.npy"), &[ntr, dim], &xtr);
    save(&d.join("xte.npy"), &[nte, dim], &xte);
    save(
        &d.join("ytr.npy"),
        &[ntr],
        &ltr.iter().map(|&l| l as i64).collect::<Vec<_>>(),
    );
    save(
        &d.join("yte.npy"),
        &[nte],
        &lte.iter().map(|&l| l as u8).collect::<Vec<_>>(),
    );
    (xtr, ltr, xte, lte)
}

/// `ntk eval --arch FC` on the files written by [`classification`], then `extra`.
fn eval_args(d: &Path, extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["eval", "--arch", FC];
    args.extend(data_args(d));
    args.extend(extra);
    args
}

/// `--x-train d/xtr.npy --y-train d/ytr.npy --x-test d/xte.npy --y-test d/yte.npy`.
fn data_args(d: &Path) -> Vec<&'static str> {
    [
        ("--x-train", "xtr.npy"),
        ("--y-train", "ytr.npy"),
        ("--x-test", "xte.npy"),
        ("--y-test", "yte.npy"),
    ]
    .into_iter()
    .flat_map(|(flag, file)| [flag, s(&d.join(file))])
    .collect()
}

#[test]
fn eval_classify_matches_the_library() {
    let d = dir("eval");
    let (xtr, ltr, xte, lte) = classification(&d);
    let json = d.join("r.json");
    let table = ok(&eval_args(
        &d,
        &["--lambda", "0.01", "--kernel", "nngp", "--json", s(&json)],
    ));
    assert!(table.contains("accuracy"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let shape = Shape::Vector { dim: 4 };
    let ktr = lib_kernels(FC, shape, &xtr, 30, None);
    let kx = lib_kernels(FC, shape, &xtr, 30, Some((&xte, 12)));
    let model =
        KernelRidge::fit(ktr.nngp.as_ref(), one_hot(&ltr, 3).unwrap().as_ref(), 0.01).unwrap();
    let acc = accuracy(model.predict(kx.nngp.as_ref()).unwrap().as_ref(), &lte).unwrap();
    assert_eq!(r["accuracy"].as_f64().unwrap(), acc);
    assert!((0.0..=1.0).contains(&acc));
    assert_eq!(r["lambda"].as_f64().unwrap(), 0.01);
    assert_eq!(r["kernel"], "nngp");
    assert!(r["timings_s"]["total"].as_f64().unwrap() >= 0.0);
    assert!(
        r["architecture"]
            .as_str()
            .unwrap()
            .starts_with("Dense(W_std=1.5")
    );
}

#[test]
fn lambda_grid_uses_a_validation_split_of_the_training_set() {
    let d = dir("grid");
    classification(&d);
    let json = d.join("r.json");
    let args = eval_args(
        &d,
        &[
            "--lambda-grid",
            "1e-6,1e-3,1,1000",
            "--val-fraction",
            "0.25",
            "--seed",
            "3",
            "--json",
            s(&json),
        ],
    );
    ok(&args);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let sel = &r["lambda_selection"];
    assert_eq!(sel["n_validation"], 8); // round(0.25 · 30)
    assert_eq!(sel["n_fit"], 22);
    assert_eq!(sel["scores"].as_array().unwrap().len(), 4);
    let lambda = r["lambda"].as_f64().unwrap();
    assert!([1e-6, 1e-3, 1.0, 1000.0].contains(&lambda));
    // The chosen λ has the best validation score.
    let best = sel["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["score"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let chosen = sel["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["lambda"].as_f64() == Some(lambda))
        .unwrap();
    assert_eq!(chosen["score"].as_f64().unwrap(), best);
    // Same seed, same choice and same JSON numbers.
    let json2 = d.join("r2.json");
    let mut again = args.to_vec();
    *again.last_mut().unwrap() = s(&json2);
    ok(&again);
    let r2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json2).unwrap()).unwrap();
    assert_eq!(r2["lambda_selection"], r["lambda_selection"]);
    assert_eq!(r2["accuracy"], r["accuracy"]);
}

#[test]
fn eval_regress_and_fit_predict_agree_with_the_library() {
    let d = dir("regress");
    let (ntr, nte, dim) = (25, 9, 3);
    let xtr = points(ntr, dim, 4.0);
    let xte = points(nte, dim, 70.0);
    let f = |x: &[f64]| [x[0] * x[1] + 0.5, x[2].sin()];
    let ytr: Vec<f64> = xtr.chunks(dim).flat_map(f).collect();
    let yte: Vec<f64> = xte.chunks(dim).flat_map(f).collect();
    save(&d.join("xtr.npy"), &[ntr, dim], &xtr);
    save(&d.join("xte.npy"), &[nte, dim], &xte);
    save(&d.join("ytr.npy"), &[ntr, 2], &ytr);
    save(&d.join("yte.npy"), &[nte, 2], &yte);
    let train = [
        "--arch",
        FC,
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--task",
        "regress",
        "--lambda",
        "0.001",
    ];
    let json = d.join("r.json");
    let mut eval = vec!["eval"];
    eval.extend(train);
    eval.extend([
        "--x-test",
        s(&d.join("xte.npy")),
        "--y-test",
        s(&d.join("yte.npy")),
        "--json",
        s(&json),
    ]);
    ok(&eval);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let shape = Shape::Vector { dim };
    let ktr = lib_kernels(FC, shape, &xtr, ntr, None);
    let kx = lib_kernels(FC, shape, &xtr, ntr, Some((&xte, nte)));
    let y = Mat::from_fn(2, ntr, |i, j| ytr[j * 2 + i]);
    let model = KernelRidge::fit(ktr.ntk.as_ref(), y.as_ref(), 0.001).unwrap();
    let pred = model.predict(kx.ntk.as_ref()).unwrap();
    let truth = Mat::from_fn(2, nte, |i, j| yte[j * 2 + i]);
    let m = mse(pred.as_ref(), truth.as_ref()).unwrap();
    assert_eq!(r["mse"].as_f64().unwrap(), m);
    assert_eq!(r["rmse"].as_f64().unwrap(), m.sqrt());

    // fit + predict: the same numbers in two steps.
    let model_path = d.join("m.ntkmodel");
    let mut fit = vec!["fit"];
    fit.extend(train);
    fit.extend(["--model", s(&model_path)]);
    ok(&fit);
    let out = d.join("pred.npy");
    ok(&[
        "predict",
        "--model",
        s(&model_path),
        "--x",
        s(&d.join("xte.npy")),
        "--out",
        s(&out),
    ]);
    let got = load(&out);
    assert_eq!(got.shape, vec![nte, 2]);
    assert_eq!(
        got.data,
        NpyData::F64(
            (0..nte)
                .flat_map(|j| [pred[(0, j)], pred[(1, j)]])
                .collect()
        )
    );
}

#[test]
fn whole_number_float_labels_are_labels() {
    // `np.loadtxt` and CSV readers give labels as floats: floats with whole
    // values make the same model, byte for byte, as the integer labels
    // (reading every float label as 0, tried, fails this test; it changes the
    // predictions), and a non-whole float is refused.
    let d = dir("float_labels");
    let (_, ltr, _, _) = classification(&d);
    save(
        &d.join("ytr_f64.npy"),
        &[ltr.len()],
        &ltr.iter().map(|&l| l as f64).collect::<Vec<_>>(),
    );
    save(
        &d.join("ytr_f32.npy"),
        &[ltr.len()],
        &ltr.iter().map(|&l| l as f32).collect::<Vec<_>>(),
    );
    // `ntk fit` on the training labels of `labels.npy`.
    let fit = |labels: &str| -> Vec<&'static str> {
        vec![
            "fit",
            "--arch",
            FC,
            "--x-train",
            s(&d.join("xtr.npy")),
            "--y-train",
            s(&d.join(format!("{labels}.npy"))),
            "--lambda",
            "0.1",
            "--model",
            s(&d.join(format!("{labels}.ntkmodel"))),
        ]
    };
    let predict = |labels: &str| -> Vec<u8> {
        let out = d.join(format!("{labels}_pred.npy"));
        ok(&fit(labels));
        ok(&[
            "predict",
            "--model",
            s(&d.join(format!("{labels}.ntkmodel"))),
            "--x",
            s(&d.join("xte.npy")),
            "--out",
            s(&out),
        ]);
        std::fs::read(out).unwrap()
    };
    let want = predict("ytr");
    assert_eq!(predict("ytr_f64"), want);
    assert_eq!(predict("ytr_f32"), want);
    let mut half = ltr.iter().map(|&l| l as f64).collect::<Vec<_>>();
    half[4] = 1.5;
    save(&d.join("ytr_half.npy"), &[ltr.len()], &half);
    fails(
        &fit("ytr_half"),
        "whole numbers >= 0 (an integer dtype, or floats with whole values), found 1.5",
    );
    // Class names in a CSV (the first row reads as a header): a message
    // that says what to do, naming the cell.
    let names: String = ltr
        .iter()
        .map(|&l| if l == 0 { "cat\n" } else { "dog\n" })
        .collect();
    std::fs::write(d.join("ytr_names.csv"), names).unwrap();
    fails(
        &[
            "fit",
            "--arch",
            FC,
            "--x-train",
            s(&d.join("xtr.npy")),
            "--y-train",
            s(&d.join("ytr_names.csv")),
            "--lambda",
            "0.1",
            "--model",
            s(&d.join("names.ntkmodel")),
        ],
        "is not a number; labels must be whole numbers 0, 1, 2, … (map class names to integers first)",
    );
}

#[test]
fn fit_predict_classify_gives_labels() {
    let d = dir("fitpredict");
    let (xtr, ltr, xte, _) = classification(&d);
    let model_path = d.join("m.ntkmodel");
    ok(&[
        "fit",
        "--arch",
        FC,
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--lambda",
        "0.1",
        "--model",
        s(&model_path),
    ]);
    let out = d.join("labels.npy");
    ok(&[
        "predict",
        "--model",
        s(&model_path),
        "--x",
        s(&d.join("xte.npy")),
        "--out",
        s(&out),
    ]);
    let shape = Shape::Vector { dim: 4 };
    let ktr = lib_kernels(FC, shape, &xtr, 30, None);
    let kx = lib_kernels(FC, shape, &xtr, 30, Some((&xte, 12)));
    let pred = KernelRidge::fit(ktr.ntk.as_ref(), one_hot(&ltr, 3).unwrap().as_ref(), 0.1)
        .unwrap()
        .predict(kx.ntk.as_ref())
        .unwrap();
    let want: Vec<i64> = argmax(pred.as_ref())
        .unwrap()
        .into_iter()
        .map(|l| l as i64)
        .collect();
    assert_eq!(load(&out).data, NpyData::I64(want));
    // Damaged model files are refused with a clear message.
    let bytes = std::fs::read(&model_path).unwrap();
    let cases: [(&str, &[u8], &str); 2] = [
        ("bad.ntkmodel", &bytes[..bytes.len() - 9], "expected"),
        ("junk.ntkmodel", b"hello", "not a valid ntk model"),
    ];
    for (name, content, needle) in cases {
        std::fs::write(d.join(name), content).unwrap();
        predict_fails(&d, name, needle);
    }
}

#[test]
fn arch_prints_layers_and_explains_errors() {
    let out = ok(&["arch", CONV, "--input-shape", "8,8,3"]);
    assert!(
        out.contains("GlobalAvgPool") && out.contains("4x4 positions"),
        "{out}"
    );
    let out = ok(&["arch", "Myrtle7", "--input-shape", "32,32,3"]);
    assert_eq!(out.matches("Conv(").count(), 6);
    fails(&["arch", "Dense(W_std=1.5), Rellu"], "column 19");
    fails(&["arch", "Dense(W_std=-1)"], "W_std");
    fails(&["arch", CONV, "--input-shape", "10"], "does not fit");
    // Branching networks: the branches indented under their parallel.
    let out = ok(&[
        "arch",
        "Dense, FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, Relu, Dense",
    ]);
    assert!(
        out.contains("| branch 2 of 2") && out.contains("      Relu"),
        "{out}"
    );
    fails(
        &[
            "arch",
            "Dense, FanOut(3), parallel(Identity, Dense), FanInSum",
        ],
        "column 19",
    );
    fails(&["arch", "WideResnet(1, 1, 10)"], "--input-shape");
}

#[test]
fn bad_files_are_refused() {
    let d = dir("badfiles");
    classification(&d);
    let xtr = d.join("xtr.npy");
    let kernel = |x1: &Path, needle: &str| {
        fails(
            &[
                "kernel",
                "--arch",
                FC,
                "--x1",
                s(x1),
                "--ntk",
                s(&d.join("out.npy")),
            ],
            needle,
        )
    };
    // Missing and unreadable.
    kernel(&d.join("missing.npy"), "missing.npy");
    // Not .npy by extension, not .npy by content.
    std::fs::write(d.join("x.txt"), "1,2\n").unwrap();
    kernel(&d.join("x.txt"), "not a .npy or .csv");
    std::fs::write(d.join("fake.npy"), "1,2\n3,4\n").unwrap();
    kernel(&d.join("fake.npy"), "magic");
    // Truncated data.
    let bytes = std::fs::read(&xtr).unwrap();
    std::fs::write(d.join("trunc.npy"), &bytes[..bytes.len() - 3]).unwrap();
    kernel(&d.join("trunc.npy"), "expected");
    // Wrong dtype (bool) and wrong rank.
    let mut b = bytes.clone();
    let at = b.windows(3).position(|w| w == b"<f8").unwrap();
    b[at..at + 3].copy_from_slice(b"|b1");
    std::fs::write(d.join("bool.npy"), &b).unwrap();
    kernel(&d.join("bool.npy"), "unsupported dtype");
    save(&d.join("rank3.npy"), &[2, 3, 5], &[0.5f64; 30]);
    kernel(&d.join("rank3.npy"), "(n, d) or (n, H, W, C)");
    // NaN and inf.
    let mut x = points(4, 3, 0.0);
    x[7] = f64::NAN;
    save(&d.join("nan.npy"), &[4, 3], &x);
    kernel(&d.join("nan.npy"), "non-finite");
    x[7] = f64::INFINITY;
    save(&d.join("inf.npy"), &[4, 3], &x);
    kernel(&d.join("inf.npy"), "non-finite");
    // Empty.
    save::<f64>(&d.join("empty.npy"), &[0, 3], &[]);
    kernel(&d.join("empty.npy"), "empty");
    // A Conv on vectors.
    fails(
        &[
            "kernel",
            "--arch",
            CONV,
            "--x1",
            s(&xtr),
            "--ntk",
            s(&d.join("out.npy")),
        ],
        "does not fit",
    );
    assert!(!d.join("out.npy").exists(), "nothing written on failure");
}

#[test]
fn mismatched_inputs_are_refused() {
    let d = dir("mismatch");
    classification(&d);
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let eval = |xtr: &str, ytr: &str, xte: &str, yte: &str, extra: &[&str], needle: &str| {
        let mut args = vec![
            "eval",
            "--arch",
            FC,
            "--x-train",
            xtr,
            "--y-train",
            ytr,
            "--x-test",
            xte,
            "--y-test",
            yte,
        ];
        args.extend(extra);
        if !extra.contains(&"--lambda-grid") {
            args.extend(["--lambda", "0.1"]);
        }
        fails(&args, needle);
    };
    // Sample counts: labels of the test set for the training inputs.
    eval(
        &p("xtr.npy"),
        &p("yte.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &[],
        "samples",
    );
    eval(
        &p("xtr.npy"),
        &p("ytr.npy"),
        &p("xte.npy"),
        &p("ytr.npy"),
        &[],
        "samples",
    );
    // Feature sizes.
    save(&d.join("x5.npy"), &[12, 5], &points(12, 5, 0.0));
    eval(
        &p("xtr.npy"),
        &p("ytr.npy"),
        &p("x5.npy"),
        &p("yte.npy"),
        &[],
        "shape",
    );
    fails(
        &[
            "kernel",
            "--arch",
            FC,
            "--x1",
            &p("xtr.npy"),
            "--x2",
            &p("x5.npy"),
            "--ntk",
            &p("o.npy"),
        ],
        "shape",
    );
    // Float labels for classification; negative labels.
    save(&d.join("yf.npy"), &[30], &[0.5f64; 30]);
    eval(
        &p("xtr.npy"),
        &p("yf.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &[],
        "integer dtype",
    );
    let mut huge = vec![0i64; 30];
    huge[3] = 1 << 40;
    save(&d.join("yhuge.npy"), &[30], &huge);
    eval(
        &p("xtr.npy"),
        &p("yhuge.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &[],
        "class indices",
    );
    save(&d.join("yneg.npy"), &[30], &[-1i32; 30]);
    eval(
        &p("xtr.npy"),
        &p("yneg.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &[],
        ">= 0",
    );
    // Invalid parameters.
    eval(
        &p("xtr.npy"),
        &p("ytr.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &["--lambda-grid", "0.1,-1"],
        "lambda-grid",
    );
    eval(
        &p("xtr.npy"),
        &p("ytr.npy"),
        &p("xte.npy"),
        &p("yte.npy"),
        &["--lambda-grid", "0.1", "--val-fraction", "1.5"],
        "val-fraction",
    );
    fails(
        &[
            "kernel",
            "--arch",
            "Dense(W_std=-1), Relu, Dense",
            "--x1",
            &p("xtr.npy"),
            "--ntk",
            &p("o.npy"),
        ],
        "W_std",
    );
    fails(
        &[
            "kernel",
            "--arch",
            FC,
            "--x1",
            &p("xtr.npy"),
            "--ntk",
            &p("o.npy"),
            "--threads",
            "0",
        ],
        "threads",
    );
}

#[test]
fn outputs_are_not_overwritten_without_force() {
    let d = dir("force");
    classification(&d);
    let out = d.join("k.npy");
    std::fs::write(&out, b"precious").unwrap();
    let args = [
        "kernel",
        "--arch",
        FC,
        "--x1",
        s(&d.join("xtr.npy")),
        "--ntk",
        s(&out),
    ];
    fails(&args, "--force");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let mut forced = args.to_vec();
    forced.push("--force");
    ok(&forced);
    assert_eq!(load(&out).shape, vec![30, 30]);
    // Also for JSON reports and models.
    let json = d.join("r.json");
    std::fs::write(&json, b"{}").unwrap();
    fails(
        &eval_args(&d, &["--lambda", "1", "--json", s(&json)]),
        "exists",
    );
    assert_eq!(std::fs::read(&json).unwrap(), b"{}");
}

#[test]
fn usage_errors_exit_with_code_2() {
    let out = ntk(&["kernel", "--arch", FC]);
    assert_eq!(out.status.code(), Some(2));
    let out = ntk(&[
        "eval",
        "--arch",
        FC,
        "--x-train",
        "a",
        "--y-train",
        "b",
        "--x-test",
        "c",
        "--y-test",
        "d",
    ]);
    assert_eq!(out.status.code(), Some(2), "a λ or a grid is required");
    assert!(ntk(&["--help"]).status.success());
}

/// Serves `body` once per connection on 127.0.0.1; returns the base URL.
fn serve(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.read(&mut [0u8; 4096]);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

#[test]
fn download_refuses_a_mirror_with_the_wrong_bytes_and_leaves_nothing() {
    let d = dir("download-bad");
    let url = serve(b"this is not the CIFAR-10 archive".to_vec());
    let out = ntk(&[
        "download",
        "cifar10",
        "--data-dir",
        s(&d),
        "--url",
        &format!("{url}/cifar-10-binary.tar.gz"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("checksum mismatch") && err.contains("deleted"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    // Unreachable: the URL and the manual placement are named.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/cifar-10-binary.tar.gz");
    let out = ntk(&["download", "cifar10", "--data-dir", s(&d), "--url", &dead]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&dead) && err.contains("place the file at"),
        "{err}"
    );
    fails(&["download", "mnist"], "unknown dataset");
    fails(&["download", "uci", "iris"], "unknown UCI dataset");
}

#[test]
fn download_uci_extracts_and_parses() {
    let d = dir("download-uci");
    let zip = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ntk-data/tests/fixtures/sample.zip"),
    )
    .unwrap();
    let url = serve(zip);
    let stdout = ok(&[
        "download",
        "uci",
        "workloads",
        "--data-dir",
        s(&d),
        "--url",
        &format!("{url}/datasets.zip"),
    ]);
    assert!(stdout.contains("2 samples, 1 features"), "{stdout}");
    assert!(
        d.join("uci/workloads/Range-Queries-Aggregates.csv")
            .is_file()
    );
    assert!(d.join("uci/workloads/workloads.sha256").is_file());
}

/// `ntk predict` with a damaged model file `name` in `d` fails with `needle`.
fn predict_fails(d: &Path, name: &str, needle: &str) {
    let args = [
        "predict",
        "--model",
        s(&d.join(name)),
        "--x",
        s(&d.join("xte.npy")),
        "--out",
        s(&d.join("o.npy")),
    ];
    fails(&args, needle);
}

/// `ntk predict` with `model` on `d/xte.npy`: the fraction of labels equal to `truth`.
fn predicted_accuracy(d: &Path, model: &Path, truth: &[usize]) -> f64 {
    let out = d.join("labels.npy");
    ok(&[
        "predict",
        "--model",
        s(model),
        "--x",
        s(&d.join("xte.npy")),
        "--out",
        s(&out),
    ]);
    let NpyData::I64(labels) = load(&out).data else {
        panic!("int64 labels")
    };
    let hits = labels
        .iter()
        .zip(truth)
        .filter(|(p, l)| **p == **l as i64)
        .count();
    hits as f64 / truth.len() as f64
}

#[test]
fn features_match_the_library_and_eval_fit_predict_agree() {
    use ntk_features::{FeatureConfig, FeatureMap, KernelKind, Method};
    let d = dir("features");
    let (xtr, _, _, lte) = classification(&d);
    let z_path = d.join("z.npy");
    let json = d.join("z.json");
    ok(&[
        "features",
        "--arch",
        FC,
        "--x",
        s(&d.join("xtr.npy")),
        "--dim",
        "256",
        "--dtype",
        "f64",
        "--seed",
        "7",
        "--check",
        "8",
        "--out",
        s(&z_path),
        "--json",
        s(&json),
    ]);
    // The file holds the library's features, bit for bit.
    let arch = ArchSpec::parse(FC)
        .unwrap()
        .build(Shape::Vector { dim: 4 })
        .unwrap();
    let cfg = FeatureConfig::new(256, Method::Hermite, KernelKind::Ntk, 7);
    let map = FeatureMap::<f64>::new(&arch, Shape::Vector { dim: 4 }, &cfg).unwrap();
    let z = map.apply(&xtr, Par::Seq, &mut |_, _| {}).unwrap();
    let a = load(&z_path);
    assert_eq!(a.shape, vec![30, map.dim()]);
    assert_eq!(a.data, NpyData::F64(row_major(z.transpose())));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let err = summary["check"]["relative_frobenius_error"]
        .as_f64()
        .unwrap();
    assert!(err.is_finite() && err > 0.0 && err < 1.0, "{summary}");
    assert_eq!(summary["check"]["samples"], 8);
    // eval --features reports an accuracy; fit + predict reproduce its labels.
    let r = d.join("r.json");
    ok(&eval_args(
        &d,
        &["--features", "256", "--lambda", "0.01", "--json", s(&r)],
    ));
    let res: serde_json::Value = serde_json::from_slice(&std::fs::read(&r).unwrap()).unwrap();
    assert_eq!(res["backend"]["kind"], "features");
    let acc = res["accuracy"].as_f64().unwrap();
    let model = d.join("m.ntkmodel");
    ok(&[
        "fit",
        "--arch",
        FC,
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--features",
        "256",
        "--lambda",
        "0.01",
        "--model",
        s(&model),
    ]);
    assert_eq!(predicted_accuracy(&d, &model, &lte), acc);
    // A damaged feature header is refused.
    let mut bytes = std::fs::read(&model).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"\"hermite\"")
        .expect("the method in the header");
    bytes[at + 1..at + 8].copy_from_slice(b"hermitx"); // same length
    std::fs::write(d.join("bad.ntkmodel"), &bytes).unwrap();
    predict_fails(&d, "bad.ntkmodel", "feature method");
}

/// `--polynomial data`: `ntk features` fits ntksketch's polynomials on the
/// input (all 30 samples here, fewer than 256) exactly as the library does;
/// `fit` stores them in the model and `predict` rebuilds the same map.
#[test]
fn data_polynomials_are_fitted_on_the_input_and_travel_with_the_model() {
    use ntk_features::{FeatureConfig, FeatureMap, KernelKind, Method};
    const RELU: &str =
        "Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5), Relu, Dense(W_std=1.5)";
    let d = dir("data_polynomials");
    let (xtr, _, _, lte) = classification(&d);
    let z_path = d.join("z.npy");
    let common = [
        "--method",
        "ntksketch",
        "--polynomial",
        "data",
        "--degree",
        "2",
    ];
    let mut args = vec![
        "features",
        "--arch",
        RELU,
        "--x",
        s(&d.join("xtr.npy")),
        "--dim",
        "128",
        "--dtype",
        "f64",
        "--seed",
        "3",
        "--out",
        s(&z_path),
    ];
    args.extend(common);
    ok(&args);
    let arch = ArchSpec::parse(RELU)
        .unwrap()
        .build(Shape::Vector { dim: 4 })
        .unwrap();
    let mut cfg = FeatureConfig::new(128, Method::NtkSketch, KernelKind::Ntk, 3);
    cfg.degree = Some(2);
    cfg.fit_polynomials(&arch, MatRef::from_column_major_slice(&xtr, 4, 30))
        .unwrap();
    let map = FeatureMap::<f64>::new(&arch, Shape::Vector { dim: 4 }, &cfg).unwrap();
    let z = map.apply(&xtr, Par::Seq, &mut |_, _| {}).unwrap();
    assert_eq!(load(&z_path).data, NpyData::F64(row_major(z.transpose())));
    // eval and fit + predict agree, so predict rebuilt the fitted map.
    let r = d.join("r.json");
    let mut args = vec!["eval", "--arch", RELU];
    args.extend(data_args(&d));
    args.extend(["--features", "128", "--lambda", "0.01", "--json", s(&r)]);
    args.extend(common);
    ok(&args);
    let acc = json_of(&r)["accuracy"].as_f64().unwrap();
    let model = d.join("m.ntkmodel");
    let mut args = vec![
        "fit",
        "--arch",
        RELU,
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--features",
        "128",
        "--lambda",
        "0.01",
        "--model",
        s(&model),
    ];
    args.extend(common);
    ok(&args);
    assert_eq!(predicted_accuracy(&d, &model, &lte), acc);
    // A damaged coefficient list is refused, not silently refitted.
    let bytes = std::fs::read(&model).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"\"kappa0\"")
        .expect("the fitted polynomials in the header");
    let mut bad = bytes.clone();
    bad[at + 1..at + 7].copy_from_slice(b"kappaX");
    std::fs::write(d.join("bad.ntkmodel"), &bad).unwrap();
    predict_fails(&d, "bad.ntkmodel", "kappa0");
    // Images have no data fit.
    save(&d.join("img.npy"), &[2, 3, 3, 1], &[0.5f64; 18]);
    fails(
        &[
            "features",
            "--arch",
            "Conv(filter_shape=(2, 2)), Relu, Flatten, Dense",
            "--x",
            s(&d.join("img.npy")),
            "--dim",
            "64",
            "--out",
            s(&d.join("zi.npy")),
            "--method",
            "ntksketch",
            "--polynomial",
            "data",
        ],
        "vector inputs",
    );
}

#[test]
fn feature_errors_are_one_line() {
    let d = dir("feature_errors");
    classification(&d);
    let x = s(&d.join("xtr.npy"));
    let out = s(&d.join("z.npy"));
    let base = |extra: &[&'static str]| {
        let mut a = vec!["features", "--arch", FC, "--x", x, "--out", out];
        a.extend_from_slice(extra);
        a
    };
    fails(&base(&["--dim", "0"]), "dim");
    fails(
        &base(&["--dim", "64", "--method", "magic"]),
        "unknown method",
    );
    fails(&base(&["--dim", "64", "--degree", "0"]), "degree");
    fails(
        &[
            "features",
            "--arch",
            "Dense, ExpNormalized, Dense",
            "--x",
            x,
            "--out",
            out,
            "--dim",
            "64",
            "--method",
            "random",
        ],
        "use method hermite",
    );
    assert!(!d.join("z.npy").exists(), "nothing is written on error");
    // Zero inputs without biases: a zero kernel, whose check has no relative
    // error; the features are still written and the command succeeds.
    save(&d.join("zeros.npy"), &[5, 4], &[0.0f64; 20]);
    ok(&[
        "features",
        "--arch",
        "Dense, Relu, Dense",
        "--x",
        s(&d.join("zeros.npy")),
        "--dim",
        "64",
        "--out",
        out,
    ]);
    assert!(d.join("z.npy").exists());
}

#[test]
fn models_with_an_unknown_kernel_or_nan_coefficients_are_refused() {
    // It used to be read as an NTK model.
    let d = dir("unknown_kernel");
    classification(&d);
    let model = d.join("m.ntkmodel");
    ok(&[
        "fit",
        "--arch",
        FC,
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--lambda",
        "0.1",
        "--model",
        s(&model),
    ]);
    let mut bytes = std::fs::read(&model).unwrap();
    let key = b"\"kernel\":\"ntk\"";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the kernel in the header");
    bytes[at + 10..at + 13].copy_from_slice(b"rbf"); // same length
    std::fs::write(d.join("bad.ntkmodel"), &bytes).unwrap();
    predict_fails(&d, "bad.ntkmodel", "unknown kernel 'rbf'");
    // The coefficients are the file's last values: a NaN there is refused
    // (it used to flow into the predictions).
    let mut bytes = std::fs::read(&model).unwrap();
    let len = bytes.len();
    bytes[len - 8..].copy_from_slice(&f64::NAN.to_le_bytes());
    std::fs::write(d.join("nan.ntkmodel"), &bytes).unwrap();
    predict_fails(&d, "nan.ntkmodel", "non-finite coefficients");
}

#[test]
fn an_exact_kernel_that_cannot_fit_is_refused_before_any_work() {
    // 10⁵ points: the two 10⁵ × 10⁵ outputs alone need 160 GB.
    let d = dir("too_big");
    let n = 100_000;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.1).sin()).collect();
    save(&d.join("x.npy"), &[n, 1], &x);
    let out = d.join("k.npy");
    fails(
        &[
            "kernel",
            "--arch",
            "Dense, Relu, Dense",
            "--x1",
            s(&d.join("x.npy")),
            "--ntk",
            s(&out),
        ],
        "--features D",
    );
    assert!(!out.exists());
}

#[test]
fn features_do_not_depend_on_the_thread_count() {
    // 600 samples: several blocks of 256 and several rayon jobs each, so
    // the parallel split really differs between one and two threads.
    let d = dir("feature_threads");
    let (n, dim) = (600, 5);
    save(&d.join("x.npy"), &[n, dim], &points(n, dim, 3.0));
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = d.join(format!("z{threads}.npy"));
        ok(&[
            "features",
            "--arch",
            FC,
            "--x",
            s(&d.join("x.npy")),
            "--dim",
            "128",
            "--check",
            "0",
            "--threads",
            threads,
            "--out",
            s(&out),
        ]);
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1], "the bytes differ between 1 and 2 threads");
}

#[test]
fn a_failed_feature_write_names_its_cause_and_leaves_nothing() {
    // The features stream to a writer thread: when the writer fails (here
    // the output's parent is a regular file), the command reports the
    // writer's error, not the stream's "writer stopped", and leaves no
    // file. 600 samples: the stream has blocks left when the writer stops.
    let d = dir("feature_write_fails");
    let (n, dim) = (600, 5);
    save(&d.join("x.npy"), &[n, dim], &points(n, dim, 3.0));
    std::fs::write(d.join("plain"), b"not a directory").unwrap();
    let out = d.join("plain").join("z.npy");
    fails(
        &[
            "features",
            "--arch",
            FC,
            "--x",
            s(&d.join("x.npy")),
            "--dim",
            "128",
            "--check",
            "0",
            "--out",
            s(&out),
        ],
        "plain",
    );
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `ntk features … | head -1`: the reader goes away before the summary
    // is printed. The features are already written; the command must still
    // succeed, never panic with "failed printing to stdout".
    let d = dir("closed_stdout");
    let (n, dim) = (300, 5);
    save(&d.join("x.npy"), &[n, dim], &points(n, dim, 3.0));
    let out = d.join("z.npy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ntk"))
        .args([
            "features",
            "--arch",
            FC,
            "--x",
            s(&d.join("x.npy")),
            "--dim",
            "64",
        ])
        .args(["--check", "0", "--threads", "2", "--out", s(&out)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success() && !err.contains("panicked"), "{err}");
    assert!(out.exists());
}

#[test]
fn eval_with_diag_reg_and_training_time_follows_neural_tangents_conventions() {
    let d = dir("time");
    let (ntr, nte, dim) = (20, 7, 3);
    let xtr = points(ntr, dim, 9.0);
    let xte = points(nte, dim, 40.0);
    let ytr: Vec<f64> = xtr.chunks(dim).map(|x| x[0] - x[2] * x[1]).collect();
    let yte: Vec<f64> = xte.chunks(dim).map(|x| x[0] - x[2] * x[1]).collect();
    save(&d.join("xtr.npy"), &[ntr, dim], &xtr);
    save(&d.join("xte.npy"), &[nte, dim], &xte);
    save(&d.join("ytr.npy"), &[ntr], &ytr);
    save(&d.join("yte.npy"), &[nte], &yte);
    let (xtr_p, ytr_p, xte_p, yte_p) = (
        d.join("xtr.npy"),
        d.join("ytr.npy"),
        d.join("xte.npy"),
        d.join("yte.npy"),
    );
    let base = |extra: &[&'static str]| -> Vec<&str> {
        let mut args = vec![
            "eval",
            "--arch",
            FC,
            "--x-train",
            s(&xtr_p),
            "--y-train",
            s(&ytr_p),
            "--task",
            "regress",
            "--x-test",
            s(&xte_p),
            "--y-test",
            s(&yte_p),
        ];
        args.extend(extra);
        args
    };
    let run = |name: &str, extra: &[&'static str]| -> serde_json::Value {
        let json = d.join(format!("{name}.json"));
        let mut args = base(extra);
        args.extend(["--json", s(&json)]);
        ok(&args);
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
    };
    let shape = Shape::Vector { dim };
    let ktr = lib_kernels(FC, shape, &xtr, ntr, None);
    let kx = lib_kernels(FC, shape, &xtr, ntr, Some((&xte, nte)));
    let y = Mat::from_fn(1, ntr, |_, j| ytr[j]);
    let truth = Mat::from_fn(1, nte, |_, j| yte[j]);
    // --diag-reg R: λ = R·tr(K)/n, then kernel ridge.
    let r = run("diag", &["--diag-reg", "0.01"]);
    let want = ntk_solve::lambda_from_trace(ktr.ntk.as_ref(), 0.01).unwrap();
    let lambda = r["lambda"].as_f64().unwrap();
    // The trace is a sum of 20 diagonal entries computed on 2 threads here
    // and on one in `lib_kernels`: equal up to the rounding of that sum.
    assert!(
        (lambda - want).abs() <= 20.0 * f64::EPSILON * want,
        "{lambda} vs {want}"
    );
    let ridge = KernelRidge::fit(ktr.ntk.as_ref(), y.as_ref(), lambda).unwrap();
    let m = mse(
        ridge.predict(kx.ntk.as_ref()).unwrap().as_ref(),
        truth.as_ref(),
    )
    .unwrap();
    assert_eq!(r["mse"].as_f64().unwrap(), m);
    assert!(r["r2"].as_f64().unwrap() <= 1.0);
    // --time T: the gradient-descent ensemble's mean at T, from the library.
    let r = run(
        "t5",
        &["--lambda", "0.001", "--time", "5", "--learning-rate", "2"],
    );
    let e = ntk_solve::MseEnsemble::new(
        ktr.ntk.as_ref(),
        y.as_ref(),
        ntk_solve::DiagReg::Absolute(0.001),
        2.0,
    )
    .unwrap();
    let m5 = mse(
        e.mean(kx.ntk.as_ref(), 5.0).unwrap().as_ref(),
        truth.as_ref(),
    )
    .unwrap();
    assert_eq!(r["mse"].as_f64().unwrap(), m5);
    assert_eq!(r["solve"]["time"].as_f64(), Some(5.0));
    // An early stop is not the converged fit; --time inf is kernel ridge.
    let plain = run("plain", &["--lambda", "0.001"]);
    assert_ne!(plain["mse"], r["mse"]);
    let inf = run("inf", &["--lambda", "0.001", "--time", "inf"]);
    assert_eq!(inf["mse"], plain["mse"]);
    fails(
        &base(&["--lambda", "0.1", "--time=-1"]),
        "--time must be >= 0",
    );
}

#[test]
fn thread_count_at_a_size_where_the_work_is_split() {
    // 300 × 64 inputs: two 256-column blocks, GEMMs of 300 × 256 × 64 that
    // faer splits across threads, pairs spread over both workers.
    let d = dir("threads");
    let (n, dim) = (300, 64);
    let x = points(n, dim, 3.0);
    save(&d.join("x.npy"), &[n, dim], &x);
    let run = |threads: &str| {
        let out = d.join(format!("k{threads}.npy"));
        ok(&[
            "kernel",
            "--arch",
            FC,
            "--x1",
            s(&d.join("x.npy")),
            "--ntk",
            s(&out),
            "--threads",
            threads,
        ]);
        match load(&out).data {
            NpyData::F64(v) => v,
            other => panic!("{other:?}"),
        }
    };
    let (one, two) = (run("1"), run("2"));
    // The duals are evaluated per entry, so only the GEMMs could depend on
    // the thread count; at these shapes faer's per-entry sums do not, and
    // the kernels are bitwise equal. This pins it (the solvers are equal
    // across thread counts only to rounding: docs/ARCHITECTURE.md).
    assert_eq!(one, two);
}

fn json_of(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `--k-train` / `--k-test` (the files `ntk kernel` writes) give the same
/// λ choice, solve and score as computing the kernels inside `eval`: a
/// CNTK computed once serves every later fit.
#[test]
fn precomputed_kernels_give_what_eval_computes() {
    let d = dir("precomputed");
    classification(&d);
    let (ktr, kx) = (d.join("ktr.npy"), d.join("kx.npy"));
    ok(&[
        "kernel",
        "--arch",
        FC,
        "--x1",
        s(&d.join("xtr.npy")),
        "--ntk",
        s(&ktr),
    ]);
    ok(&[
        "kernel",
        "--arch",
        FC,
        "--x1",
        s(&d.join("xtr.npy")),
        "--x2",
        s(&d.join("xte.npy")),
        "--ntk",
        s(&kx),
    ]);
    let pre = |extra: &[&'static str], json: &Path| {
        let mut args = vec![
            "eval",
            "--k-train",
            s(&ktr),
            "--k-test",
            s(&kx),
            "--y-train",
            s(&d.join("ytr.npy")),
            "--y-test",
            s(&d.join("yte.npy")),
            "--json",
            s(json),
        ];
        args.extend(extra);
        ok(&args);
        json_of(json)
    };
    for (name, extra) in [
        ("given", &["--lambda", "0.01"][..]),
        ("grid", &["--lambda-grid", "1e-4,1e-2,1", "--seed", "5"][..]),
        (
            "folds",
            &[
                "--lambda-grid",
                "1e-4,1e-2,1",
                "--folds",
                "3",
                "--seed",
                "5",
            ][..],
        ),
        ("diag", &["--diag-reg", "0.1"][..]),
        ("time", &["--lambda", "0.01", "--time", "3"][..]),
    ] {
        let a = pre(extra, &d.join(format!("pre-{name}.json")));
        let json = d.join(format!("inline-{name}.json"));
        let mut args = eval_args(&d, extra);
        args.extend(["--json", s(&json)]);
        ok(&args);
        let b = json_of(&json);
        assert_eq!(a["backend"]["kind"], "precomputed", "{name}");
        for key in [
            "accuracy",
            "lambda",
            "lambda_selection",
            "n_train",
            "n_test",
        ] {
            assert_eq!(a[key], b[key], "{name}: {key}");
        }
    }
    // The leading blocks for --n-train / --n-test equal files cut to size.
    let a = pre(
        &["--lambda", "0.01", "--n-train", "20", "--n-test", "5"],
        &d.join("pre-n.json"),
    );
    let json = d.join("inline-n.json");
    let mut args = eval_args(
        &d,
        &["--lambda", "0.01", "--n-train", "20", "--n-test", "5"],
    );
    args.extend(["--json", s(&json)]);
    ok(&args);
    let b = json_of(&json);
    assert_eq!(
        (a["n_train"].as_u64(), a["n_test"].as_u64()),
        (Some(20), Some(5))
    );
    assert_eq!(a["accuracy"], b["accuracy"]);

    // Wrong files and combinations are named.
    let kt = d.join("kt.npy");
    let m = load(&kx);
    let NpyData::F64(v) = &m.data else {
        panic!("f64 kernel")
    };
    let (r, c) = (m.shape[0], m.shape[1]);
    let t: Vec<f64> = (0..c * r).map(|k| v[(k % r) * c + k / r]).collect();
    save(&kt, &[c, r], &t);
    let base = |k_test: &Path| {
        vec![
            "eval",
            "--k-train",
            s(&ktr),
            "--k-test",
            s(k_test),
            "--y-train",
            s(&d.join("ytr.npy")),
            "--y-test",
            s(&d.join("yte.npy")),
            "--lambda",
            "0.1",
        ]
    };
    fails(&base(&kt), "looks transposed");
    fails(
        &base(&ktr),
        "the test kernel must be (n_train, n_test) = (30, 12)",
    );
    let mut bad = vec![f64::NAN];
    bad.extend(&v[1..]);
    save(&d.join("knan.npy"), &[r, c], &bad);
    fails(
        &base(&d.join("knan.npy")),
        "non-finite kernel entry at (0, 0)",
    );
    // An asymmetric training kernel is refused, naming the worst pair; one
    // that is symmetric to float32 rounding (1e-7 relative) is accepted.
    let kt_load = load(&ktr);
    let NpyData::F64(kv) = &kt_load.data else {
        panic!("f64 kernel")
    };
    let nt = kt_load.shape[0];
    let mut asym = kv.clone();
    asym[2 * nt + 5] *= 1.5;
    save(&d.join("kasym.npy"), &[nt, nt], &asym);
    let with_train = |k_train: &Path| {
        let mut a = base(&kx);
        a[2] = s(k_train);
        a
    };
    fails(
        &with_train(&d.join("kasym.npy")),
        "the training kernel is not symmetric: K[2, 5]",
    );
    let mut near = kv.clone();
    near[2 * nt + 5] *= 1.0 + 1e-7;
    save(&d.join("knear.npy"), &[nt, nt], &near);
    ok(&with_train(&d.join("knear.npy")));
    let mut zca = base(&kx);
    zca.push("--standardize");
    fails(&zca, "with --k-train the kernels are given");
    let mut no_test = base(&kx);
    no_test.drain(3..5);
    fails(&no_test, "--k-train needs --k-test");
    fails(
        &[
            "fit",
            "--k-train",
            s(&ktr),
            "--y-train",
            s(&d.join("ytr.npy")),
            "--lambda",
            "1",
            "--model",
            s(&d.join("m")),
        ],
        "--k-train is for `ntk eval`",
    );
}

/// `--folds K` scores every λ by seeded K-fold cross-validation: the
/// scores equal the library's `cross_validate_kernel_ridge` on the same
/// folds of the same kernel.
#[test]
fn folds_choose_lambda_by_cross_validation_of_the_training_set() {
    let d = dir("folds");
    let (xtr, ltr, _, _) = classification(&d);
    let json = d.join("r.json");
    let mut args = eval_args(&d, &["--lambda-grid", "1e-6,1e-3,1,1000", "--folds", "4"]);
    args.extend(["--seed", "11", "--json", s(&json)]);
    ok(&args);
    let r = json_of(&json);
    let k = lib_kernels(FC, Shape::Vector { dim: 4 }, &xtr, 30, None);
    let folds = ntk_solve::select::kfold(30, 4, Some(11)).unwrap();
    let sel = ntk_solve::select::cross_validate_kernel_ridge(
        k.ntk.as_ref(),
        one_hot(&ltr, 3).unwrap().as_ref(),
        Some(&ltr),
        &folds,
        &[1e-6, 1e-3, 1.0, 1000.0],
        ntk_solve::metrics::Metric::Accuracy,
    )
    .unwrap();
    let got: Vec<(f64, f64)> = r["lambda_selection"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["lambda"].as_f64().unwrap(), v["score"].as_f64().unwrap()))
        .collect();
    // Accuracies are counts / fold sizes, means of four: exact in both runs
    // unless a prediction sits on a class boundary, which rounding of the
    // 2-thread kernel could flip; these inputs have none (same scores).
    assert_eq!(got, sel.scores);
    assert_eq!(r["lambda"].as_f64().unwrap(), sel.lambda);
    assert_eq!(r["lambda_selection"]["folds"], 4);
    let mut too_many = eval_args(&d, &["--lambda-grid", "1,2", "--folds", "31"]);
    too_many.push("--quiet");
    fails(
        &too_many,
        "--folds 31: the training set has only 30 samples",
    );
    fails(
        &eval_args(&d, &["--lambda-grid", "1,2", "--folds", "1"]),
        "--folds must be at least 2",
    );
}

/// `--standardize --normalize --zca REG` give what a run without flags
/// gives on files transformed by hand with `ntk_data::preprocess`
/// (statistics of the training inputs only); `ntk fit` stores
/// them, so `ntk predict` on raw inputs gives the bits of a model fitted
/// on transformed inputs and applied to transformed inputs.
#[test]
fn preprocessing_flags_use_training_statistics_and_travel_with_the_model() {
    use ntk_data::preprocess::{ChannelStats, Zca, normalize_samples};
    let d = dir("prep");
    let (mut xtr, _, mut xte, _) = classification(&d);
    // Offsets and scales per feature, so standardising matters.
    for x in [&mut xtr, &mut xte] {
        for (k, v) in x.iter_mut().enumerate() {
            *v = *v * (1.0 + (k % 4) as f64) + 3.0 * (k % 4) as f64;
        }
    }
    save(&d.join("xtr.npy"), &[30, 4], &xtr);
    save(&d.join("xte.npy"), &[12, 4], &xte);
    let stats = ChannelStats::fit(&xtr, 4).unwrap();
    let (mut ptr, mut pte) = (xtr.clone(), xte.clone());
    stats.standardize(&mut ptr).unwrap();
    stats.standardize(&mut pte).unwrap();
    normalize_samples(&mut ptr, 4).unwrap();
    normalize_samples(&mut pte, 4).unwrap();
    let zca = Zca::fit(&ptr, 4, 0.1).unwrap();
    zca.apply(&mut ptr).unwrap();
    zca.apply(&mut pte).unwrap();
    let p = d.join("p");
    std::fs::create_dir_all(&p).unwrap();
    save(&p.join("xtr.npy"), &[30, 4], &ptr);
    save(&p.join("xte.npy"), &[12, 4], &pte);
    for f in ["ytr.npy", "yte.npy"] {
        std::fs::copy(d.join(f), p.join(f)).unwrap();
    }
    let flags = ["--standardize", "--normalize", "--zca", "0.1"];
    for extra in [
        &["--lambda", "0.01"][..],
        &["--lambda", "0.01", "--features", "256"][..],
    ] {
        let (a, b) = (d.join("a.json"), d.join("b.json"));
        let mut with = eval_args(&d, extra);
        with.extend(flags);
        with.extend(["--json", s(&a), "--force"]);
        ok(&with);
        let mut by_hand = eval_args(&p, extra);
        by_hand.extend(["--json", s(&b), "--force"]);
        ok(&by_hand);
        let (a, b) = (json_of(&a), json_of(&b));
        assert_eq!(a["accuracy"], b["accuracy"], "{extra:?}");
        assert_eq!(a["preprocessing"]["zca"]["reg"], 0.1);
        assert_eq!(b["preprocessing"], serde_json::Value::Null);
    }
    // Through a model file, exact and features: bitwise the same scores.
    for extra in [&[][..], &["--features", "256"][..]] {
        let train = |root: &Path, prep: bool, model: &Path| {
            let mut args = vec![
                "fit",
                "--arch",
                FC,
                "--x-train",
                s(&root.join("xtr.npy")),
                "--y-train",
                s(&root.join("ytr.npy")),
                "--lambda",
                "0.01",
                "--model",
                s(model),
                "--force",
            ];
            args.extend(extra);
            if prep {
                args.extend(flags);
            }
            ok(&args);
        };
        let (ma, mb) = (d.join("a.model"), d.join("b.model"));
        train(&d, true, &ma);
        train(&p, false, &mb);
        let scores = |model: &Path, x: &Path, name: &str| {
            let (out, sc) = (
                d.join(format!("{name}.npy")),
                d.join(format!("{name}-s.npy")),
            );
            ok(&[
                "predict",
                "--model",
                s(model),
                "--x",
                s(x),
                "--out",
                s(&out),
                "--scores",
                s(&sc),
                "--force",
            ]);
            load(&sc).data
        };
        assert_eq!(
            scores(&ma, &d.join("xte.npy"), "a"),
            scores(&mb, &p.join("xte.npy"), "b"),
            "{extra:?}"
        );
    }
    // A constant test sample cannot be normalised: a named error.
    save(&d.join("flat.npy"), &[1, 4], &[2.0f64; 4]);
    save(&d.join("yflat.npy"), &[1], &[1i64]);
    let mut flat = vec!["eval", "--arch", FC];
    flat.extend([
        "--x-train",
        s(&d.join("xtr.npy")),
        "--y-train",
        s(&d.join("ytr.npy")),
        "--x-test",
        s(&d.join("flat.npy")),
        "--y-test",
        s(&d.join("yflat.npy")),
        "--lambda",
        "1",
        "--normalize",
    ]);
    fails(&flat, "is constant");
    fails(
        &eval_args(&d, &["--lambda", "1", "--zca=-1"]),
        "--zca must be finite and >= 0",
    );
}

/// `--cifar DIR` reads CIFAR-10's binary batches as the training and test
/// sets (the first --n-train / --n-test images): the same result as the
/// same images written to `.npy`; without DIR the data directory of `ntk
/// download` ($NTK_DATA_DIR).
#[test]
fn cifar_directory_is_an_input_of_eval_and_fit() {
    let d = dir("cifar-input");
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar(&data);
    let set = ntk_data::files::load_cifar10(&data).unwrap();
    let (ntr, nte) = (24, 6);
    let x = |s: &ntk_data::cifar::ImageSet, n: usize| -> Vec<f64> {
        s.data[..n * 3072].iter().map(|&v| f64::from(v)).collect()
    };
    let l = |s: &ntk_data::cifar::ImageSet, n: usize| -> Vec<i64> {
        s.labels[..n].iter().map(|&v| v as i64).collect()
    };
    save(&d.join("xtr.npy"), &[ntr, 32, 32, 3], &x(&set.train, ntr));
    save(&d.join("xte.npy"), &[nte, 32, 32, 3], &x(&set.test, nte));
    save(&d.join("ytr.npy"), &[ntr], &l(&set.train, ntr));
    save(&d.join("yte.npy"), &[nte], &l(&set.test, nte));
    let arch =
        "Conv(filter_shape=(3, 3), strides=(4, 4), padding=VALID), Relu, GlobalAvgPool, Dense()";
    let common = ["--arch", arch, "--lambda", "0.1", "--standardize"];
    let (a, b) = (d.join("a.json"), d.join("b.json"));
    let mut from_dir = vec![
        "eval",
        "--cifar",
        s(&data),
        "--n-train",
        "24",
        "--n-test",
        "6",
    ];
    from_dir.extend(common);
    from_dir.extend(["--json", s(&a)]);
    ok(&from_dir);
    let mut from_files = vec!["eval"];
    from_files.extend(data_args(&d));
    from_files.extend(common);
    from_files.extend(["--json", s(&b)]);
    ok(&from_files);
    let (a, b) = (json_of(&a), json_of(&b));
    assert_eq!(
        (a["n_train"].as_u64(), a["n_test"].as_u64()),
        (Some(24), Some(6))
    );
    assert_eq!(a["accuracy"], b["accuracy"]);
    // `--cifar` alone: the data directory from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_ntk"))
        .args([
            "fit",
            "--cifar",
            "--n-train",
            "12",
            "--arch",
            arch,
            "--lambda",
            "1",
            "--model",
        ])
        .arg(d.join("m.model"))
        .env("NTK_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = d.join("nothing-here");
    fails(
        &[
            "eval",
            "--cifar",
            s(&missing),
            "--arch",
            arch,
            "--lambda",
            "1",
        ],
        "run `ntk download cifar10`",
    );
    fails(
        &[
            "eval",
            "--cifar",
            s(&data),
            "--n-train",
            "12",
            "--arch",
            arch,
            "--lambda",
            "1",
            "--task",
            "regress",
        ],
        "CIFAR-10 has class labels",
    );
    fails(
        &[
            "eval",
            "--cifar",
            s(&data),
            "--n-train",
            "12",
            "--n-test",
            "2",
            "--arch",
            arch,
            "--lambda",
            "1",
            "--x-test",
            s(&d.join("xte.npy")),
        ],
        "--cifar gives the test set too",
    );
    fails(
        &[
            "eval",
            "--cifar",
            s(&data),
            "--n-train",
            "50001",
            "--arch",
            arch,
            "--lambda",
            "1",
        ],
        "--n-train 50001: the CIFAR-10 training set has only 50000 samples",
    );
}

/// An image map whose last layer is narrower than the requested D says so
/// beside the output (its width is the per-position budget after pooling),
/// and the JSON keeps both numbers.
#[test]
fn features_narrower_than_requested_are_explained() {
    let d = dir("narrow");
    let x = points(3, 8 * 8 * 2, 1.0);
    save(&d.join("x.npy"), &[3, 8, 8, 2], &x);
    let (out, json) = (d.join("z.npy"), d.join("z.json"));
    let table = ok(&[
        "features",
        "--arch",
        CONV,
        "--x",
        s(&d.join("x.npy")),
        "--dim",
        "256",
        "--inner-dim",
        "16",
        "--check",
        "0",
        "--out",
        s(&out),
        "--json",
        s(&json),
    ]);
    let r = json_of(&json);
    let got = r["dim"].as_u64().unwrap();
    assert!(got < 256, "{r}");
    assert_eq!(r["requested_dim"], 256);
    assert_eq!(load(&out).shape, vec![3, got as usize]);
    assert!(
        table.contains(&format!("{got} features, not the 256 requested"))
            && table.contains("--inner-dim M raises it"),
        "{table}"
    );
}

/// A residual network through every command: `kernel` and `features`
/// write the library's values bit for bit, `eval` on features and exact
/// kernels classifies, and a model file keeps the branching architecture
/// (`predict` rebuilds it from the stored string).
#[test]
fn branching_networks_through_every_command() {
    use ntk_features::{FeatureConfig, FeatureMap, KernelKind, Method};
    const RES: &str = "stax.Dense(64, W_std=1.5, b_std=0.1), stax.FanOut(2), \
        stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(64, W_std=1.3))), \
        stax.FanInSum(), stax.Relu(), stax.Dense(1, W_std=1.2)";
    let d = dir("branching");
    let (xtr, _, _, lte) = classification(&d);
    let shape = Shape::Vector { dim: 4 };
    let k_path = d.join("k.npy");
    ok(&[
        "kernel",
        "--arch",
        RES,
        "--x1",
        s(&d.join("xtr.npy")),
        "--ntk",
        s(&k_path),
    ]);
    let want = lib_kernels(RES, shape, &xtr, 30, None);
    assert_eq!(
        load(&k_path).data,
        NpyData::F64(row_major(want.ntk.as_ref()))
    );
    let z_path = d.join("z.npy");
    ok(&[
        "features",
        "--arch",
        RES,
        "--x",
        s(&d.join("xtr.npy")),
        "--dim",
        "256",
        "--dtype",
        "f64",
        "--seed",
        "3",
        "--out",
        s(&z_path),
    ]);
    let arch = ArchSpec::parse(RES).unwrap().build(shape).unwrap();
    let cfg = FeatureConfig::new(256, Method::Hermite, KernelKind::Ntk, 3);
    let map = FeatureMap::<f64>::new(&arch, shape, &cfg).unwrap();
    let z = map.apply(&xtr, Par::Seq, &mut |_, _| {}).unwrap();
    assert_eq!(load(&z_path).data, NpyData::F64(row_major(z.transpose())));
    // Exact and feature ridge classify the 3-class problem (chance: 1/3).
    for backend in [&[][..], &["--features", "512"][..]] {
        let r = d.join("r.json");
        let mut args = vec!["eval", "--arch", RES];
        args.extend(data_args(&d));
        args.extend(["--lambda", "0.01", "--json", s(&r), "--force"]);
        args.extend(backend);
        ok(&args);
        let res: serde_json::Value = serde_json::from_slice(&std::fs::read(&r).unwrap()).unwrap();
        assert!(res["accuracy"].as_f64().unwrap() > 0.6, "{res}");
    }
    let model = d.join("m.ntkmodel");
    let mut args = vec![
        "fit",
        "--arch",
        RES,
        "--lambda",
        "0.01",
        "--model",
        s(&model),
    ];
    args.extend(data_args(&d)[..4].iter().copied());
    ok(&args);
    assert!(predicted_accuracy(&d, &model, &lte) > 0.6);
}
