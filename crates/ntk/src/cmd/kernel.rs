//! `ntk kernel`: exact NNGP and NTK matrices K(X1, X2) as `.npy`, streamed
//! row by row from the computed kernels; `--tile I/N` writes one tile of a
//! job array, `ntk kernel merge` assembles tile files, and under `mpirun`
//! each rank writes its own tile into the shared outputs. Tiles are the
//! single call's own computations (`ntk_features::KernelTiles`), so every
//! path writes the same bytes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::arrays::{Samples, read_samples, same_shape};
use crate::cli::{KernelArgs, KernelCommand};
use crate::ctx::{Ctx, build, compute, outputs_writable};
use crate::error::{Result, usage};
use crate::report::{Progress, table, write_json};
use crate::stream::{FNV_OFFSET, fingerprint, fnv_more};
use crate::tiles::{PIECE_ENTRIES, TileFile, TileWriter, write_tile};
use faer::MatRef;
use ntk_data::files::{self, NpyPositioned};
use ntk_features::{Architecture, KernelTiles};
use serde_json::{Map, Value, json};

/// The entries of `m` row by row (C order), without a copy.
fn rows(m: MatRef<'_, f64>) -> impl Iterator<Item = f64> + '_ {
    (0..m.nrows()).flat_map(move |i| (0..m.ncols()).map(move |j| m[(i, j)]))
}

/// `I/N` with `0 <= I < N`.
pub(crate) fn parse_part(flag: &str, s: &str) -> Result<(usize, usize)> {
    let err = || usage(format!("{flag} must be I/N with 0 <= I < N, got '{s}'"));
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if n == 0 || i >= n {
        return Err(err());
    }
    Ok((i, n))
}

/// `ntk kernel`.
pub(crate) fn run(ctx: &Ctx, a: &KernelArgs) -> Result<()> {
    if let Some(KernelCommand::Merge { files, nngp, ntk }) = &a.merge {
        return merge(ctx, files, nngp.as_deref(), ntk.as_deref());
    }
    let (Some(arch), Some(x1)) = (a.arch.as_deref(), a.x1.as_deref()) else {
        return Err(usage("ntk kernel needs --arch and --x1"));
    };
    if let (Some(which), Some(out)) = (a.tile.as_deref(), a.out.as_deref()) {
        return tile(
            ctx,
            arch,
            x1,
            a.x2.as_deref(),
            which,
            out,
            a.json.as_deref(),
        );
    }
    if a.nngp.is_none() && a.ntk.is_none() {
        return Err(usage(
            "ntk kernel writes --nngp and/or --ntk (or a tile: --tile I/N --out FILE)",
        ));
    }
    let outputs = Outputs {
        nngp: a.nngp.as_deref(),
        ntk: a.ntk.as_deref(),
        json: a.json.as_deref(),
    };
    if ctx.cluster.as_ref().is_some_and(|c| c.size() > 1) {
        return ranks(ctx, arch, x1, a.x2.as_deref(), &outputs);
    }
    whole(ctx, arch, x1, a.x2.as_deref(), &outputs)
}

struct Outputs<'a> {
    nngp: Option<&'a Path>,
    ntk: Option<&'a Path>,
    json: Option<&'a Path>,
}

impl Outputs<'_> {
    /// The output paths, in the JSON summary.
    fn record(&self, m: &mut Map<String, Value>) {
        let path = |p: Option<&Path>| json!(p.map(|p| p.display().to_string()));
        m.insert("nngp".into(), path(self.nngp));
        m.insert("ntk".into(), path(self.ntk));
    }
}

/// The inputs and architecture of one kernel computation.
struct Problem {
    a: Samples,
    b: Option<Samples>,
    arch: Architecture,
}

fn load(arch_text: &str, x1: &Path, x2: Option<&Path>) -> Result<Problem> {
    let a = read_samples(x1)?;
    let b = x2.map(read_samples).transpose()?;
    if let Some(b) = &b {
        same_shape(&a, b, &x2.expect("given").display().to_string())?;
    }
    let arch = build(arch_text, a.shape)?;
    Ok(Problem { a, b, arch })
}

