//! `ntk gram`: feature ridge on job arrays without MPI. `--shard I/N`
//! featurises the I-th of N contiguous ranges of chunks of the training set
//! (plus its first samples, which fix the grid of the exact sums) and writes
//! their exact sums to an accumulator file; `merge` adds such files in any
//! order; `ntk fit --gram FILE...` solves them into the model one process
//! would have written, byte for byte.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::arrays::row_major;
use crate::cli::{GramArgs, GramCommand, Training};
use crate::cmd::features::spec_of;
use crate::cmd::training::{arch_text, cifar_of, fit_polynomials, load_train, prep_flags, ridge};
use crate::ctx::{Ctx, build, outputs_writable};
use crate::error::{Result, usage};
use crate::gram::{GramFile, f64_bits, parse_bits};
use crate::model::{FeatureModel, Task};
use crate::prep::Prep;
use crate::report::table;
use crate::stream::{data_fingerprint, feature_lambda, feature_targets, featurise_shard};
use ntk_data::files;
use ntk_features::Shape;
use ntk_pipeline::{AnyMap, FeatureRidge, FeatureSpec, Lambda, shard_chunks};
use serde_json::{Map, Value, json};

pub(crate) fn run(ctx: &Ctx, a: &GramArgs) -> Result<()> {
    match &a.merge {
        Some(GramCommand::Merge { files, out }) => merge(ctx, files, out),
        None => shard(
            ctx,
            &a.train,
            a.shard.as_deref().expect("required by clap"),
            a.out.as_deref().expect("required by clap"),
        ),
    }
}

/// `I/N` with `0 <= I < N`.
fn parse_shard(s: &str) -> Result<(usize, usize)> {
    super::kernel::parse_part("--shard", s)
}

fn shape_of(v: Option<&Value>) -> Option<Shape> {
    let d: Vec<usize> = v?
        .as_array()?
        .iter()
        .map(|x| x.as_u64().map(|x| x as usize))
        .collect::<Option<_>>()?;
    match d.as_slice() {
        [dim] if *dim > 0 => Some(Shape::Vector { dim: *dim }),
        [h, w, c] if h * w * c > 0 => Some(Shape::Image {
            h: *h,
            w: *w,
            c: *c,
        }),
        _ => None,
    }
}

fn shape_json(s: Shape) -> Value {
    match s {
        Shape::Vector { dim } => json!([dim]),
        Shape::Image { h, w, c } => json!([h, w, c]),
    }
}

/// The λ rule as JSON: values for people, bits for exactness.
fn lambda_json(l: &Lambda<'_>) -> Value {
    match *l {
        Lambda::Given(v) => json!({"given": v, "given_bits": f64_bits(v)}),
        Lambda::Split {
            grid,
            val_fraction,
            seed,
        } => json!({
            "grid": grid,
            "grid_bits": grid.iter().map(|&g| f64_bits(g)).collect::<Vec<_>>(),
            "val_fraction": val_fraction,
            "val_fraction_bits": f64_bits(val_fraction),
            "seed": seed,
        }),
    }
}

/// The recorded rule: `(given λ, grid, val_fraction, seed)`.
type Rule = (Option<f64>, Vec<f64>, f64, u64);

fn lambda_rule(v: Option<&Value>, what: &Path) -> Result<Rule> {
    let bad = || {
        usage(format!(
            "{}: the accumulator's 'lambda' record is malformed",
            what.display()
        ))
    };
    let v = v.ok_or_else(bad)?;
    if let Some(b) = v.get("given_bits") {
        let l = parse_bits(b).filter(|l| l.is_finite() && *l >= 0.0);
        return Ok((Some(l.ok_or_else(bad)?), Vec::new(), 0.0, 0));
    }
    let grid: Vec<f64> = v
        .get("grid_bits")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(parse_bits).collect::<Option<Vec<_>>>())
        .filter(|g| !g.is_empty() && g.iter().all(|l| l.is_finite() && *l >= 0.0))
        .ok_or_else(bad)?;
    let fraction = v
        .get("val_fraction_bits")
        .and_then(parse_bits)
        .filter(|f| *f > 0.0 && *f < 1.0)
        .ok_or_else(bad)?;
    let seed = v.get("seed").and_then(Value::as_u64).ok_or_else(bad)?;
    Ok((None, grid, fraction, seed))
}

