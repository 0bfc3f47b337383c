//! The context every command runs in and the services they all share: the
//! thread pool, quiet-aware output, the checks of output files before any
//! work, the data directory, and exact kernels behind a memory check.

use std::path::{Path, PathBuf};

use crate::arrays::Samples;
use crate::cli::Common;
use crate::error::{Result, usage};
use crate::report::Progress;
use faer::Par;
use ntk_data::files;
use ntk_features::{ArchSpec, Architecture, Kernels, Shape, kernel_memory, kernels};

#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) common: Common,
    pub(crate) par: Par,
    pub(crate) threads: usize,
    /// Where feature blocks are cached (`None`: computed every time); see
    /// `stream::with_stream`.
    pub(crate) feature_cache: Option<PathBuf>,
    /// This process's MPI job, when `mpirun` started it (feature `mpi`).
    pub(crate) cluster: Option<std::sync::Arc<crate::cluster::Cluster>>,
}

impl Ctx {
    /// The context of one run and the thread pool its work runs on
    /// (`--threads`, default: all cores).
    pub(crate) fn start(common: Common) -> Result<(Self, rayon::ThreadPool)> {
        let threads = match common.threads {
            Some(0) => return Err(usage("--threads must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| usage(format!("cannot start {threads} threads: {e}")))?;
        let ctx = Ctx {
            common,
            par: if threads == 1 {
                Par::Seq
            } else {
                Par::rayon(threads)
            },
            threads,
            feature_cache: None,
            cluster: None,
        };
        Ok((ctx, pool))
    }

    /// Whether this process writes the outputs: always, unless it is a
    /// rank other than 0 of an MPI job.
    pub(crate) fn is_root(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.rank() == 0)
    }

    pub(crate) fn say(&self, text: &str) {
        if !self.common.quiet {
            stdout_text(text);
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`ntk … | head` must not panic;
/// the results are already in their files).
pub(crate) fn stdout_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub(crate) fn outputs_writable(paths: &[Option<&Path>], force: bool) -> Result<()> {
    for p in paths.iter().flatten() {
        files::check_writable(p, force)?;
    }
    // Two outputs naming the same file would overwrite each other.
    let named: Vec<&Path> = paths.iter().flatten().copied().collect();
    for (i, a) in named.iter().enumerate() {
        if named[i + 1..].contains(a) {
            return Err(usage(format!("{} is given for two outputs", a.display())));
        }
    }
    Ok(())
}

pub(crate) fn build(spec_text: &str, shape: Shape) -> Result<Architecture> {
    Ok(ArchSpec::parse(spec_text)?.build(shape)?)
}

pub(crate) fn compute(
    ctx: &Ctx,
    arch: &Architecture,
    x1: &Samples,
    x2: Option<&Samples>,
    label: &str,
) -> Result<Kernels> {
    check_memory(ctx, arch, x1, x2)?;
    let mut progress = Progress::new(label, ctx.common.quiet);
    let k = kernels(
        arch,
        x1.input(),
        x2.map(Samples::input),
        ctx.par,
        &mut |done, total| progress.update(done, total),
    )?;
    progress.finish();
    Ok(k)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (None where unknown).
fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Refuses, before any work, an exact kernel that cannot fit in memory,
/// naming the estimate and the feature-map alternative; `--force` tries anyway.
fn check_memory(ctx: &Ctx, arch: &Architecture, x1: &Samples, x2: Option<&Samples>) -> Result<()> {
    let need = kernel_memory(arch, x1.shape, x1.n, x2.map_or(x1.n, |x| x.n), ctx.threads);
    let gb = |b: f64| b / 1e9;
    match available_memory() {
        Some(avail) if need > avail && !ctx.common.force => Err(usage(format!(
            "the exact kernel needs about {:.1} GB ({} x {} matrices), more than the {:.1} GB available; \
             use --features D for explicit features (memory linear in n), or --force to try anyway",
            gb(need),
            x1.n,
            x2.map_or(x1.n, |x| x.n),
            gb(avail)
        ))),
        _ => Ok(()),
    }
}

/// `--data-dir`, else `$NTK_DATA_DIR`, else `target/data`.
pub(crate) fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("NTK_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/data"))
}

/// CIFAR-10 from `dir` (default: [`data_dir`]), or a message naming both
/// ways to get it there.
pub(crate) fn load_cifar10(dir: Option<PathBuf>) -> Result<ntk_data::cifar::Cifar10> {
    let dir = data_dir(dir);
    files::load_cifar10(&dir).map_err(|e| {
        usage(format!(
            "CIFAR-10 is not usable in {}: {e}; run `ntk download cifar10` (or `cargo xtask download cifar10`), \
             or put cifar-10-binary.tar.gz there and run it, or the six .bin files by hand",
            dir.display()
        ))
    })
}