impl Problem {
    fn tiles(&self, ctx: &Ctx) -> Result<KernelTiles<'_>> {
        Ok(KernelTiles::new(
            &self.arch,
            self.a.input(),
            self.b.as_ref().map(Samples::input),
            ctx.par,
        )?)
    }

    /// What every tile of one job array shares: the architecture, the
    /// inputs' shapes and fingerprints, the output's shape and layout.
    fn header(&self, tiles: &KernelTiles<'_>) -> Map<String, Value> {
        let print = |s: &Samples| {
            let h = fnv_more(FNV_OFFSET, s.data.iter().flat_map(|x| x.to_le_bytes()));
            json!({"n": s.n, "shape": s.shape.to_string(), "fingerprint": format!("{h:016x}")})
        };
        let (n1, n2) = tiles.shape();
        let mut m = Map::new();
        m.insert("architecture".into(), json!(self.arch.to_string()));
        m.insert("x1".into(), print(&self.a));
        m.insert("x2".into(), self.b.as_ref().map_or(Value::Null, print));
        m.insert("shape".into(), json!([n1, n2]));
        m.insert("upper".into(), json!(tiles.upper()));
        m.insert("unit".into(), json!(tiles.unit()));
        m
    }
}

fn summary(p: &Problem, x1: &Path, x2: Option<&Path>, shape: [usize; 2]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("command".into(), json!("kernel"));
    m.insert("architecture".into(), json!(p.arch.to_string()));
    m.insert("x1".into(), json!(x1.display().to_string()));
    m.insert("x2".into(), json!(x2.map(|p| p.display().to_string())));
    m.insert("shape".into(), json!(shape));
    m
}

fn finish_summary(
    ctx: &Ctx,
    mut m: Map<String, Value>,
    json_out: Option<&Path>,
    rows: &[(&str, String)],
) -> Result<()> {
    m.insert("threads".into(), json!(ctx.threads));
    m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    if let Some(p) = json_out {
        write_json(p, &Value::Object(m), ctx.common.force)?;
    }
    ctx.say(&table(rows));
    Ok(())
}

/// One process: the whole kernels in memory, written row by row.
fn whole(ctx: &Ctx, arch: &str, x1: &Path, x2: Option<&Path>, out: &Outputs<'_>) -> Result<()> {
    outputs_writable(&[out.nngp, out.ntk, out.json], ctx.common.force)?;
    let t0 = Instant::now();
    let p = load(arch, x1, x2)?;
    let k = compute(ctx, &p.arch, &p.a, p.b.as_ref(), "kernel")?;
    let seconds = t0.elapsed().as_secs_f64();
    let shape = [k.nngp.nrows(), k.nngp.ncols()];
    // Rows streamed straight from the column-major matrices: no C-order
    // copy and no file image in memory, so the peak is the two kernels.
    if let Some(path) = out.nngp {
        files::write_npy_iter(path, &shape, rows(k.nngp.as_ref()), ctx.common.force)?;
    }
    if let Some(path) = out.ntk {
        files::write_npy_iter(path, &shape, rows(k.ntk.as_ref()), ctx.common.force)?;
    }
    let mut m = summary(&p, x1, x2, shape);
    out.record(&mut m);
    m.insert("seconds".into(), json!(seconds));
    finish_summary(
        ctx,
        m,
        out.json,
        &[
            ("kernel", format!("{} x {}", shape[0], shape[1])),
            ("seconds", format!("{seconds:.3}")),
        ],
    )
}

/// Computes `columns` piece by piece, handing each piece to `each`.
fn compute_range(
    ctx: &Ctx,
    tiles: &KernelTiles<'_>,
    columns: std::ops::Range<usize>,
    label: &str,
    each: &mut dyn FnMut(&ntk_features::Tile) -> Result<()>,
) -> Result<()> {
    let total = tiles.pairs(columns.clone());
    let mut progress = Progress::new(label, ctx.common.quiet);
    let mut done = 0u128;
    for piece in tiles.pieces(columns, PIECE_ENTRIES) {
        let cost = tiles.pairs(piece.clone());
        let t = tiles.compute(piece, ctx.par, &mut |d, n| {
            // Pairs within the piece, scaled to its share of the range.
            let at = done + cost * d as u128 / n.max(1) as u128;
            progress.update(
                usize::try_from(at).unwrap_or(usize::MAX),
                usize::try_from(total).unwrap_or(usize::MAX),
            );
            std::ops::ControlFlow::Continue(())
        })?;
        each(&t)?;
        done += cost;
    }
    progress.finish();
    Ok(())
}

