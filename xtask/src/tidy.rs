//! Repository hygiene checks, run as ordinary tests by `cargo test`
//! (rust-analyzer's `tidy.rs` pattern): they keep the architecture invariants
//! of docs/ARCHITECTURE.md true without relying on review alone.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    crate::project_root()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Library sources: `crates/*/src` of crates with a `lib.rs`, except
/// `main.rs` and `bin/` (binary-only crates such as `ntk` print by design).
fn library_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for krate in fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
    {
        if !krate.path().join("src/lib.rs").exists() {
            continue;
        }
        for f in rust_files(&krate.path().join("src")) {
            let s = f.to_string_lossy();
            if !s.ends_with("main.rs") && !s.contains("/bin/") {
                out.push(f);
            }
        }
    }
    out
}

/// Lines of `text` outside `#[cfg(test)]` modules (everything after the first
/// `#[cfg(test)]` is test code by the house layout).
fn non_test_part(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn libraries_do_not_print() {
    let forbidden = ["println!(", "print!(", "eprintln!(", "eprint!(", "dbg!("];
    for f in library_sources() {
        let text = fs::read_to_string(&f).unwrap();
        for pat in forbidden {
            assert!(
                !non_test_part(&text).contains(pat),
                "{} uses {pat}: libraries return values and errors",
                f.display()
            );
        }
    }
}

#[test]
fn libraries_do_not_read_the_environment_or_do_io() {
    let forbidden = [
        "std::env::",
        "env::var(",
        "std::fs::",
        "fs::read",
        "File::open",
        "File::create",
        "std::net::",
    ];
    // The data crate's file and network modules are its I/O boundary.
    let io_boundary = ["ntk-data/src/files.rs", "ntk-data/src/download.rs"];
    for f in library_sources() {
        let text = fs::read_to_string(&f).unwrap();
        let is_boundary = io_boundary.iter().any(|b| f.ends_with(b));
        for pat in forbidden {
            if is_boundary && !pat.contains("env") {
                continue;
            }
            assert!(
                !non_test_part(&text).contains(pat),
                "{} uses {pat}: libraries take inputs as arguments",
                f.display()
            );
        }
    }
}

#[test]
fn no_ambient_randomness() {
    let forbidden = [
        "thread_rng",
        "rand::rng()",
        "from_entropy",
        "from_os_rng",
        "StdRng",
        "SmallRng",
    ];
    for dir in ["crates", "benches", "xtask/src"] {
        for f in rust_files(&root().join(dir)) {
            if f.ends_with("tidy.rs") {
                continue;
            }
            let text = fs::read_to_string(&f).unwrap();
            for pat in forbidden {
                assert!(
                    !text.contains(pat),
                    "{} uses {pat}: draw from seeded ChaCha streams",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn no_stubs_in_shipped_code() {
    for dir in ["crates", "benches", "xtask/src"] {
        for f in rust_files(&root().join(dir)) {
            if f.ends_with("tidy.rs") || f.to_string_lossy().contains("/tests/") {
                continue;
            }
            let text = fs::read_to_string(&f).unwrap();
            // Built with concat! so this file does not contain the literals it bans.
            for pat in [concat!("todo", "!("), concat!("unimplemented", "!(")] {
                assert!(!text.contains(pat), "{} contains {pat}", f.display());
            }
        }
    }
}

#[test]
fn member_manifests_take_versions_from_the_workspace() {
    let mut manifests: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("Cargo.toml"))
        .collect();
    manifests.push(root().join("benches/Cargo.toml"));
    manifests.push(root().join("xtask/Cargo.toml"));
    for m in manifests {
        let text = fs::read_to_string(&m).unwrap();
        let mut in_deps = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line.contains("dependencies");
                continue;
            }
            if in_deps && !line.is_empty() && !line.starts_with('#') {
                assert!(
                    line.contains("workspace = true"),
                    "{}: `{line}` must use `{{ workspace = true }}`",
                    m.display()
                );
            }
        }
    }
}

#[test]
fn readme_commands_and_ci_agree() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let ci = fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        readme.contains("cargo xtask ci"),
        "README must show the test command"
    );
    assert!(
        ci.lines().any(|l| l.trim() == "cargo xtask ci"),
        ".ci/run must run exactly the README's test command"
    );
    assert!(
        root().join("Cargo.lock").exists(),
        "Cargo.lock is committed"
    );
}
