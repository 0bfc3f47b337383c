//! Golden outputs of the `ntk` binary, recorded before the CLI and the
//! feature pipeline were reorganised (issue 30): the bytes of every `.npy`
//! and model file that `kernel`, `features`, `fit` and `predict` write, and
//! the JSON of `eval` without its timings, for the exact backend and every
//! feature method. A refactoring that moves code must reproduce them bit for
//! bit.
//!
//! The bytes depend on faer's GEMM kernels, chosen at run time by CPU
//! features; the file records the signature of the machine that wrote it
//! (`avx512f`, `avx2`, `fma`). On a machine with another signature the bytes
//! are not comparable, and the test checks only that every command succeeds
//! or fails as recorded, with the same message; the library's golden test
//! (`ntk-features/tests/golden.rs`) compares values within a tolerance there.
//!
//! To rewrite the file after an intended change of behaviour:
//! `cargo test -p ntk --test golden -- --ignored write_golden`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ntk_data::npy::write_npy;
use serde_json::{Value, json};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden/cli.json"
);

const FC: &str =
    "Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5)";
const HOMOGENEOUS: &str = "Dense(W_std=1.4), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.4)";
const SMOOTH: &str =
    "Dense(W_std=1.2, b_std=0.3), Erf, LayerNorm, Dense(W_std=1.0), Gelu, Dense(W_std=1.0)";
const CONV: &str = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414, b_std=0.1), Relu, \
    AvgPool(window_shape=(2, 2), strides=(2, 2)), \
    Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414), Relu, GlobalAvgPool, Dense(W_std=1.414)";

const N_TRAIN: usize = 48;
const N_TEST: usize = 12;
const DIM: usize = 6;
const IMAGE: [usize; 3] = [6, 6, 1];

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn save_f64(path: &Path, shape: &[usize], data: &[f64]) {
    let mut buf = Vec::new();
    write_npy(&mut buf, shape, data).unwrap();
    std::fs::write(path, buf).unwrap();
}

fn save_i64(path: &Path, data: &[i64]) {
    let mut buf = Vec::new();
    write_npy(&mut buf, &[data.len()], data).unwrap();
    std::fs::write(path, buf).unwrap();
}

fn points(n: usize, size: usize, salt: f64) -> Vec<f64> {
    (0..n * size)
        .map(|k| ((k as f64 + salt) * 0.731).sin() * (1.0 + (k % 5) as f64 * 0.3))
        .collect()
}

/// Labels in 0..3 that depend on the inputs (so ridge learns something).
fn labels(x: &[f64], size: usize) -> Vec<i64> {
    x.chunks(size)
        .map(|s| {
            let t: f64 = s.iter().take(3).sum();
            if t < -0.5 {
                0
            } else if t < 0.5 {
                1
            } else {
                2
            }
        })
        .collect()
}

fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ntk"))
        .args(args)
        .args(["--threads", "2", "--quiet"])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn file_hash(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    json!({ "len": bytes.len(), "hash": fnv(&bytes) })
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

/// The eval JSON without what varies from run to run.
fn stable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("timings_s");
    }
    v
}