fn shard(ctx: &Ctx, t: &Training, which: &str, out: &Path) -> Result<()> {
    outputs_writable(&[Some(out)], ctx.common.force)?;
    let (i, of) = parse_shard(which)?;
    let dim = t.features.ok_or_else(|| {
        usage("ntk gram sums explicit features: give --features D (exact kernels use ntk kernel)")
    })?;
    if !t.gram.is_empty() {
        return Err(usage("--gram is for ntk fit"));
    }
    if prep_flags(t).any() {
        return Err(usage(
            "ntk gram does not take --standardize, --normalize or --zca: shards would each fit \
             them; preprocess the inputs once beforehand",
        ));
    }
    if t.chunk == 0 {
        return Err(usage("--chunk must be at least 1"));
    }
    let t0 = Instant::now();
    let cifar = cifar_of(t)?;
    let (data, _) = load_train(t, cifar.as_ref())?;
    drop(cifar);
    let arch = build(arch_text(t)?, data.x.shape)?;
    let mut spec = spec_of(&t.feature_args, dim, t.kernel, ctx.common.seed)?;
    fit_polynomials(&mut spec, &arch, &data)?;
    let map = AnyMap::new(&arch, data.x.shape, &spec)?;
    let r = ridge(t);
    let lambda = feature_lambda(&r, ctx.common.seed)?;
    let n = data.x.n;
    let chunks = n.div_ceil(t.chunk);
    let range = shard_chunks(chunks, i, of);
    let (a, b) = ((range.start * t.chunk).min(n), (range.end * t.chunk).min(n));
    let fr =
        FeatureRidge::for_chunks(&map, feature_targets(&data), lambda, t.chunk, range.clone())?;
    let shard = featurise_shard(ctx, &map, &data, fr, range.clone(), t.chunk)?;
    let data_print = data_fingerprint(&data)?;
    let mut problem = Map::new();
    problem.insert("architecture".into(), json!(arch.to_string()));
    problem.insert("input_shape".into(), shape_json(data.x.shape));
    problem.insert("features".into(), spec.to_json());
    problem.insert("task".into(), json!(data.task.name()));
    problem.insert("lambda".into(), lambda_json(&lambda));
    problem.insert("data".into(), json!(format!("{data_print:016x}")));
    problem.insert("samples".into(), json!(n));
    problem.insert("chunk".into(), json!(t.chunk));
    problem.insert("dim".into(), json!(map.dim()));
    problem.insert("outputs".into(), json!(data.y.nrows()));
    problem.insert("dtype".into(), json!(spec.dtype.name()));
    let sc = shard.sums().scale();
    problem.insert("scale".into(), json!({"gram": sc.gram, "cross": sc.cross}));
    let file = GramFile { problem, shard };
    files::write_new(out, &file.to_bytes(), ctx.common.force)?;
    ctx.say(&table(&[
        ("shard", format!("{i}/{of}")),
        (
            "chunks",
            format!("{}..{} of {chunks}", range.start, range.end),
        ),
        ("samples", format!("{a}..{b} of {n}")),
        ("accumulator", out.display().to_string()),
        ("seconds", format!("{:.3}", t0.elapsed().as_secs_f64())),
    ]));
    Ok(())
}

/// Chunk ranges as `a..b, c..d`, each after `prefix`.
fn ranges_text(ranges: &[std::ops::Range<usize>], prefix: &str) -> String {
    ranges
        .iter()
        .map(|r| format!("{prefix}{}..{}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first key whose value differs between two problems.
fn first_difference(a: &Map<String, Value>, b: &Map<String, Value>) -> Option<String> {
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

/// Reads accumulator files and merges them in the order given.
pub(crate) fn read_merged(paths: &[PathBuf]) -> Result<GramFile> {
    let mut merged: Option<(GramFile, &Path)> = None;
    for p in paths {
        let f = GramFile::from_bytes(&files::read(p)?, p)?;
        match merged.as_mut() {
            None => merged = Some((f, p)),
            Some((m, first)) => {
                if let Some(k) = first_difference(&m.problem, &f.problem) {
                    return Err(usage(format!(
                        "{}: an accumulator of another problem than {} ('{k}' differs)",
                        p.display(),
                        first.display()
                    )));
                }
                m.shard
                    .merge(&f.shard)
                    .map_err(|e| usage(format!("{}: {e}", p.display())))?;
            }
        }
    }
    Ok(merged.expect("at least one file (clap)").0)
}

fn merge(ctx: &Ctx, paths: &[PathBuf], out: &Path) -> Result<()> {
    outputs_writable(&[Some(out)], ctx.common.force)?;
    let m = read_merged(paths)?;
    files::write_new(out, &m.to_bytes(), ctx.common.force)?;
    let missing = m.shard.missing();
    ctx.say(&table(&[
        ("files", paths.len().to_string()),
        ("chunks", ranges_text(m.shard.ranges(), "")),
        (
            "missing",
            if missing.is_empty() {
                "none".into()
            } else {
                ranges_text(&missing, "")
            },
        ),
        ("accumulator", out.display().to_string()),
    ]));
    Ok(())
}

/// `ntk fit --gram FILE...`: the model of the merged sums.
pub(crate) fn fit(ctx: &Ctx, paths: &[PathBuf]) -> Result<FeatureModel> {
    let m = read_merged(paths)?;
    let what = paths[0].as_path();
    let p = &m.problem;
    let bad = |k: &str| {
        usage(format!(
            "{}: the accumulator's '{k}' record is malformed",
            what.display()
        ))
    };
    let missing = m.shard.missing();
    if !missing.is_empty() {
        let layout = m.shard.layout();
        return Err(usage(format!(
            "the accumulators cover only chunks {} of 0..{}: merge every shard (missing {})",
            ranges_text(m.shard.ranges(), ""),
            layout.chunks(),
            ranges_text(&missing, "chunks ")
        )));
    }
    let spec = FeatureSpec::from_json(p.get("features").ok_or_else(|| bad("features"))?)
        .map_err(|e| usage(format!("{}: {e}", what.display())))?;
    let input_shape = shape_of(p.get("input_shape")).ok_or_else(|| bad("input_shape"))?;
    let architecture = p
        .get("architecture")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("architecture"))?
        .to_owned();
    // The architecture must still parse: the model is useless otherwise.
    build(&architecture, input_shape)?;
    let task = match p.get("task").and_then(Value::as_str) {
        Some("classify") => Task::Classify,
        _ => Task::Regress,
    };
    let (given, grid, val_fraction, seed) = lambda_rule(p.get("lambda"), what)?;
    let lambda = match given {
        Some(l) => Lambda::Given(l),
        None => Lambda::Split {
            grid: &grid,
            val_fraction,
            seed,
        },
    };
    let dim = m.shard.layout().dim;
    let fit = m.shard.finish(lambda, ctx.par)?;
    Ok(FeatureModel {
        architecture,
        task,
        lambda: fit.lambda,
        input_shape,
        spec,
        dim,
        outputs: fit.weights.ncols(),
        weights: row_major(fit.weights.as_ref()),
        prep: Prep::default(),
    })
}