/// `ntk kernel --tile I/N --out FILE`.
fn tile(
    ctx: &Ctx,
    arch: &str,
    x1: &Path,
    x2: Option<&Path>,
    which: &str,
    out: &Path,
    json_out: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[Some(out), json_out], ctx.common.force)?;
    let (i, of) = parse_part("--tile", which)?;
    let t0 = Instant::now();
    let p = load(arch, x1, x2)?;
    let tiles = p.tiles(ctx)?;
    let header = p.header(&tiles);
    let (n1, n2) = tiles.shape();
    if of > n2 {
        return Err(usage(format!(
            "--tile {which}: the output has {n2} columns, so at most {n2} tiles"
        )));
    }
    let columns = tiles.split(of)[i].clone();
    // The file's writer takes data errors: the tile's errors, named by the file.
    let named = |e: crate::error::CliError| ntk_data::DataError::Read {
        what: out.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    };
    files::write_new_with(out, ctx.common.force, &mut |w| {
        let mut tw = TileWriter::start(w, &header, tiles.upper(), (i, of), columns.clone())
            .map_err(named)?;
        let mut r = compute_range(ctx, &tiles, columns.clone(), "kernel tile", &mut |t| {
            tw.piece(t)
        });
        if r.is_ok() {
            r = tw.finish();
        }
        r.map_err(named)
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut m = summary(&p, x1, x2, [n1, n2]);
    m.insert("tile".into(), json!([i, of]));
    m.insert("columns".into(), json!([columns.start, columns.end]));
    m.insert(
        "pairs".into(),
        json!(tiles.pairs(columns.clone()).to_string()),
    );
    m.insert("out".into(), json!(out.display().to_string()));
    m.insert("seconds".into(), json!(seconds));
    finish_summary(
        ctx,
        m,
        json_out,
        &[
            (
                "tile",
                format!(
                    "{i}/{of}: columns {}..{} of {n2}",
                    columns.start, columns.end
                ),
            ),
            ("seconds", format!("{seconds:.3}")),
        ],
    )
}

/// The positioned outputs of an assembly (created, or opened when another
/// process created them).
fn positioned(
    nngp: Option<&Path>,
    ntk: Option<&Path>,
    shape: [usize; 2],
    create: bool,
    force: bool,
) -> Result<(Option<NpyPositioned>, Option<NpyPositioned>)> {
    let make = |p: Option<&Path>| -> Result<Option<NpyPositioned>> {
        p.map(|p| {
            if create {
                NpyPositioned::create(p, shape, force)
            } else {
                NpyPositioned::open(p, shape)
            }
        })
        .transpose()
        .map_err(Into::into)
    };
    Ok((make(nngp)?, make(ntk)?))
}

/// `ntk kernel merge FILE… --nngp A --ntk B`.
fn merge(ctx: &Ctx, paths: &[PathBuf], nngp: Option<&Path>, ntk: Option<&Path>) -> Result<()> {
    outputs_writable(&[nngp, ntk], ctx.common.force)?;
    let t0 = Instant::now();
    let mut tiles = Vec::with_capacity(paths.len());
    for p in paths {
        tiles.push((p.as_path(), TileFile::open(p)?));
    }
    let (first, f0) = &tiles[0];
    for (p, t) in &tiles[1..] {
        if let Some(k) = f0
            .problem
            .iter()
            .find(|(k, v)| t.problem.get(k.as_str()) != Some(v))
            .map(|(k, _)| k.clone())
            .or_else(|| {
                t.problem
                    .keys()
                    .find(|k| !f0.problem.contains_key(*k))
                    .cloned()
            })
        {
            return Err(usage(format!(
                "{} belongs to another kernel than {} ('{k}' differs)",
                p.display(),
                first.display()
            )));
        }
    }
    let shape = {
        let s = f0.problem["shape"].as_array().expect("checked on open");
        [
            s[0].as_u64().unwrap_or(0) as usize,
            s[1].as_u64().unwrap_or(0) as usize,
        ]
    };
    // Every column exactly once.
    let mut order: Vec<usize> = (0..tiles.len()).collect();
    order.sort_by_key(|&k| (tiles[k].1.columns.start, tiles[k].1.columns.end));
    let mut at = 0;
    for &k in &order {
        let (p, t) = &tiles[k];
        if t.columns.is_empty() {
            continue;
        }
        if t.columns.start < at {
            return Err(usage(format!(
                "{} repeats columns {}..{} given by another tile file",
                p.display(),
                t.columns.start,
                at.min(t.columns.end)
            )));
        }
        if t.columns.start > at {
            return Err(usage(format!(
                "columns {at}..{} are in none of the tile files: a tile is missing",
                t.columns.start
            )));
        }
        at = t.columns.end;
    }
    if at < shape[1] {
        return Err(usage(format!(
            "columns {at}..{} are in none of the tile files: a tile is missing",
            shape[1]
        )));
    }
    let (mut a, mut b) = positioned(nngp, ntk, shape, true, ctx.common.force)?;
    let mut progress = Progress::new("kernel merge", ctx.common.quiet);
    for (done, &k) in order.iter().enumerate() {
        let (p, t) = &tiles[k];
        t.pieces(p, &mut |tile| write_tile(tile, a.as_mut(), b.as_mut()))?;
        progress.update(done + 1, order.len());
    }
    progress.finish();
    for w in [a, b].into_iter().flatten() {
        w.finish()?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    ctx.say(&table(&[
        (
            "kernel",
            format!("{} x {} from {} tiles", shape[0], shape[1], tiles.len()),
        ),
        ("seconds", format!("{seconds:.3}")),
    ]));
    Ok(())
}

/// Under `mpirun -np P`: rank `r` computes the `r`-th of `P` tiles and
/// writes it into the outputs rank 0 created (a file system every rank
/// sees, as the inputs need); rank 0 renames them into place once every
/// rank has written and synced. A failing rank ends the job (`MPI_Abort`),
/// leaving only the `.partial` files.
fn ranks(ctx: &Ctx, arch: &str, x1: &Path, x2: Option<&Path>, out: &Outputs<'_>) -> Result<()> {
    let c = ctx.cluster.as_deref().expect("under MPI");
    let root = c.rank() == 0;
    if root {
        outputs_writable(&[out.nngp, out.ntk, out.json], ctx.common.force)?;
    }
    let t0 = Instant::now();
    let p = load(arch, x1, x2)?;
    let tiles = p.tiles(ctx)?;
    let header = p.header(&tiles);
    c.same_everywhere(fingerprint(
        Value::Object(header.clone())
            .to_string()
            .bytes()
            .chain(format!("{:?}{:?}", out.nngp, out.ntk).bytes()),
    ))?;
    let (n1, n2) = tiles.shape();
    let shape = [n1, n2];
    let columns = tiles.split(c.size())[c.rank()].clone();
    let created = root
        .then(|| positioned(out.nngp, out.ntk, shape, true, ctx.common.force))
        .transpose();
    // Every rank learns whether rank 0 could create the outputs.
    c.root_result(root.then(|| {
        created
            .as_ref()
            .map(|_| Vec::new())
            .map_err(|e| usage(e.to_string()))
    }))?;
    let (mut a, mut b) = match created? {
        Some(w) => w,
        None => positioned(out.nngp, out.ntk, shape, false, false)?,
    };
    compute_range(ctx, &tiles, columns.clone(), "kernel", &mut |t| {
        write_tile(t, a.as_mut(), b.as_mut())
    })?;
    if !root {
        for w in [a.take(), b.take()].into_iter().flatten() {
            w.finish()?;
        }
    }
    // Every rank has synced its writes before rank 0 renames.
    c.barrier();
    if !root {
        return Ok(());
    }
    for w in [a, b].into_iter().flatten() {
        w.finish()?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let mut m = summary(&p, x1, x2, shape);
    out.record(&mut m);
    m.insert("ranks".into(), json!(c.size()));
    m.insert("seconds".into(), json!(seconds));
    finish_summary(
        ctx,
        m,
        out.json,
        &[
            ("kernel", format!("{n1} x {n2} on {} ranks", c.size())),
            ("seconds", format!("{seconds:.3}")),
        ],
    )
}
