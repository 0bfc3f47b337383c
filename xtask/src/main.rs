//! `cargo xtask <task>`: project automation, std only (it builds fast and
//! links no numeric code; heavy work runs as `cargo run --release`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[cfg(test)]
mod tidy;

type DynError = Box<dyn std::error::Error>;

/// The publishable library crates, in dependency order.
const LIBRARIES: [&str; 6] = [
    "dual-activations",
    "sketch-core",
    "ntk-solve",
    "ntk-data",
    "ntk-features",
    "ntk-pipeline",
];

const HELP: &str = "\
cargo xtask <task>

tasks:
  download     fetch and verify a dataset: `download cifar10`, `download uci NAME`
               (--data-dir DIR or NTK_DATA_DIR, default target/data; --url MIRROR)
  demo         offline main job: exact kernel ridge on the embedded digits (release build)
  reproduce-mnist  the 2021 MNIST comparison on the 5000 embedded digits (offline;
               exact NTK/CNTK against ntksketch, ntkrf, hermite, random, cntksketch)
  reproduce-uci NAME  exact NTK against ntksketch and ntkrf on a UCI regression set
               (protein, ct, workloads, msd; `cargo xtask download uci NAME` first)
  reproduce-cifar  sketched CNTK features against the exact CNTK on CIFAR-10
               (--protocol 2021|2022|both; `cargo xtask download cifar10` first)
               every reproduction writes target/reproduce/<name>/report.{json,md,svg};
               `-- --help` after the task lists its options
  dual-table   print a table of dual kernels (release build)
  ci           fmt --check, clippy -D warnings, rustdoc -D warnings, cargo package of
               the library crates, their builds without default features (sketch-core's
               tests without rayon), every Rust test, the measurement examples on tiny
               sizes, then the Python package's tests (`python` below); `ci --full` adds sketch-core's statistical tests at 10x
               the trials (`slow-tests`, release)
  python       build the Python package (python/, maturin, release) into a venv under
               target/ and run its pytest suite (needs python3 with venv; pip fetches
               maturin, numpy and pytest from PyPI the first time)
  package      `cargo package` of the library crates in dependency order, each built
               from its packaged sources (a few minutes; `ci` packages without the build)
  bench        criterion benchmarks (cargo bench -p ntk-bench)
  bench-peers  README's exact-kernel ratios: `ntk kernel` (release) beside neural-tangents
               on the same inputs, same session (tools/bench_nt_exact.py; workloads 1-5,
               all by default; NT_PYTHON names a Python with neural-tangents, else python3;
               skipped with a message when neural-tangents is not importable)
  mutants      cargo-mutants on dual-activations, sketch-core and ntk-solve (or the crates
               named), test profile, one shard of each (`--shard K/N`, round-robin, default
               all); results under target/mutants/<crate>; needs `cargo install cargo-mutants`;
               not part of `ci` (hours for every mutant on 2 cores)
  mpi          the MPI scale-out tests: `ntk` built with its `mpi` feature and
               crates/ntk/tests/mpi.rs under `mpirun -np 1, 2, 3 --oversubscribe`
               (`--lint` adds clippy on the feature's code)
               (needs Open MPI and libclang: apt-get install openmpi-bin libopenmpi-dev
               libclang-dev; skipped with a message where `mpirun` is missing;
               .ci/run installs them and runs this after `ci`)
  help         this text
";

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<(), DynError> {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("download") => cargo(&["run", "--release", "-p", "ntk", "--", "download"], &rest),
        Some("demo") => cargo(&["run", "--release", "-p", "ntk", "--", "demo"], &rest),
        Some(task @ ("reproduce-mnist" | "reproduce-uci" | "reproduce-cifar")) => {
            let which = task.trim_start_matches("reproduce-");
            let mut args: Vec<String> = rest.clone();
            if let Some(commit) = git_commit() {
                args.extend(["--commit".to_owned(), commit]);
            }
            cargo(
                &["run", "--release", "-p", "ntk", "--", "reproduce", which],
                &args,
            )
        }
        Some("dual-table") => cargo(
            &[
                "run",
                "--release",
                "-p",
                "dual-activations",
                "--example",
                "dual_table",
                "--",
            ],
            &rest,
        ),
        Some("ci") => {
            // `--full` adds the heavy statistical checks (release builds).
            let full = rest.iter().any(|a| a == "--full");
            let rest: Vec<String> = rest.into_iter().filter(|a| a != "--full").collect();
            cargo(&["fmt", "--all", "--", "--check"], &[])?;
            // The Python bindings are their own workspace (python/).
            cargo(
                &[
                    "fmt",
                    "--manifest-path",
                    "python/Cargo.toml",
                    "--",
                    "--check",
                ],
                &[],
            )?;
            let clippy = [
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ];
            cargo(&clippy, &[])?;
            let status = Command::new(cargo_bin())
                .current_dir(project_root())
                .env("RUSTDOCFLAGS", "-D warnings")
                .args(["doc", "--workspace", "--no-deps"])
                .status()?;
            check(status, "cargo doc")?;
            // What crates.io would receive, in dependency order (the local
            // registry overlay lets each see the others unpublished). The
            // full build of each package is `cargo xtask package`.
            cargo(
                &package_args(&["--no-verify"]),
                &["--allow-dirty".to_owned()],
            )?;
            // The crates without their default features still build (their
            // tests too). sketch-core's run-time path without rayon is the
            // one `Par::Seq` takes in the default build (`workers` is 1),
            // which its conformance tests compare with `Par::rayon`; a test
            // run of that build would only compile faer a third time.
            cargo(&["check", "-p", "ntk-data", "--no-default-features"], &[])?;
            cargo(
                &[
                    "check",
                    "-p",
                    "sketch-core",
                    "--no-default-features",
                    "--tests",
                ],
                &[],
            )?;
            cargo(&["test", "--workspace"], &rest)?;
            // The examples behind NUMERICS' measured figures, once each on
            // a tiny size, so that they cannot rot (cargo test built them).
            for (package, example, args) in EXAMPLES {
                let mut a = vec!["run", "-q", "-p", package, "--example", example, "--"];
                a.extend_from_slice(args);
                cargo(&a, &[])?;
            }
            if full {
                // sketch-core's statistical tests at 10× the trials.
                cargo(
                    &[
                        "test",
                        "--release",
                        "-p",
                        "sketch-core",
                        "--features",
                        "slow-tests",
                        "--test",
                        "statistical",
                    ],
                    &[],
                )?;
            }
            // Last, so that the run ends with the test summary. The Rust
            // tests just built target/debug/ntk for their CLI tests.
            python_tests(false)
        }
        Some("python") => python_tests(true),
        Some("package") => cargo(&package_args(&[]), &rest),
        Some("bench") => cargo(&["bench", "-p", "ntk-bench"], &rest),
        Some("bench-peers") => bench_peers(&rest),
        Some("mutants") => mutants(&rest),
        Some("mpi") => mpi_tests(&rest),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`; try `cargo xtask help`").into()),
    }
}

/// `cargo xtask mpi`: the MPI tests, or a visible skip without `mpirun`.
fn mpi_tests(rest: &[String]) -> Result<(), DynError> {
    let found = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!(
            "xtask: mpi: SKIPPED: `mpirun` not found (apt-get install openmpi-bin \
             libopenmpi-dev libclang-dev)"
        );
        return Ok(());
    }
    // `--lint`: clippy on the feature's code too (a minute more; the
    // `ci` clippy pass builds without the feature).
    let lint = rest.iter().any(|a| a == "--lint");
    let rest: Vec<String> = rest.iter().filter(|a| *a != "--lint").cloned().collect();
    if lint {
        cargo(
            &[
                "clippy",
                "--workspace",
                "--features",
                "ntk/mpi",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )?;
    }
    // The workspace's feature resolution, so that little builds again
    // after `ci`.
    cargo(
        &[
            "test",
            "--workspace",
            "--features",
            "ntk/mpi",
            "--test",
            "mpi",
        ],
        &rest,
    )?;
    python_mpi_tests()
}

/// `python/tests_mpi/mpi_fit.py` (outside `tests/`, whose every file
/// pytest imports for its doctests, and which must not need mpi4py) under `mpiexec -n 1, 2, 3` (`ntk.distributed`
/// against one process), or a visible skip where mpi4py does not install.
fn python_mpi_tests() -> Result<(), DynError> {
    let bin = python_venv()?;
    if pip(&bin, &["mpi4py>=3.1"]).is_err() {
        println!("xtask: mpi: Python SKIPPED: mpi4py does not install here");
        return Ok(());
    }
    let script = project_root()
        .join("python")
        .join("tests_mpi")
        .join("mpi_fit.py");
    for np in ["1", "2", "3"] {
        let mut child = Command::new("mpiexec")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
            .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
            .args(["-n", np])
            .arg(bin.join("python"))
            .arg(&script)
            .spawn()?;
        // A hung job fails the step instead of the whole CI run.
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if start.elapsed() > std::time::Duration::from_secs(300) {
                let _ = child.kill();
                return Err(format!("mpiexec -n {np} mpi_fit.py did not end in 300 s").into());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        check(
            status,
            &format!("mpiexec -n {np} python/tests_mpi/mpi_fit.py"),
        )?;
    }
    Ok(())
}

/// The measurement examples `ci` runs on tiny sizes: package, example,
/// arguments.
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    ("dual-activations", "numerical_accuracy", &[]),
    ("ntk-features", "exact_bound", &[]),
    ("ntk-features", "spectral", &["hermite", "20", "5"]),
    (
        "ntk-features",
        "feature_error",
        &[
            "Dense(W_std=1.5), FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, Relu, Dense",
            "64",
            "8",
            "5",
        ],
    ),
];

/// `cargo package` of every library crate, with `extra` flags.
fn package_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["package"];
    args.extend_from_slice(extra);
    for c in LIBRARIES {
        args.extend(["-p", c]);
    }
    args
}

/// The venv under `target/python-venv` with maturin, numpy and pytest and
/// this checkout's extension built into it (in release); its `bin`.
fn python_venv() -> Result<PathBuf, DynError> {
    let root = project_root();
    let python = env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let venv = root.join("target").join("python-venv");
    let bin = venv.join("bin");
    if !bin.join("python").exists() {
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| {
                format!(
                    "cannot run `{python}` ({e}): the Python package's tests need Python 3.9+ \
                     with venv (set PYTHON to choose the interpreter)"
                )
            })?;
        check(status, &format!("{python} -m venv {}", venv.display()))?;
    }
    pip(&bin, &["maturin>=1.5,<2", "numpy>=1.21", "pytest>=7"])?;
    let path = format!("{}:{}", bin.display(), env::var("PATH").unwrap_or_default());
    let build = Command::new(bin.join("maturin"))
        .current_dir(root.join("python"))
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path)
        .args(["develop", "--release", "--quiet"])
        .status()?;
    check(build, "maturin develop --release (python/)")?;
    Ok(bin)
}

/// `pip install` of `packages` into the venv of `bin`.
fn pip(bin: &Path, packages: &[&str]) -> Result<(), DynError> {
    let status = Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages)
        .status()?;
    check(status, &format!("pip install {}", packages.join(" ")))
}

/// Builds the Python package into `target/python-venv` and runs its tests
/// against the `ntk` binary of this checkout (built first if `build_cli`;
/// `cargo test --workspace` leaves it in target/debug).
fn python_tests(build_cli: bool) -> Result<(), DynError> {
    let root = project_root();
    // The CLI the tests compare against: this checkout's, whatever is on PATH.
    if build_cli {
        cargo(&["build", "-p", "ntk"], &[])?;
    }
    let bin = python_venv()?;
    let ntk_bin = root.join("target").join("debug").join("ntk");
    let tests = Command::new(bin.join("python"))
        .current_dir(root.join("python"))
        .env("NTK_BIN", &ntk_bin)
        .args(["-m", "pytest", "-q", "tests", "--doctest-modules", "ntk"])
        .status()?;
    check(tests, "pytest (python/)")
}

/// `cargo xtask bench-peers [1 2 3 4 5]`: `tools/bench_nt_exact.py` with
/// the release `ntk` binary, or a message (and success) when the chosen
/// Python cannot import neural-tangents.
fn bench_peers(rest: &[String]) -> Result<(), DynError> {
    let root = project_root();
    let python = env::var("NT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let importable = Command::new(&python)
        .args(["-c", "import jax, neural_tangents"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !importable {
        println!(
            "bench-peers skipped: `{python}` cannot import neural-tangents and jax. Set NT_PYTHON \
             to a Python that can, e.g. after\n  python3 -m venv target/ntenv && target/ntenv/bin/pip \
             install 'jax[cpu]==0.4.23' 'neural-tangents==0.6.5' 'scipy<1.13' 'numpy<2'\n\
             then NT_PYTHON=target/ntenv/bin/python cargo xtask bench-peers"
        );
        return Ok(());
    }
    cargo(&["build", "--release", "-p", "ntk"], &[])?;
    let ntk = root.join("target").join("release").join("ntk");
    let status = Command::new(&python)
        .current_dir(&root)
        .arg("tools/bench_nt_exact.py")
        .arg("--ntk")
        .arg(&ntk)
        .args(rest)
        .status()?;
    check(status, "python tools/bench_nt_exact.py")
}

/// The crates whose mutation score docs/NUMERICS.md records.
const MUTATED: [&str; 3] = ["dual-activations", "sketch-core", "ntk-solve"];

/// `cargo xtask mutants [--shard K/N] [CRATE...]`: cargo-mutants per crate,
/// each crate's own tests (the test profile, optimised, as `ci` runs them),
/// outputs in `target/mutants/<crate>`.
fn mutants(rest: &[String]) -> Result<(), DynError> {
    let mut shard = None;
    let mut crates = Vec::new();
    let mut args = rest.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--shard" => {
                let s = args.next().ok_or("--shard needs K/N, e.g. 0/10")?;
                shard = Some(s.clone());
            }
            c if LIBRARIES.contains(&c) => crates.push(c.to_owned()),
            other => {
                return Err(format!(
                    "unknown argument `{other}`: expected --shard K/N or a library crate ({})",
                    LIBRARIES.join(", ")
                )
                .into());
            }
        }
    }
    if crates.is_empty() {
        crates = MUTATED.iter().map(|c| (*c).to_owned()).collect();
    }
    let found = Command::new(cargo_bin())
        .args(["mutants", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        return Err(
            "cargo-mutants is not installed: `cargo install --locked cargo-mutants`".into(),
        );
    }
    for c in &crates {
        let out = format!("target/mutants/{c}");
        let mut cmd = vec![
            "mutants",
            "-p",
            c.as_str(),
            "--output",
            out.as_str(),
            "--timeout-multiplier",
            "3",
            "--minimum-test-timeout",
            "60",
        ];
        if let Some(s) = &shard {
            cmd.extend(["--shard", s.as_str(), "--sharding", "round-robin"]);
        }
        // cargo-mutants exits non-zero when a mutant survives: report and
        // go on to the next crate.
        if let Err(e) = cargo(&cmd, &[]) {
            println!("{c}: {e} (missed mutants are listed in {out}/mutants.out/missed.txt)");
        }
    }
    Ok(())
}

/// The checked-out commit, for the reports (None outside a git checkout).
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .current_dir(project_root())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let c = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !c.is_empty()).then_some(c)
}

fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str], extra: &[String]) -> Result<(), DynError> {
    let status = Command::new(cargo_bin())
        .current_dir(project_root())
        .args(args)
        .args(extra)
        .status()?;
    check(status, &format!("cargo {}", args.join(" ")))
}

fn check(status: std::process::ExitStatus, what: &str) -> Result<(), DynError> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{what}` failed ({status})").into())
    }
}
