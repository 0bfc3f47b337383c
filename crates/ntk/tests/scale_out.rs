//! Scale-out without MPI: `ntk gram --shard I/N` on the embedded digits,
//! `ntk gram merge` in shuffled orders and `ntk fit --gram` write the same
//! model file, byte for byte, as one `ntk fit` process at any thread count;
//! missing, repeated, damaged and foreign shards are refused with a message
//! naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("scale_out", name)
}

fn ntk(args: &[String]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ntk"));
    cmd.args(args);
    if !args.iter().any(|a| a == "--threads") {
        cmd.args(["--threads", "2"]);
    }
    cmd.arg("--quiet");
    cmd.output().unwrap()
}

fn ok(args: &[String]) {
    let out = ntk(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails(args: &[String], needles: &[&str]) {
    let out = ntk(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected '{n}' in: {err}");
    }
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The first 600 digits as `.npy` inputs and labels (`common::digits`).
fn digits(d: &Path) -> (PathBuf, PathBuf) {
    let (x, y, _) = common::digits(d);
    (x, y)
}

/// The flags every run shares: 600 digits, D = 256 features (the primal
/// side: 2n > D), chunks of 64 samples (10 chunks, the last one short, so
/// chunks straddle shards of every count below).
fn problem(xp: &Path, yp: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["--features", "256", "--method", "random"];
    a.extend_from_slice(extra);
    own_problem(xp, yp, &a)
}

fn shard(xp: &Path, yp: &Path, extra: &[&str], i: usize, of: usize, out: &Path) {
    let mut a = args(&["gram", "--shard", &format!("{i}/{of}"), "--out", &p(out)]);
    a.extend(problem(xp, yp, extra));
    ok(&a);
}

#[test]
fn shards_merged_in_any_order_write_the_single_process_model() {
    let d = dir("bitwise");
    let (xp, yp) = digits(&d);
    for rule in [
        &["--lambda-grid", "0.001,0.1,10", "--val-fraction", "0.25"][..],
        &["--lambda", "0.01", "--dtype", "f64"][..],
    ] {
        // One process, at 1 and 2 threads.
        let mut models = Vec::new();
        for threads in ["1", "2"] {
            let m = d.join(format!("one_{threads}.model"));
            let _ = std::fs::remove_file(&m);
            let mut a = args(&["fit", "--model", &p(&m), "--threads", threads]);
            a.extend(problem(&xp, &yp, rule));
            ok(&a);
            models.push(std::fs::read(&m).unwrap());
        }
        assert_eq!(models[0], models[1], "thread counts, {rule:?}");
        for (of, order) in [(1, vec![0]), (2, vec![1, 0]), (5, vec![3, 0, 4, 2, 1])] {
            let files: Vec<PathBuf> = (0..of)
                .map(|i| {
                    let f = d.join(format!("s{i}of{of}.gram"));
                    let _ = std::fs::remove_file(&f);
                    shard(&xp, &yp, rule, i, of, &f);
                    f
                })
                .collect();
            // Straight from the shards, in a shuffled order.
            let m = d.join(format!("shards{of}.model"));
            let _ = std::fs::remove_file(&m);
            let mut a = args(&["fit", "--model", &p(&m), "--gram"]);
            a.extend(order.iter().map(|&i| p(&files[i])));
            ok(&a);
            assert_eq!(
                std::fs::read(&m).unwrap(),
                models[0],
                "{of} shards, {rule:?}"
            );
            // Through merges of subsets, then the merged file.
            if of == 5 {
                let ab = d.join("ab.gram");
                let cde = d.join("cde.gram");
                let all = d.join("all.gram");
                for f in [&ab, &cde, &all] {
                    let _ = std::fs::remove_file(f);
                }
                ok(&args(&[
                    "gram",
                    "merge",
                    &p(&files[4]),
                    &p(&files[1]),
                    "--out",
                    &p(&ab),
                ]));
                ok(&args(&[
                    "gram",
                    "merge",
                    &p(&files[2]),
                    &p(&files[0]),
                    &p(&files[3]),
                    "--out",
                    &p(&cde),
                ]));
                ok(&args(&[
                    "gram",
                    "merge",
                    &p(&cde),
                    &p(&ab),
                    "--out",
                    &p(&all),
                ]));
                let m2 = d.join("merged.model");
                let _ = std::fs::remove_file(&m2);
                ok(&args(&["fit", "--model", &p(&m2), "--gram", &p(&all)]));
                assert_eq!(std::fs::read(&m2).unwrap(), models[0], "merged, {rule:?}");
            }
        }
    }
}

#[test]
fn missing_repeated_damaged_and_foreign_shards_are_refused() {
    let d = dir("refused");
    let (xp, yp) = digits(&d);
    let rule = ["--lambda", "0.01"];
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            let f = d.join(format!("s{i}.gram"));
            shard(&xp, &yp, &rule, i, 3, &f);
            f
        })
        .collect();
    let model = d.join("m.model");
    // A missing shard: the chunks it held are named.
    fails(
        &args(&[
            "fit",
            "--model",
            &p(&model),
            "--gram",
            &p(&files[0]),
            &p(&files[2]),
        ]),
        &["missing chunks 3..6"],
    );
    // The same shard twice.
    fails(
        &args(&[
            "fit",
            "--model",
            &p(&model),
            "--gram",
            &p(&files[0]),
            &p(&files[0]),
            &p(&files[1]),
        ]),
        &[&p(&files[0]), "overlap"],
    );
    // A damaged file: one byte flipped in the sums.
    let damaged = d.join("damaged.gram");
    let mut bytes = std::fs::read(&files[1]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&damaged, &bytes).unwrap();
    fails(
        &args(&[
            "gram",
            "merge",
            &p(&files[0]),
            &p(&damaged),
            "--out",
            &p(&d.join("x.gram")),
        ]),
        &[&p(&damaged), "checksum"],
    );
    // A truncated one.
    let truncated = d.join("truncated.gram");
    std::fs::write(&truncated, &bytes[..100]).unwrap();
    fails(
        &args(&["fit", "--model", &p(&model), "--gram", &p(&truncated)]),
        &[&p(&truncated)],
    );
    // A shard of another problem (another seed draws another map).
    let foreign = d.join("foreign.gram");
    let mut a = args(&["gram", "--shard", "1/3", "--out", &p(&foreign)]);
    a.extend(problem(&xp, &yp, &rule));
    let at = a.iter().position(|s| s == "7").unwrap();
    a[at] = "8".into();
    ok(&a);
    fails(
        &args(&[
            "fit",
            "--model",
            &p(&model),
            "--gram",
            &p(&files[0]),
            &p(&foreign),
            &p(&files[2]),
        ]),
        &[&p(&foreign), "another problem", "features"],
    );
    assert!(!model.exists(), "nothing written");
    // Malformed --shard values and a dual-side problem.
    for bad in ["3/3", "1", "a/b", "0/0"] {
        let mut a = args(&["gram", "--shard", bad, "--out", &p(&d.join("bad.gram"))]);
        a.extend(problem(&xp, &yp, &rule));
        fails(&a, &["--shard must be I/N"]);
    }
    let mut a = args(&["gram", "--shard", "0/2", "--out", &p(&d.join("dual.gram"))]);
    a.extend(problem(&xp, &yp, &rule));
    let at = a.iter().position(|s| s == "256").unwrap();
    a[at] = "2048".into();
    fails(&a, &["dual side"]);
}

/// The digits of [`digits`] as CSV files (values k/16 print exactly).
fn digits_csv(d: &Path) -> (PathBuf, PathBuf) {
    let set = ntk_data::digits::load();
    let n = 600;
    let mut x = String::new();
    for i in 0..n {
        let row: Vec<String> = set.data[i * 64..(i + 1) * 64]
            .iter()
            .map(|&v| format!("{}", f64::from(v) / 16.0))
            .collect();
        x.push_str(&row.join(","));
        x.push('\n');
    }
    let y: String = set.labels[..n].iter().map(|l| format!("{l}\n")).collect();
    let (xp, yp) = (d.join("x.csv"), d.join("y.csv"));
    std::fs::write(&xp, x).unwrap();
    std::fs::write(&yp, y).unwrap();
    (xp, yp)
}

#[test]
fn npy_inputs_streamed_from_the_file_fit_what_inputs_in_memory_fit() {
    // `.npy` training inputs of feature fits are read by ranges of rows,
    // never whole; `.csv` ones are read whole. The same values must give
    // the same model and the same --check (whose samples, like the data
    // polynomials' 256, are read alone from the file).
    let d = dir("streamed");
    let (xn, yn) = digits(&d);
    let (xc, yc) = digits_csv(&d);
    for extra in [
        &[
            "--method",
            "random",
            "--features",
            "256",
            "--lambda-grid",
            "0.001,0.1,10",
            "--n-train",
            "500",
        ][..],
        &[
            "--method",
            "ntksketch",
            "--polynomial",
            "data",
            "--features",
            "128",
            "--lambda",
            "0.01",
        ][..],
    ] {
        let mut models = Vec::new();
        let mut checks = Vec::new();
        for (x, y, name) in [(&xn, &yn, "npy"), (&xc, &yc, "csv")] {
            let m = d.join(format!("{name}.model"));
            let j = d.join(format!("{name}.json"));
            let _ = std::fs::remove_file(&m);
            let _ = std::fs::remove_file(&j);
            let mut a = args(&["fit", "--model", &p(&m)]);
            a.extend(own_problem(x, y, extra));
            ok(&a);
            models.push(std::fs::read(&m).unwrap());
            let mut e = args(&[
                "eval",
                "--json",
                &p(&j),
                "--x-test",
                &p(&xn),
                "--y-test",
                &p(&yn),
            ]);
            e.extend(own_problem(x, y, extra));
            ok(&e);
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
            checks.push((v["backend"]["check"].clone(), v["accuracy"].clone()));
        }
        assert_eq!(models[0], models[1], "{extra:?}");
        assert_eq!(checks[0], checks[1], "{extra:?}");
        assert!(
            checks[0].0["relative_frobenius_error"].as_f64().is_some(),
            "{checks:?}"
        );
    }
}

/// The flags of [`problem`] but its method and dimension, which `extra`
/// gives.
fn own_problem(xp: &Path, yp: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "--arch",
        "Dense(W_std=1.4, b_std=0.1), Relu, Dense(W_std=1.4)",
        "--x-train",
        &p(xp),
        "--y-train",
        &p(yp),
        "--chunk",
        "64",
        "--seed",
        "7",
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// 30 digits as 8×8×1 images (values k/16).
fn digit_images(d: &Path) -> PathBuf {
    let set = ntk_data::digits::load();
    let x: Vec<f64> = set.data[..30 * 64]
        .iter()
        .map(|&v| f64::from(v) / 16.0)
        .collect();
    let path = d.join("images.npy");
    common::save(&path, &[30, 8, 8, 1], &x);
    path
}

const RESIDUAL: &str =
    "Dense(W_std=1.5), FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, Relu, Dense";
const CONV_RESIDUAL: &str = "Conv(out_chan=4, filter_shape=(3, 3), padding='SAME'), FanOut(2), \
     parallel(Identity, serial(Relu, Conv(out_chan=4, filter_shape=(3, 3), padding='SAME'))), \
     FanInSum, Relu, GlobalAvgPool(), Dense(1)";
const CNN: &str = "Conv(out_chan=4, filter_shape=(3, 3), padding='SAME'), Relu, \
                   AvgPool((2, 2)), Conv(out_chan=4, filter_shape=(2, 2)), Erf, Flatten(), Dense(1)";

/// `ntk kernel --tile I/N` for every I at one thread, merged in a shuffled
/// order: the bytes of one `ntk kernel` at two threads (the symmetric
/// K(X, X), mirrored from the upper triangle; a rectangular K(X1, X2);
/// images). The oracle is the single process's file, compared by bytes.
#[test]
fn kernel_tiles_merge_into_the_single_process_files() {
    let d = dir("kernel_tiles");
    let (x, _) = digits(&d);
    let images = digit_images(&d);
    let cases: [(&str, &Path, Option<&Path>); 4] = [
        (RESIDUAL, &x, None),
        (RESIDUAL, &x, Some(&x)),
        (CONV_RESIDUAL, &images, None),
        (CNN, &images, Some(&images)),
    ];
    for (case, (arch, x1, x2)) in cases.iter().enumerate() {
        let base = |extra: &[&str]| {
            let mut a = args(&["kernel", "--arch", arch, "--x1", &p(x1)]);
            if let Some(x2) = x2 {
                a.extend(args(&["--x2", &p(x2)]));
            }
            a.extend(args(extra));
            a
        };
        let (k, t) = (
            d.join(format!("k{case}.npy")),
            d.join(format!("t{case}.npy")),
        );
        ok(&base(&["--nngp", &p(&k), "--ntk", &p(&t)]));
        for n in [1usize, 2, 3, 5] {
            let mut files = Vec::new();
            for i in 0..n {
                let f = d.join(format!("c{case}-{i}of{n}.tile"));
                let tile = format!("{i}/{n}");
                let mut a = base(&["--tile", &tile, "--out", &p(&f)]);
                a.extend(args(&["--threads", "1"]));
                ok(&a);
                files.push(p(&f));
            }
            // Reversed, then the first moved last: an order unlike the split's.
            files.reverse();
            files.rotate_left(1);
            let (k2, t2) = (
                d.join(format!("k{case}-{n}.npy")),
                d.join(format!("t{case}-{n}.npy")),
            );
            let mut m = args(&["kernel", "merge"]);
            m.extend(files);
            m.extend(args(&["--nngp", &p(&k2), "--ntk", &p(&t2)]));
            ok(&m);
            for (a, b) in [(&k, &k2), (&t, &t2)] {
                assert_eq!(
                    std::fs::read(a).unwrap(),
                    std::fs::read(b).unwrap(),
                    "case {case}, {n} tiles: {} differs from {}",
                    b.display(),
                    a.display()
                );
            }
        }
    }
}

#[test]
fn missing_repeated_damaged_and_foreign_tiles_are_refused() {
    let d = dir("kernel_tile_faults");
    let (x, _) = digits(&d);
    let images = digit_images(&d);
    let tile = |x1: &Path, which: &str, name: &str| {
        let f = d.join(name);
        let arch = if x1 == images { CNN } else { RESIDUAL };
        ok(&args(&[
            "kernel",
            "--arch",
            arch,
            "--x1",
            &p(x1),
            "--tile",
            which,
            "--out",
            &p(&f),
        ]));
        p(&f)
    };
    // 30 images, units of one column: three non-empty tiles.
    let t: Vec<String> = (0..3)
        .map(|i| tile(&images, &format!("{i}/3"), &format!("t{i}.tile")))
        .collect();
    let out = d.join("k.npy");
    let merge = |files: &[&String]| {
        let mut a = args(&["kernel", "merge"]);
        a.extend(files.iter().map(|s| s.to_string()));
        a.extend(args(&["--nngp", &p(&out)]));
        a
    };
    fails(&merge(&[&t[0], &t[2]]), &["columns", "a tile is missing"]);
    fails(
        &merge(&[&t[0], &t[1], &t[1], &t[2]]),
        &["t1.tile", "repeats columns"],
    );
    let foreign = tile(&x, "0/1", "foreign.tile");
    fails(
        &merge(&[&t[0], &t[1], &foreign]),
        &["foreign.tile", "another kernel"],
    );
    let bytes = std::fs::read(&t[1]).unwrap();
    let cut = d.join("cut.tile");
    std::fs::write(&cut, &bytes[..bytes.len() - 9]).unwrap();
    fails(
        &merge(&[&t[0], &p(&cut), &t[2]]),
        &["cut.tile", "damaged or truncated"],
    );
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 1;
    let flip = d.join("flip.tile");
    std::fs::write(&flip, &flipped).unwrap();
    fails(
        &merge(&[&t[0], &p(&flip), &t[2]]),
        &["flip.tile", "damaged or truncated"],
    );
    let junk = d.join("junk.tile");
    std::fs::write(
        &junk,
        b"not a tile at all, but long enough to have a header",
    )
    .unwrap();
    fails(&merge(&[&p(&junk)]), &["junk.tile", "NTKTILE"]);
    assert!(!out.exists(), "no refused merge writes");
    let partial = ntk_data::files::temp_path(&out);
    assert!(!partial.exists(), "no refused merge leaves a temporary");
    fails(
        &args(&[
            "kernel",
            "--arch",
            RESIDUAL,
            "--x1",
            &p(&x),
            "--tile",
            "3/3",
            "--out",
            &p(&d.join("q.tile")),
        ]),
        &["--tile must be I/N"],
    );
    // More tiles than columns (a typo's 10^10 would otherwise be a 10^10-long split).
    fails(
        &args(&[
            "kernel",
            "--arch",
            CNN,
            "--x1",
            &p(&images),
            "--tile",
            "0/31",
            "--out",
            &p(&d.join("q.tile")),
        ]),
        &["30 columns", "at most 30 tiles"],
    );
}
