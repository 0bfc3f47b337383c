//! `ntk kernel`: exact NNGP and NTK matrices K(X1, X2) as `.npy`, streamed
//! row by row from the computed kernels.

use std::path::Path;
use std::time::Instant;

use crate::arrays::{read_samples, same_shape};
use crate::ctx::{Ctx, build, compute, outputs_writable};
use crate::error::Result;
use crate::report::{table, write_json};
use faer::MatRef;
use ntk_data::files;
use serde_json::json;

/// The entries of `m` row by row (C order), without a copy.
fn rows(m: MatRef<'_, f64>) -> impl Iterator<Item = f64> + '_ {
    (0..m.nrows()).flat_map(move |i| (0..m.ncols()).map(move |j| m[(i, j)]))
}

/// `ntk kernel`.
pub(crate) fn run(
    ctx: &Ctx,
    arch_text: &str,
    x1: &Path,
    x2: Option<&Path>,
    nngp: Option<&Path>,
    ntk: Option<&Path>,
    json: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[nngp, ntk, json], ctx.common.force)?;
    let t0 = Instant::now();
    let a = read_samples(x1)?;
    let b = x2.map(read_samples).transpose()?;
    if let Some(b) = &b {
        same_shape(&a, b, &x2.expect("given").display().to_string())?;
    }
    let arch = build(arch_text, a.shape)?;
    let k = compute(ctx, &arch, &a, b.as_ref(), "kernel")?;
    let seconds = t0.elapsed().as_secs_f64();
    let shape = [k.nngp.nrows(), k.nngp.ncols()];
    // Rows streamed straight from the column-major matrices: no C-order
    // copy and no file image in memory, so the peak is the two kernels.
    if let Some(p) = nngp {
        files::write_npy_iter(p, &shape, rows(k.nngp.as_ref()), ctx.common.force)?;
    }
    if let Some(p) = ntk {
        files::write_npy_iter(p, &shape, rows(k.ntk.as_ref()), ctx.common.force)?;
    }
    let summary = json!({
        "command": "kernel",
        "architecture": arch.to_string(),
        "x1": x1.display().to_string(),
        "x2": x2.map(|p| p.display().to_string()),
        "shape": shape,
        "nngp": nngp.map(|p| p.display().to_string()),
        "ntk": ntk.map(|p| p.display().to_string()),
        "seconds": seconds,
        "threads": ctx.threads,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(p) = json {
        write_json(p, &summary, ctx.common.force)?;
    }
    ctx.say(&table(&[
        ("kernel", format!("{} x {}", shape[0], shape[1])),
        ("seconds", format!("{seconds:.3}")),
    ]));
    Ok(())
}
