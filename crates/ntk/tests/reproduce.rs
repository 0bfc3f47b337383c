//! The reproductions end to end on tiny inputs: a few hundred embedded
//! MNIST digits, a synthetic UCI CSV in the protein format, synthetic
//! CIFAR-10 binary batches. Assertions are on the reports' contents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::write_cifar;

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("reproduce")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ntk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ntk"))
        .args(["--threads", "2", "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) {
    let out = ntk(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails(args: &[&str], needle: &str) {
    let out = ntk(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.starts_with("ntk: error: ") && !err.contains("panicked"),
        "{err}"
    );
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

fn report(d: &Path) -> Value {
    for ext in ["md", "svg"] {
        assert!(
            d.join(format!("report.{ext}")).is_file(),
            "report.{ext} missing"
        );
    }
    let svg = std::fs::read_to_string(d.join("report.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap()
}

fn results(v: &Value) -> &Vec<Value> {
    v["results"].as_array().unwrap()
}

fn find<'a>(v: &'a Value, network: &str, kernel: &str, method: &str) -> Vec<&'a Value> {
    results(v)
        .iter()
        .filter(|r| r["network"] == network && r["kernel"] == kernel && r["method"] == method)
        .collect()
}

#[test]
fn mnist_runs_every_method_and_exact_kernels_learn() {
    let d = dir("mnist");
    let out = d.to_str().unwrap();
    let args = [
        "reproduce",
        "mnist",
        "--train",
        "200",
        "--test",
        "100",
        "--dims",
        "64,256",
        "--exact-conv-train",
        "12",
        "--exact-conv-test",
        "6",
        "--out-dir",
        out,
    ];
    ok(&args);
    let v = report(&d);
    // 2 exact + 4 methods × 2 dims (FC), 2 exact + 2 methods × 2 dims (conv).
    assert_eq!(results(&v).len(), 2 + 8 + 2 + 4);
    for m in ["ntksketch", "ntkrf", "hermite", "random"] {
        let rows = find(&v, "fully connected", "NTK", m);
        assert_eq!(rows.len(), 2, "{m}");
        for r in rows {
            assert_eq!(
                (r["n_train"].as_u64(), r["n_test"].as_u64()),
                (Some(200), Some(100))
            );
        }
    }
    for m in ["cntksketch", "hermite"] {
        assert_eq!(find(&v, "convolutional", "NTK", m).len(), 2, "{m}");
    }
    let conv = find(&v, "convolutional", "NTK", "exact");
    assert_eq!(conv[0]["n_train"].as_u64(), Some(12));
    // Pairs of the exact CNTK: the training triangle and train × test.
    assert_eq!(
        conv[0]["pairs"].as_f64(),
        Some((12 * 13 / 2 + 12 * 6) as f64)
    );
    let grid: Vec<f64> = v["lambda_selection"]["grid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for r in results(&v) {
        let acc = r["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{r}");
        assert!(grid.contains(&r["lambda"].as_f64().unwrap()), "{r}");
    }
    // Kernel ridge on 200 MNIST digits is far above chance (10 %): the
    // exact NTK of this network reaches about 0.85 at n = 200; 0.6 leaves
    // room for any split while failing on scrambled labels or inputs.
    let exact = find(&v, "fully connected", "NTK", "exact")[0]["score"]
        .as_f64()
        .unwrap();
    assert!(exact > 0.6, "exact NTK accuracy {exact}");
    // The features approximate the same kernel: at D = 256 their accuracy
    // is within 0.25 of the exact kernel's (measured gaps are ≤ 0.1).
    for m in ["ntksketch", "ntkrf", "hermite"] {
        let f = find(&v, "fully connected", "NTK", m)
            .into_iter()
            .find(|r| r["dim"].as_u64() >= Some(200))
            .unwrap()["score"]
            .as_f64()
            .unwrap();
        assert!(f > exact - 0.25, "{m}: {f} against exact {exact}");
    }
    let md = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(
        md.contains("| fully connected | NTK | ntksketch D="),
        "{md}"
    );
    // A second run refuses to overwrite the report.
    fails(&args, "exists");
    // Bad sizes are refused before any work.
    fails(
        &[
            "reproduce",
            "mnist",
            "--train",
            "4900",
            "--test",
            "200",
            "--out-dir",
            out,
            "--force",
        ],
        "at most 5000",
    );
}

/// A smooth target of 9 features plus small deterministic noise, in the
/// CASP.csv layout (header, RMSD first).
fn protein_csv(n: usize) -> (String, f64) {
    let mut s = String::from("RMSD,F1,F2,F3,F4,F5,F6,F7,F8,F9\n");
    let mut ys = Vec::new();
    for i in 0..n {
        let x: Vec<f64> = (0..9)
            .map(|j| ((i * 7 + j * 13) as f64 * 0.37).sin() * (1.0 + j as f64))
            .collect();
        let y = 3.0 * (x[0] * 0.5).sin()
            + x[1] * x[2] * 0.1
            + 0.5 * x[3]
            + 0.05 * ((i as f64) * 1.7).cos()
            + 10.0;
        ys.push(y);
        s.push_str(&format!(
            "{y},{}\n",
            x.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let m = ys.iter().sum::<f64>() / n as f64;
    let sd = (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / n as f64).sqrt();
    (s, sd)
}

#[test]
fn uci_runs_the_folds_and_beats_the_mean_predictor() {
    let d = dir("uci");
    let data = d.join("data");
    let (csv, sd) = protein_csv(240);
    std::fs::create_dir_all(data.join("uci/protein")).unwrap();
    std::fs::write(data.join("uci/protein/CASP.csv"), csv).unwrap();
    let out = d.join("out");
    ok(&[
        "reproduce",
        "uci",
        "protein",
        "--data-dir",
        data.to_str().unwrap(),
        "--dim",
        "256",
        "--folds",
        "2",
        "--exact-train",
        "80",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let v = report(&out);
    assert_eq!(v["folds"].as_array().unwrap().len(), 2);
    for f in v["folds"].as_array().unwrap() {
        for r in f["results"].as_array().unwrap() {
            // Contiguous halves of 240 rows.
            assert_eq!(r["n_test"].as_u64(), Some(120), "{r}");
        }
    }
    let exact = &find(&v, "fully connected", "NTK", "exact")[0];
    assert_eq!(exact["n_train"].as_u64(), Some(80));
    // The target is a smooth function of the features: every method must
    // beat predicting the mean (RMSE = the target's spread) clearly.
    for m in ["exact", "ntksketch", "ntkrf"] {
        let rmse = find(&v, "fully connected", "NTK", m)[0]["score"]
            .as_f64()
            .unwrap();
        assert!(
            rmse.is_finite() && rmse < 0.8 * sd,
            "{m}: RMSE {rmse} against spread {sd}"
        );
    }
    fails(
        &[
            "reproduce",
            "uci",
            "ct",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--force",
        ],
        "ntk download uci ct",
    );
    fails(
        &[
            "reproduce",
            "uci",
            "iris",
            "--out-dir",
            out.to_str().unwrap(),
            "--force",
        ],
        "unknown UCI dataset",
    );
}

#[test]
fn cifar_reports_exact_against_features_at_equal_n() {
    let d = dir("cifar");
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = d.join("out");
    fails(
        &[
            "reproduce",
            "cifar",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ],
        "ntk download cifar10",
    );
    write_cifar(&data);
    ok(&cifar_args(
        &data,
        &out,
        &["--exact-train", "10", "--exact-test", "3"],
    ));
    let v = report(&out);
    for net in [
        "CNTK 2021",
        "Myrtle5 ExpNormalized 2022",
        "Myrtle5 Relu 2022",
    ] {
        let exact = find(&v, net, "NTK", "exact");
        assert_eq!(exact.len(), 1, "{net}");
        assert_eq!(exact[0]["n_train"].as_u64(), Some(10));
        let method = if net.starts_with("CNTK") {
            "cntksketch"
        } else {
            "hermite"
        };
        let feats = find(&v, net, "NTK", method);
        // One run at the exact kernel's n, one on the whole training set.
        let mut ns: Vec<u64> = feats
            .iter()
            .map(|r| r["n_train"].as_u64().unwrap())
            .collect();
        ns.sort_unstable();
        assert_eq!(ns, vec![10, 30], "{net}");
    }
    let speedups = v["speedups"].as_array().unwrap();
    assert_eq!(speedups.len(), 3);
    for s in speedups {
        for k in [
            "speedup_equal_n",
            "speedup_full_extrapolated",
            "exact_seconds_per_pair",
        ] {
            assert!(s[k].as_f64().unwrap() > 0.0, "{s}");
        }
    }
    // Feature blocks are cached under the data directory: one directory
    // per map (the equal-n and full runs of a network share the map, so 3),
    // blocks named by their inputs.
    let cache = data.join("cache/features");
    let maps: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(maps.len(), 3, "{maps:?}");
    let blocks: Vec<_> = maps
        .iter()
        .flat_map(|m| std::fs::read_dir(m).unwrap().map(|e| e.unwrap().path()))
        .collect();
    assert!(
        blocks
            .iter()
            .all(|b| b.extension().is_some_and(|e| e == "npy"))
    );
    // A resumed run reads them back: the same scores, even with one block
    // damaged (it is recomputed and replaced).
    let full_score = |v: &Value| {
        find(v, "CNTK 2021", "NTK", "cntksketch")
            .into_iter()
            .find(|r| r["n_train"].as_u64() == Some(30))
            .unwrap()["score"]
            .as_f64()
            .unwrap()
    };
    let first = full_score(&v);
    let victim = blocks
        .iter()
        .max_by_key(|b| std::fs::metadata(b).unwrap().len())
        .unwrap();
    std::fs::write(victim, b"not a npy file").unwrap();
    let out2 = d.join("out2");
    ok(&cifar_args(&data, &out2, &["--exact-train", "0"]));
    let v2 = report(&out2);
    assert_eq!(full_score(&v2), first);
    for net in ["Myrtle5 ExpNormalized 2022", "Myrtle5 Relu 2022"] {
        let score = |v: &Value| {
            find(v, net, "NTK", "hermite")
                .into_iter()
                .find(|r| r["n_train"].as_u64() == Some(30))
                .unwrap()["score"]
                .as_f64()
        };
        assert_eq!(score(&v2), score(&v), "{net}");
    }
    assert!(
        std::fs::read(victim).unwrap().starts_with(b"\x93NUMPY"),
        "damaged block not replaced"
    );
    fails(
        &[
            "reproduce",
            "cifar",
            "--protocol",
            "2023",
            "--out-dir",
            out.to_str().unwrap(),
            "--force",
        ],
        "--protocol must be",
    );
}

/// Both protocols on 30 / 10 synthetic images at D = 64, plus `extra`.
fn cifar_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "reproduce",
        "cifar",
        "--protocol",
        "both",
        "--data-dir",
        data.to_str().unwrap(),
        "--train",
        "30",
        "--test",
        "10",
        "--dims",
        "64",
        "--out-dir",
        out.to_str().unwrap(),
    ];
    v.extend_from_slice(extra);
    v
}
