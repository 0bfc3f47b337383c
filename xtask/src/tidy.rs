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

/// Which workspace crates each crate's `[dependencies]` may name (the table
/// of docs/ARCHITECTURE.md, "Dependency direction"); dev-dependencies are
/// free (tests may use anything). A crate missing here fails the test, so a
/// new crate gets a row in both places.
const ALLOWED_DEPENDENCIES: [(&str, &[&str]); 9] = [
    ("crates/dual-activations", &[]),
    ("crates/sketch-core", &[]),
    ("crates/ntk-solve", &[]),
    ("crates/ntk-data", &[]),
    ("crates/ntk-features", &["dual-activations", "sketch-core"]),
    ("crates/ntk-pipeline", &["ntk-features", "ntk-solve"]),
    // The binaries may use every library.
    ("crates/ntk", &crate::LIBRARIES),
    ("benches", &crate::LIBRARIES),
    ("python", &["ntk-features", "ntk-solve", "ntk-pipeline"]),
];

/// Names of the `[dependencies]` entries of a manifest (not dev- or build-).
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            out.push(name.trim().to_owned());
        }
    }
    out
}

#[test]
fn crate_dependencies_follow_the_architecture_table() {
    let workspace: Vec<String> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut dirs: Vec<String> = workspace.iter().map(|c| format!("crates/{c}")).collect();
    dirs.extend(["benches".to_owned(), "python".to_owned()]);
    for dir in dirs {
        let allowed = ALLOWED_DEPENDENCIES
            .iter()
            .find(|(d, _)| *d == dir)
            .unwrap_or_else(|| {
                panic!("{dir} has no row in ALLOWED_DEPENDENCIES (and docs/ARCHITECTURE.md)")
            })
            .1;
        let manifest = fs::read_to_string(root().join(&dir).join("Cargo.toml")).unwrap();
        for dep in normal_dependencies(&manifest) {
            if workspace.contains(&dep) {
                assert!(
                    allowed.contains(&dep.as_str()),
                    "{dir} depends on {dep}, which the dependency table of docs/ARCHITECTURE.md forbids"
                );
            }
        }
    }
}

/// Source files that may exceed [`LONG_FILE`] lines, each with the reason
/// docs/ARCHITECTURE.md gives.
const LONG_FILES: [(&str, &str); 0] = [];

/// Lines above which a source file under `src/` is split by topic.
const LONG_FILE: usize = 1000;

