//! `cargo xtask <task>`: project automation, std only (it builds fast and
//! links no numeric code; heavy work runs as `cargo run --release`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[cfg(test)]
mod tidy;

type DynError = Box<dyn std::error::Error>;

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
  ci           fmt --check, clippy -D warnings, rustdoc -D warnings, then every test
  bench        criterion benchmarks (cargo bench -p ntk-bench)
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
            cargo(&["fmt", "--all", "--", "--check"], &[])?;
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
            // Last, so that the run ends with the test summary.
            cargo(&["test", "--workspace"], &rest)
        }
        Some("bench") => cargo(&["bench", "-p", "ntk-bench"], &rest),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`; try `cargo xtask help`").into()),
    }
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
