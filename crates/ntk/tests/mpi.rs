//! MPI scale-out (feature `mpi`; run by `cargo xtask mpi`, which needs
//! `mpirun`): `mpirun -np P ntk fit --features D` writes the model one
//! `ntk fit` process writes, byte for byte, for P = 1, 2, 3 and 1 or 2
//! threads per rank, on the embedded digits with chunks that straddle
//! ranks and messages small enough that reductions cross slab boundaries;
//! `ntk eval` reports the same; `mpirun -np P ntk kernel` writes the exact
//! kernels one process writes; a failed rank ends the job with its message.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::digits;

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("mpi", name)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

const BIN: &str = env!("CARGO_BIN_EXE_ntk");

/// Runs `cmd` to completion within two minutes (killed and failed after).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{cmd:?} did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `mpirun` with the settings containers need (root, no CMA).
fn mpirun(np_args: &[Vec<String>]) -> Output {
    let mut cmd = Command::new("mpirun");
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    for (k, a) in np_args.iter().enumerate() {
        if k > 0 {
            cmd.arg(":");
        }
        cmd.args(a);
    }
    run_bounded(cmd)
}

fn single(args: &[String]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_bounded(cmd)
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// D = 256 (the primal side), chunks of 64 samples: 10 chunks over 600
/// samples, so ranges of 1, 2 and 3 ranks split them 10, 5+5 and 3+3+4.
fn problem(x: &Path, y: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--arch",
        "Dense(W_std=1.4, b_std=0.1), Relu, Dense(W_std=1.4)",
        "--x-train",
        &p(x),
        "--y-train",
        &p(y),
        "--features",
        "256",
        "--method",
        "random",
        "--chunk",
        "64",
        "--seed",
        "7",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn ranks(np: usize, args: &[String]) -> Vec<String> {
    let mut a = vec!["-np".to_string(), np.to_string(), BIN.to_string()];
    a.extend(args.iter().cloned());
    a
}

#[test]
fn mpi_fits_write_the_single_process_model() {
    let d = dir("bitwise");
    let (x, y, v) = digits(&d);
    for (targets, rule) in [
        (
            &y,
            &["--lambda-grid", "0.001,0.1,10", "--val-fraction", "0.25"][..],
        ),
        (
            &v,
            &["--task", "regress", "--lambda-grid", "0.001,0.1,10"][..],
        ),
        (&y, &["--lambda", "0.01", "--dtype", "f64"][..]),
    ] {
        let one = d.join("one.model");
        let _ = std::fs::remove_file(&one);
        let mut a = vec![
            "fit".to_string(),
            "--model".into(),
            p(&one),
            "--threads".into(),
            "1".into(),
        ];
        a.extend(problem(&x, targets, rule));
        assert_ok(&single(&a), "one process");
        let want = std::fs::read(&one).unwrap();
        for (np, threads) in [(1, "2"), (2, "1"), (3, "1"), (3, "2")] {
            let m = d.join(format!("np{np}_{threads}.model"));
            let _ = std::fs::remove_file(&m);
            // 4 KiB messages: the 256-feature sums (33 024 words, 528 KB)
            // travel in 129 slabs.
            let mut a = vec![
                "fit".to_string(),
                "--model".into(),
                p(&m),
                "--threads".into(),
                threads.into(),
                "--slab-bytes".into(),
                "4096".into(),
            ];
            a.extend(problem(&x, targets, rule));
            let out = mpirun(&[ranks(np, &a)]);
            assert_ok(&out, &format!("mpirun -np {np}"));
            assert_eq!(
                std::fs::read(&m).unwrap(),
                want,
                "np {np}, {threads} threads, {rule:?}"
            );
        }
    }
}

#[test]
fn mpi_eval_reports_what_one_process_does() {
    // 600 test samples: three stream blocks of predictions, split between
    // the ranks (2 + 1 and 1 + 1 + 1); regression, so the reported MSE
    // carries every prediction's bits. The single process runs 2 threads,
    // the ranks 1 each (Open MPI binds each to one core): a 3-value grid is
    // scored by Cholesky factorisations, whose bits do not depend on the
    // thread count (an eigendecomposition's do: docs/SCALING.md).
    let d = dir("eval");
    let (x, y, v) = digits(&d);
    for (targets, task) in [(&y, "classify"), (&v, "regress")] {
        let rule = [
            "--lambda-grid",
            "0.001,0.1,10",
            "--task",
            task,
            "--x-test",
            &p(&x),
            "--y-test",
            &p(targets),
        ];
        let json = |out: &Path, np: Option<usize>| {
            let _ = std::fs::remove_file(out);
            let mut a = vec!["eval".to_string(), "--json".into(), p(out)];
            if np.is_none() {
                a.extend(["--threads".to_string(), "2".into()]);
            }
            a.extend(problem(&x, targets, &rule));
            let o = match np {
                None => single(&a),
                Some(np) => mpirun(&[ranks(np, &a)]),
            };
            assert_ok(&o, "eval");
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
            (
                v["accuracy"].clone(),
                v["mse"].clone(),
                v["lambda"].clone(),
                v["lambda_selection"].clone(),
            )
        };
        let want = json(&d.join("one.json"), None);
        match task {
            "classify" => assert!(want.0.as_f64().unwrap() > 0.8, "{want:?}"),
            _ => assert!(want.1.as_f64().unwrap() < 0.05, "{want:?}"),
        }
        assert_eq!(json(&d.join("two.json"), Some(2)), want, "{task}");
        assert_eq!(json(&d.join("three.json"), Some(3)), want, "{task}");
    }
}

#[test]
fn a_failed_rank_ends_the_job_with_its_message() {
    let d = dir("faults");
    let (x, y, _) = digits(&d);
    let bad = d.join("bad.npy");
    std::fs::write(&bad, &std::fs::read(&x).unwrap()[..300]).unwrap();
    let m = d.join("m.model");
    let fit = |xp: &Path, extra: &[&str]| {
        let mut a = vec!["fit".to_string(), "--model".into(), p(&m)];
        a.extend(problem(xp, &y, &["--lambda", "0.1"]));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Rank 1 reads a damaged file: every rank ends, non-zero, with the
    // failing rank's message; nothing is written.
    let out = mpirun(&[ranks(1, &fit(&x, &[])), ranks(1, &fit(&bad, &[]))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("rank 1 of 2") && err.contains("bad.npy"),
        "{err}"
    );
    assert!(!m.exists());
    // A rank killed by a signal (as the out-of-memory killer kills): the
    // job ends, non-zero, within the test's bound, and nothing is written.
    let script = d.join("killed.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then kill -9 $$; fi\nexec \"$@\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut killed = vec!["-np".to_string(), "2".into(), p(&script), BIN.to_string()];
    killed.extend(fit(&x, &[]));
    let out = mpirun(&[killed]);
    assert!(!out.status.success());
    assert!(!m.exists());
    // Ranks given different options.
    let out = mpirun(&[
        ranks(1, &fit(&x, &[])),
        ranks(1, &fit(&x, &["--n-train", "500"])),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("must run the same command"), "{err}");
    assert!(!m.exists());
    // A command that does not run across ranks.
    let k = vec![
        "kernel".to_string(),
        "--arch".into(),
        "Dense()".into(),
        "--x1".into(),
        p(&x),
        "--tile".into(),
        "0/2".into(),
        "--out".into(),
        p(&d.join("k.tile")),
    ];
    let out = mpirun(&[ranks(2, &k)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("run across MPI ranks"), "{err}");
    // An exact kernel whose rank 1 reads a damaged file: the job ends with
    // its message, and the output exists under neither name complete.
    let kernel = |x1: &Path| {
        vec![
            "kernel".to_string(),
            "--arch".into(),
            "Dense(), Relu, Dense()".into(),
            "--x1".into(),
            p(x1),
            "--ntk".into(),
            p(&d.join("k.npy")),
            "--quiet".into(),
        ]
    };
    let out = mpirun(&[ranks(1, &kernel(&x)), ranks(1, &kernel(&bad))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("rank 1 of 2") && err.contains("bad.npy"),
        "{err}"
    );
    assert!(!d.join("k.npy").exists());
}

/// `mpirun -np P ntk kernel` (P = 1, 2, 3, one thread per rank) writes the
/// bytes of one `ntk kernel` process at two threads: every rank writes its
/// tile of columns into the outputs rank 0 created, mirrored for K(X, X).
#[test]
fn mpi_kernels_write_the_single_process_files() {
    let d = dir("kernel");
    let (x, _, _) = digits(&d);
    let set = ntk_data::digits::load();
    let img: Vec<f64> = set.data[..30 * 64]
        .iter()
        .map(|&v| f64::from(v) / 16.0)
        .collect();
    let images = d.join("images.npy");
    common::save(&images, &[30, 8, 8, 1], &img);
    let cases = [
        (
            "Dense(W_std=1.5), FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, \
             Relu, Dense",
            &x,
        ),
        (
            "Conv(out_chan=4, filter_shape=(3, 3), padding='SAME'), Relu, AvgPool((2, 2)), \
             Conv(out_chan=4, filter_shape=(2, 2)), Erf, Flatten(), Dense(1)",
            &images,
        ),
    ];
    for (case, (arch, x1)) in cases.iter().enumerate() {
        let run = |k: &Path, t: &Path| {
            vec![
                "kernel".to_string(),
                "--arch".into(),
                arch.to_string(),
                "--x1".into(),
                p(x1),
                "--nngp".into(),
                p(k),
                "--ntk".into(),
                p(t),
                "--quiet".into(),
            ]
        };
        let (k, t) = (
            d.join(format!("k{case}.npy")),
            d.join(format!("t{case}.npy")),
        );
        let mut one = run(&k, &t);
        one.extend(["--threads".to_string(), "2".into()]);
        assert_ok(&single(&one), "single kernel");
        for np in [1, 2, 3] {
            let (k2, t2) = (
                d.join(format!("k{case}-{np}.npy")),
                d.join(format!("t{case}-{np}.npy")),
            );
            let mut a = run(&k2, &t2);
            a.extend(["--threads".to_string(), "1".into()]);
            assert_ok(&mpirun(&[ranks(np, &a)]), &format!("{np} ranks"));
            for (want, got) in [(&k, &k2), (&t, &t2)] {
                assert_eq!(
                    std::fs::read(want).unwrap(),
                    std::fs::read(got).unwrap(),
                    "case {case}, {np} ranks: {}",
                    got.display()
                );
            }
        }
    }
}