fn compute() -> BTreeMap<String, Value> {
    let d = dir();
    let p = |name: &str| d.join(name);
    let s = |path: PathBuf| -> String { path.to_str().unwrap().to_owned() };
    let mut out = BTreeMap::new();

    // Vectors.
    let xtr = points(N_TRAIN, DIM, 0.0);
    let xte = points(N_TEST, DIM, 500.0);
    save_f64(&p("xtr.npy"), &[N_TRAIN, DIM], &xtr);
    save_f64(&p("xte.npy"), &[N_TEST, DIM], &xte);
    save_i64(&p("ytr.npy"), &labels(&xtr, DIM));
    save_i64(&p("yte.npy"), &labels(&xte, DIM));
    // Images.
    let size: usize = IMAGE.iter().product();
    let itr = points(16, size, 3.0);
    let ite = points(6, size, 900.0);
    save_f64(&p("itr.npy"), &[16, IMAGE[0], IMAGE[1], IMAGE[2]], &itr);
    save_f64(&p("ite.npy"), &[6, IMAGE[0], IMAGE[1], IMAGE[2]], &ite);
    save_i64(&p("iytr.npy"), &labels(&itr, size));
    save_i64(&p("iyte.npy"), &labels(&ite, size));

    let mut record = |key: String, result: Result<Value, String>| {
        out.insert(
            key,
            match result {
                Ok(v) => v,
                Err(e) => json!({ "error": e }),
            },
        );
    };

    // Exact kernels.
    for (name, arch, x1, x2) in [
        ("fc", FC, "xtr.npy", "xte.npy"),
        ("smooth", SMOOTH, "xtr.npy", "xte.npy"),
        ("conv", CONV, "itr.npy", "ite.npy"),
    ] {
        let (k, t) = (p(&format!("k_{name}.npy")), p(&format!("t_{name}.npy")));
        let r = run(&[
            "kernel",
            "--arch",
            arch,
            "--x1",
            &s(p(x1)),
            "--x2",
            &s(p(x2)),
            "--nngp",
            &s(k.clone()),
            "--ntk",
            &s(t.clone()),
        ])
        .map(|()| json!({ "nngp": file_hash(&k), "ntk": file_hash(&t) }));
        record(format!("kernel/{name}"), r);
    }

    // Features of every method, both precisions, both kernels.
    let cases: [(&str, &str, &str, &[&str]); 12] = [
        ("hermite", FC, "xtr.npy", &[]),
        ("hermite", SMOOTH, "xtr.npy", &["--degree", "3"]),
        ("random", SMOOTH, "xtr.npy", &[]),
        ("ntksketch", FC, "xtr.npy", &[]),
        ("ntksketch", FC, "xtr.npy", &["--polynomial", "data"]),
        (
            "ntksketch",
            FC,
            "xtr.npy",
            &["--polynomial", "taylor", "--calibrate", "on"],
        ),
        ("ntkrf", FC, "xtr.npy", &["--node-dim", "24"]),
        ("onepass", HOMOGENEOUS, "xtr.npy", &[]),
        ("subspace", HOMOGENEOUS, "xtr.npy", &[]),
        ("hermite", CONV, "itr.npy", &["--inner-dim", "32"]),
        ("cntksketch", CONV, "itr.npy", &[]),
        ("random", CONV, "itr.npy", &["--calibrate", "off"]),
    ];
    for (i, (method, arch, x, extra)) in cases.iter().enumerate() {
        for dtype in ["f32", "f64"] {
            for kernel in ["ntk", "nngp"] {
                let z = p(&format!("z{i}_{dtype}_{kernel}.npy"));
                let mut args = vec![
                    "features".to_owned(),
                    "--arch".into(),
                    (*arch).into(),
                    "--x".into(),
                    s(p(x)),
                    "--dim".into(),
                    "64".into(),
                    "--method".into(),
                    (*method).into(),
                    "--dtype".into(),
                    dtype.into(),
                    "--kernel".into(),
                    kernel.into(),
                    "--check".into(),
                    "0".into(),
                    "--seed".into(),
                    "7".into(),
                    "--out".into(),
                    s(z.clone()),
                ];
                args.extend(extra.iter().map(|a| (*a).to_owned()));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let r = run(&args).map(|()| file_hash(&z));
                record(format!("features/{i}_{method}/{dtype}/{kernel}"), r);
            }
        }
    }

    // Fit, predict and eval: exact and features, vectors and images.
    let fits: [(&str, &str, bool, &[&str]); 6] = [
        (
            "exact_fc",
            FC,
            false,
            &["--lambda-grid", "1e-3,1e-2,1e-1,1"],
        ),
        (
            "exact_conv_nngp",
            CONV,
            true,
            &["--lambda", "0.01", "--kernel", "nngp"],
        ),
        (
            "features_hermite_fc",
            FC,
            false,
            &[
                "--features",
                "64",
                "--lambda-grid",
                "1e-3,1e-1,10",
                "--standardize",
            ],
        ),
        (
            "features_ntksketch_data",
            FC,
            false,
            &[
                "--features",
                "64",
                "--method",
                "ntksketch",
                "--polynomial",
                "data",
                "--lambda",
                "0.1",
            ],
        ),
        (
            "features_ntkrf_regress",
            FC,
            false,
            &[
                "--features",
                "64",
                "--method",
                "ntkrf",
                "--task",
                "regress",
                "--lambda-grid",
                "1e-2,1",
                "--dtype",
                "f64",
            ],
        ),
        (
            "features_cntksketch",
            CONV,
            true,
            &[
                "--features",
                "64",
                "--method",
                "cntksketch",
                "--lambda-grid",
                "1e-2,1",
            ],
        ),
    ];
    for (name, arch, image, extra) in fits {
        let (xtr, ytr, xte, yte) = if image {
            ("itr.npy", "iytr.npy", "ite.npy", "iyte.npy")
        } else {
            ("xtr.npy", "ytr.npy", "xte.npy", "yte.npy")
        };
        let model = p(&format!("{name}.ntkmodel"));
        let pred = p(&format!("{name}_pred.npy"));
        let scores = p(&format!("{name}_scores.npy"));
        let json_path = p(&format!("{name}.json"));
        let mut train = vec![
            "--arch".to_owned(),
            arch.into(),
            "--x-train".into(),
            s(p(xtr)),
            "--y-train".into(),
            s(p(ytr)),
            "--seed".into(),
            "3".into(),
        ];
        train.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut fit = vec!["fit".to_owned(), "--model".into(), s(model.clone())];
        fit.extend(train.iter().cloned());
        let fit: Vec<&str> = fit.iter().map(String::as_str).collect();
        let r = run(&fit).and_then(|()| {
            run(&[
                "predict",
                "--model",
                &s(model.clone()),
                "--x",
                &s(p(xte)),
                "--out",
                &s(pred.clone()),
                "--scores",
                &s(scores.clone()),
            ])
            .map(|()| {
                json!({
                    "model": file_hash(&model),
                    "predictions": file_hash(&pred),
                    "scores": file_hash(&scores),
                })
            })
        });
        record(format!("fit/{name}"), r);
        let mut eval = vec![
            "eval".to_owned(),
            "--x-test".into(),
            s(p(xte)),
            "--y-test".into(),
            s(p(yte)),
            "--json".into(),
            s(json_path.clone()),
        ];
        eval.extend(train);
        let eval: Vec<&str> = eval.iter().map(String::as_str).collect();
        let r = run(&eval)
            .map(|()| stable(serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap()));
        record(format!("eval/{name}"), r);
    }
    out
}