#[test]
fn source_files_stay_short() {
    let mut long = Vec::new();
    for dir in ["crates", "benches", "xtask/src", "python/src"] {
        for f in rust_files(&root().join(dir)) {
            let rel = f
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !rel.contains("/src/") && !rel.starts_with("xtask/src") {
                continue;
            }
            let lines = fs::read_to_string(&f).unwrap().lines().count();
            if lines > LONG_FILE && !LONG_FILES.iter().any(|(p, _)| *p == rel) {
                long.push(format!("{rel}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these files by topic, or list them in LONG_FILES with the reason ARCHITECTURE.md gives:\n{}",
        long.join("\n")
    );
}

/// The `use` items of a Rust file, each joined onto one line, with whether
/// it is a re-export (`pub use`, `pub(crate) use`, …). Only the part before
/// the first `#[cfg(test)]` counts: test modules may import what they test.
fn use_items(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for line in non_test_part(text).lines() {
        let t = line.trim();
        if let Some((reexport, acc)) = current.as_mut() {
            acc.push_str(t);
            if t.ends_with(';') {
                out.push((*reexport, std::mem::take(acc)));
                current = None;
            }
            continue;
        }
        let (reexport, rest) = if let Some(r) = t.strip_prefix("use ") {
            (false, r)
        } else if t.starts_with("pub") && t.contains(" use ") && !t.contains("fn ") {
            (true, t.split_once(" use ").unwrap().1)
        } else {
            continue;
        };
        if rest.ends_with(';') {
            out.push((reexport, rest.to_owned()));
        } else {
            current = Some((reexport, rest.to_owned()));
        }
    }
    out
}

/// Expands a use tree (`a::{b, c::{d, e as f}}`) into paths of segments
/// (aliases dropped: the path is what is imported).
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], t: &str, out: &mut Vec<Vec<String>>) {
        let t = t.trim();
        let mut p = prefix.to_vec();
        if let Some(open) = t.find('{') {
            p.extend(
                t[..open]
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            // Split `inner` at its top-level commas.
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&p, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(&p, &inner[start..], out);
        } else if let Some(path) = t.split_whitespace().next() {
            p.extend(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go(&[], tree.trim().trim_end_matches(';'), &mut out);
    out
}

/// The modules of one crate's `src/`: module path → file, and each facade's
/// re-exports (item name → the path it re-exports).
struct Modules {
    files: std::collections::BTreeMap<Vec<String>, PathBuf>,
    reexports: std::collections::BTreeMap<Vec<String>, Vec<(String, Vec<String>)>>,
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `path` (as written in module `at`) made absolute from the crate root;
/// `None` for paths into other crates.
fn absolute(m: &Modules, at: &[String], path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (at.to_vec(), &path[1..]),
        "super" => {
            let mut base = at.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A child module of the current one (2018 paths).
        child => {
            let mut p = at.to_vec();
            p.push(child.to_owned());
            if m.files.contains_key(&p) {
                (at.to_vec(), path)
            } else {
                return None;
            }
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file that defines what `path` (absolute) names: its longest module
/// prefix, followed through facades' re-exports.
fn defining_file(m: &Modules, path: &[String], depth: usize) -> Option<PathBuf> {
    let mut k = path.len();
    while k > 0 && !m.files.contains_key(&path[..k]) {
        k -= 1;
    }
    let module = path[..k].to_vec();
    if depth < 8
        && let Some(item) = path.get(k)
        && let Some(re) = m.reexports.get(&module)
        && let Some((_, target)) = re.iter().find(|(name, _)| name == item)
    {
        let mut t = target.clone();
        t.extend(path[k + 1..].iter().cloned());
        return defining_file(m, &t, depth + 1);
    }
    m.files.get(&module).cloned()
}

/// Paths written in code outside `use` items (`crate::a::f(…)`,
/// `super::T`, `child::f(…)`), as segment lists; comments are skipped.
fn inline_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_use = false;
    for line in non_test_part(text).lines() {
        let t = line.trim();
        if t.starts_with("//") {
            continue;
        }
        let starts_use = t.starts_with("use ")
            || (t.starts_with("pub") && t.contains(" use ") && !t.contains("fn "));
        if in_use || starts_use {
            in_use = !t.ends_with(';');
            continue;
        }
        let code = t.split("//").next().unwrap_or(t);
        let bytes: Vec<char> = code.chars().collect();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let mut i = 0;
        while i < bytes.len() {
            if ident(bytes[i]) && (i == 0 || !(ident(bytes[i - 1]) || bytes[i - 1] == ':')) {
                let mut segs = Vec::new();
                let mut j = i;
                loop {
                    let start = j;
                    while j < bytes.len() && ident(bytes[j]) {
                        j += 1;
                    }
                    segs.push(bytes[start..j].iter().collect::<String>());
                    if j + 2 < bytes.len()
                        && bytes[j] == ':'
                        && bytes[j + 1] == ':'
                        && ident(bytes[j + 2])
                    {
                        j += 2;
                    } else {
                        break;
                    }
                }
                if segs.len() > 1 {
                    out.push(segs);
                }
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
    out
}

/// File-level dependency edges of a crate's `src/`: `use` items and paths
/// written in code (re-exports are a facade, not a dependency of the file
/// that makes them; `mod` declarations are not dependencies either).
fn import_edges(src: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut m = Modules {
        files: Default::default(),
        reexports: Default::default(),
    };
    let files = rust_files(src);
    for f in &files {
        m.files.insert(module_path(src, f), f.clone());
    }
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| (f.clone(), fs::read_to_string(f).unwrap()))
        .collect();
    for (f, text) in &texts {
        let at = module_path(src, f);
        for (reexport, item) in use_items(text) {
            if !reexport {
                continue;
            }
            for p in expand_use(&item) {
                if let Some(abs) = absolute(&m, &at, &p) {
                    let name = abs.last().cloned().unwrap_or_default();
                    m.reexports.entry(at.clone()).or_default().push((name, abs));
                }
            }
        }
    }
    let mut edges = Vec::new();
    for (f, text) in &texts {
        let at = module_path(src, f);
        for (reexport, item) in use_items(text) {
            if reexport {
                continue;
            }
            for p in expand_use(&item) {
                if let Some(abs) = absolute(&m, &at, &p)
                    && let Some(target) = defining_file(&m, &abs, 0)
                    && &target != f
                {
                    edges.push((f.clone(), target));
                }
            }
        }
        for p in inline_paths(text) {
            if let Some(abs) = absolute(&m, &at, &p)
                && let Some(target) = defining_file(&m, &abs, 0)
                && &target != f
            {
                edges.push((f.clone(), target));
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// Strongly connected components with more than one file (Tarjan).
fn import_cycles(edges: &[(PathBuf, PathBuf)]) -> Vec<Vec<PathBuf>> {
    let mut nodes: Vec<&PathBuf> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    nodes.sort();
    nodes.dedup();
    let index_of = |p: &PathBuf| nodes.binary_search(&p).unwrap();
    let n = nodes.len();
    let mut adj = vec![Vec::new(); n];
    for (a, b) in edges {
        adj[index_of(a)].push(index_of(b));
    }
    struct T {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(v: usize, adj: &[Vec<usize>], t: &mut T) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &adj[v] {
            match t.index[w] {
                None => {
                    visit(w, adj, t);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(i) if t.on[w] => t.low[v] = t.low[v].min(i),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(v, &adj, &mut t);
        }
    }
    t.out
        .into_iter()
        .map(|c| {
            let mut c: Vec<PathBuf> = c.into_iter().map(|i| nodes[i].clone()).collect();
            c.sort();
            c
        })
        .collect()
}

/// Import cycles that predate the check, in the leaf crates, each with why
/// it stands; the check fails on any other cycle and on an entry that no
/// longer matches one (so the list shrinks as they are removed).
const KNOWN_CYCLES: [(&[&str], &str); 3] = [
    (
        &[
            "crates/dual-activations/src/activation.rs",
            "crates/dual-activations/src/registry.rs",
        ],
        "an activation names a registered jax.nn function, and the registry's entries are activations' pointwise functions",
    ),
    (
        &[
            "crates/dual-activations/src/dual.rs",
            "crates/dual-activations/src/hermite.rs",
            "crates/dual-activations/src/numerical.rs",
        ],
        "the numerical duals and the Hermite coefficients evaluate through DualActivation, which dispatches to them",
    ),
    (
        &[
            "crates/sketch-core/src/real.rs",
            "crates/sketch-core/src/simd.rs",
        ],
        "the sealed Real trait's hidden methods dispatch to the SIMD kernels, which are generic over Real",
    ),
];

#[test]
fn no_import_cycles_between_source_files() {
    let mut crates: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    crates.push(root().join("python/src"));
    let mut report = Vec::new();
    let mut seen_known = Vec::new();
    for src in crates {
        for cycle in import_cycles(&import_edges(&src)) {
            let names: Vec<String> = cycle
                .iter()
                .map(|p| {
                    p.strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            match KNOWN_CYCLES.iter().position(|(files, _)| *files == names) {
                Some(k) => seen_known.push(k),
                None => report.push(names.join(" ⇄ ")),
            }
        }
    }
    assert!(
        report.is_empty(),
        "files that import each other (directly or through others); move what both need into a lower module:\n{}",
        report.join("\n")
    );
    for (k, (files, _)) in KNOWN_CYCLES.iter().enumerate() {
        assert!(
            seen_known.contains(&k),
            "KNOWN_CYCLES lists {files:?}, which is no longer a cycle: remove the entry"
        );
    }
}

#[test]
fn the_import_checker_sees_a_cycle_and_its_absence() {
    // Two files of a scratch crate that import each other, then one that no
    // longer does: the checker must report the first and not the second.
    let dir = std::env::temp_dir().join(format!("ntk-tidy-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use a::Thing;\n").unwrap();
    fs::write(
        src.join("a/mod.rs"),
        "mod inner;\npub(crate) use inner::Thing;\n",
    )
    .unwrap();
    fs::write(
        src.join("a/inner.rs"),
        "use crate::b::{Other, more::{X}};\npub struct Thing;\n",
    )
    .unwrap();
    fs::write(src.join("b.rs"), "use crate::Thing;\npub struct Other;\n").unwrap();
    let cycles = import_cycles(&import_edges(&src));
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0], vec![src.join("a/inner.rs"), src.join("b.rs")]);
    fs::write(src.join("b.rs"), "pub struct Other;\n").unwrap();
    assert!(import_cycles(&import_edges(&src)).is_empty());
    // A path written in code counts as much as a `use`.
    fs::write(
        src.join("b.rs"),
        "pub struct Other;\nfn f() -> crate::a::Thing { crate::a::Thing }\n",
    )
    .unwrap();
    assert_eq!(import_cycles(&import_edges(&src)).len(), 1);
    let _ = fs::remove_dir_all(&dir);
}
