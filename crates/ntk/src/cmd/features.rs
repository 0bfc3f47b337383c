//! `ntk features`: explicit features Z (n, D′) with Z Zᵀ ≈ the kernel,
//! written as `.npy`, and their check against the exact kernel; and the
//! feature-map flags turned into a [`FeatureSpec`] (for `eval` and `fit
//! --features D` too).

use std::path::Path;
use std::time::Instant;

use crate::arrays::{Samples, read_samples};
use crate::cli::{FeatureArgs, FeaturesArgs};
use crate::ctx::{Ctx, build, outputs_writable};
use crate::error::{Result, usage};
use crate::report::{table, write_json};
use crate::stream::with_stream;
use ntk_data::files;
use ntk_data::npy::NpyElement;
use ntk_features::{FeatureMap, KernelKind, Method, Shape};
use ntk_pipeline::{AnyMap, Check, FeatureSpec, Options, Scalar};
use serde_json::json;

/// The feature map `--method …` asks for, `dim` features approximating
/// `kernel`, seeded by `seed`.
pub(crate) fn spec_of(
    a: &FeatureArgs,
    dim: usize,
    kernel: KernelKind,
    seed: u64,
) -> Result<FeatureSpec> {
    let method: Method = a.method.parse()?;
    let options = Options {
        degree: a.degree,
        tolerance: a.tolerance,
        inner_dim: a.inner_dim,
        node_dim: a.node_dim,
        polynomial: a.polynomial.parse()?,
        calibrate: a.calibrate,
        ..Options::default()
    };
    Ok(options.spec(dim, method, kernel, seed, a.dtype))
}

fn human_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// `ntk features`.
pub(crate) fn run(ctx: &Ctx, a: &FeaturesArgs) -> Result<()> {
    let (arch_text, x_path, dim, args, kernel) = (
        a.arch.as_str(),
        a.x.as_path(),
        a.dim,
        &a.feature_args,
        a.kernel,
    );
    let (out, json_out) = (a.out.as_path(), a.json.as_deref());
    outputs_writable(&[Some(out), json_out], ctx.common.force)?;
    let t0 = Instant::now();
    let x = read_samples(x_path)?;
    let arch = build(arch_text, x.shape)?;
    let mut spec = spec_of(args, dim, kernel, ctx.common.seed)?;
    spec.fit_polynomials(&arch, &x.data, x.n, x.shape)?;
    let map = AnyMap::new(&arch, x.shape, &spec)?;
    let d_out = map.dim();
    let bytes = (x.n as f64) * (d_out as f64) * spec.dtype.bytes() as f64;
    ctx.say(&table(&[
        (
            "features",
            format!("{} x {d_out} ({})", x.n, spec.dtype.name()),
        ),
        (
            "output",
            format!("{} on disk, written as it is computed", human_bytes(bytes)),
        ),
    ]));
    let t1 = Instant::now();
    match &map {
        AnyMap::F32(m) => run_features(ctx, m, &x, out, d_out)?,
        AnyMap::F64(m) => run_features(ctx, m, &x, out, d_out)?,
    }
    let t_features = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let check = Check {
        arch: &arch,
        samples: a.check,
        seed: ctx.common.seed,
    };
    let checked = check.error(&map, &x.data, ctx.par)?;
    let t_check = t2.elapsed().as_secs_f64();
    let mut rows = vec![
        ("architecture", arch.to_string()),
        ("method", spec.config.method.name().to_owned()),
        ("output", format!("{} x {d_out} -> {}", x.n, out.display())),
        ("seconds", format!("{t_features:.3}")),
        (
            "per sample",
            format!("{:.3} ms", 1e3 * t_features / x.n as f64),
        ),
    ];
    if d_out < dim {
        // Say why the output is narrower than asked, and what widens it.
        let why = match x.shape {
            Shape::Image { .. } => format!(
                "the last layer holds {d_out} values per sample (the per-position budget); --inner-dim M raises it"
            ),
            Shape::Vector { .. } => format!("this map's output has at most {d_out} coordinates"),
        };
        rows.push((
            "note",
            format!("{d_out} features, not the {dim} requested: {why}"),
        ));
    }
    if let Some((n, e)) = checked {
        rows.push((
            "check",
            format!("relative error {:.3} % on {n} samples", 100.0 * e),
        ));
    }
    let summary = json!({
        "command": "features",
        "architecture": arch.to_string(),
        "x": x_path.display().to_string(),
        "n": x.n,
        "dim": d_out,
        "requested_dim": dim,
        "degrees": map.degrees(),
        "features": spec.to_json(),
        "out": out.display().to_string(),
        "check": checked.map(|(n, e)| json!({"samples": n, "relative_frobenius_error": e, "seconds": t_check})),
        "timings_s": { "features": t_features, "total": t0.elapsed().as_secs_f64() },
        "threads": ctx.threads,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(p) = json_out {
        write_json(p, &summary, ctx.common.force)?;
    }
    ctx.say(&table(&rows));
    Ok(())
}

/// Features of all of `x`, written to `out` as `(n, D′)` while they are
/// computed: each block goes to a writer thread through a channel of two
/// blocks, so the encoding and the write overlap the next blocks' features.
/// Memory holds a few blocks (the stream's buffer, the block being sent,
/// two in the channel, the one being written), never the whole output. A
/// failed stream or write leaves no file under either name (the writer
/// counts the elements it receives and removes its temporary on any error).
fn run_features<T: Scalar + NpyElement + Send>(
    ctx: &Ctx,
    map: &FeatureMap<T>,
    x: &Samples,
    out: &Path,
    d_out: usize,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(2);
    let force = ctx.common.force;
    let mut writer_stopped = false;
    std::thread::scope(|scope| {
        let writer =
            scope.spawn(move || files::write_npy_blocks(out, &[x.n, d_out], rx.into_iter(), force));
        let streamed = with_stream(ctx, x, "features", |s| {
            ntk_pipeline::stream(map, &x.data, s, &mut |_, z| {
                // (n, D′) row-major is the column-major (D′, n) matrix.
                let mut block = Vec::with_capacity(z.nrows() * z.ncols());
                for j in 0..z.ncols() {
                    let col = z.col(j);
                    match col.try_as_col_major() {
                        Some(c) => block.extend_from_slice(c.as_slice()),
                        None => block.extend(col.iter().copied()),
                    }
                }
                tx.send(block).map_err(|_| {
                    writer_stopped = true;
                    usage("the output writer stopped")
                })
            })
        });
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The first cause: the writer's error if it stopped the stream,
        // else the stream's (a short stream makes the writer fail too).
        match (streamed, written) {
            (_, Err(w)) if writer_stopped => Err(w.into()),
            (Err(e), _) => Err(e),
            (Ok(()), w) => Ok(w?),
        }
    })
}