#[test]
fn outputs_equal_the_recorded_ones() {
    let text = std::fs::read_to_string(FILE).expect("golden file present");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let same_cpu = stored["cpu"].as_str() == Some(cpu_signature().as_str());
    let cases = stored["cases"].as_object().unwrap();
    let now = compute();
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        cases.keys().collect::<Vec<_>>(),
        "the set of cases changed"
    );
    let mut failures = Vec::new();
    for (key, got) in &now {
        let want = &cases[key];
        let ok = if same_cpu {
            got == want
        } else {
            // Another GEMM blocking: only success or failure must agree.
            got.get("error") == want.get("error")
        };
        if !ok {
            failures.push(format!("{key}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden CLI outputs changed:\n{}",
        failures.len(),
        now.len(),
        failures.join("\n")
    );
}

/// The demo's JSON without what varies from run to run or machine to
/// machine (timings, the machine block).
fn demo_numbers(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.contains("second") && k.as_str() != "machine")
                .map(|(k, x)| (k.clone(), demo_numbers(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(demo_numbers).collect()),
        other => other.clone(),
    }
}

#[test]
fn demo_numbers_equal_the_recorded_ones() {
    // Every score, λ, validation score and pair count of `ntk demo` (exact
    // kernels and feature maps on the embedded digits), recorded before the
    // refactoring. Its GEMMs make the bits depend on the CPU like the
    // outputs above; on another signature only the structure is compared.
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/golden/demo.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-demo");
    let _ = std::fs::remove_dir_all(&out);
    run(&["demo", "--out-dir", out.to_str().unwrap()]).unwrap();
    let got: Value =
        serde_json::from_slice(&std::fs::read(out.join("demo.json")).unwrap()).unwrap();
    let got = demo_numbers(&got);
    let want = &stored["demo"];
    let cpu: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    if cpu["cpu"].as_str() == Some(cpu_signature().as_str()) {
        assert_eq!(&got, want, "the demo's numbers changed");
    } else {
        assert_eq!(
            got["results"].as_array().map(Vec::len),
            want["results"].as_array().map(Vec::len)
        );
    }
}

#[test]
#[ignore = "rewrites the golden file; run only after an intended change of behaviour"]
fn write_golden() {
    let doc = json!({
        "about": "tests/golden.rs: bytes and JSON the ntk binary wrote before the issue-30 refactoring",
        "cpu": cpu_signature(),
        "cases": compute(),
    });
    std::fs::create_dir_all(Path::new(FILE).parent().unwrap()).unwrap();
    std::fs::write(FILE, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
}
