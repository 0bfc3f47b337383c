//! Exact NNGP and NTK kernels with neural-tangents' conventions
//! (`docs/NUMERICS.md`, `research/conventions.md`).
//!
//! Fully connected inputs take one GEMM for `⟨x, y⟩/d` and `O(n₁n₂L)` scalar
//! work, in row blocks (parallel, memory bounded by the outputs). Image
//! inputs carry, per pair, the full position-by-position state
//! (`(HW) × (HW)` for `q` and `Θ`), propagated pair by pair in parallel; each
//! image's own state gives the variances its activations need.

use crate::arch::{Architecture, Layer, Padding, Shape, window_geometry};
use crate::error::{FeatureError, Result};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

/// Maps `f` over `0..n`, in parallel unless `par` is `Par::Seq`; the
/// results come back in index order either way.
fn map_n<R: Send>(par: Par, n: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    match par {
        Par::Seq => (0..n).map(f).collect(),
        Par::Rayon(_) => (0..n).into_par_iter().map(f).collect(),
    }
}

/// A point's variances before each layer and its final `(q, Θ)`.
type SelfScalar = (Vec<f64>, f64, f64);
/// An image's diagonals before each layer and its final `(q, Θ)`.
type SelfImage = (Vec<Vec<f64>>, f64, f64);

/// `ε` of stax's `LayerNorm`.
const LAYER_NORM_EPS: f64 = 1e-12;

/// Inputs of a kernel computation.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Vectors `(d, n)`, one sample per column (the memory layout of a
    /// C-order `(n, d)` NumPy array).
    Vectors(MatRef<'a, f64>),
    /// Images in NHWC order: `n·h·w·c` values, sample-major.
    Images {
        /// The values.
        data: &'a [f64],
        /// Samples.
        n: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
}

impl Input<'_> {
    fn shape(&self) -> Shape {
        match *self {
            Self::Vectors(x) => Shape::Vector { dim: x.nrows() },
            Self::Images { h, w, c, .. } => Shape::Image { h, w, c },
        }
    }
    fn len(&self) -> usize {
        match *self {
            Self::Vectors(x) => x.ncols(),
            Self::Images { n, .. } => n,
        }
    }
    fn validate(&self, what: &'static str) -> Result<()> {
        match *self {
            Self::Vectors(x) => {
                if x.nrows() == 0 {
                    return Err(FeatureError::Empty {
                        what: "feature dimension",
                    });
                }
                for j in 0..x.ncols() {
                    for i in 0..x.nrows() {
                        if !x[(i, j)].is_finite() {
                            return Err(FeatureError::NonFinite {
                                what,
                                sample: j,
                                index: i,
                            });
                        }
                    }
                }
            }
            Self::Images { data, n, h, w, c } => {
                if h * w * c == 0 {
                    return Err(FeatureError::Empty {
                        what: "image dimensions",
                    });
                }
                if data.len() != n * h * w * c {
                    return Err(FeatureError::DimMismatch {
                        what: "image buffer length (n·h·w·c)",
                        expected: n * h * w * c,
                        got: data.len(),
                    });
                }
                if let Some(k) = data.iter().position(|v| !v.is_finite()) {
                    return Err(FeatureError::NonFinite {
                        what,
                        sample: k / (h * w * c),
                        index: k % (h * w * c),
                    });
                }
            }
        }
        if self.len() == 0 {
            return Err(FeatureError::Empty { what });
        }
        Ok(())
    }
}

/// Kernel matrices and diagonals.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernels {
    /// NNGP `K(x1_i, x2_j)`, `n1 × n2`.
    pub nngp: Mat<f64>,
    /// NTK `Θ(x1_i, x2_j)`, `n1 × n2`.
    pub ntk: Mat<f64>,
    /// `K(x1_i, x1_i)`.
    pub nngp_diag1: Vec<f64>,
    /// `Θ(x1_i, x1_i)`.
    pub ntk_diag1: Vec<f64>,
    /// `K(x2_j, x2_j)` (equal to the first for the symmetric call).
    pub nngp_diag2: Vec<f64>,
    /// `Θ(x2_j, x2_j)`.
    pub ntk_diag2: Vec<f64>,
}

/// Exact kernels of `arch` between `x1` and `x2` (`None`: `x2 = x1`, and
/// only the upper triangle is computed). `progress(done, total)` is called
/// on the calling thread as work completes.
///
/// # Errors
/// [`FeatureError::ShapeMismatch`] when the architecture does not fit the
/// inputs; [`FeatureError::DimMismatch`] for inputs of different shapes;
/// [`FeatureError::Empty`], [`FeatureError::NonFinite`]; activation errors.
pub fn kernels(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Kernels> {
    x1.validate("x1")?;
    if let Some(x2) = &x2 {
        x2.validate("x2")?;
        if x2.shape() != x1.shape() {
            return Err(FeatureError::DimMismatch {
                what: "x2's sample shape must equal x1's",
                expected: shape_size(x1.shape()),
                got: shape_size(x2.shape()),
            });
        }
    }
    arch.shapes(x1.shape())?;
    match (x1, x2) {
        (Input::Vectors(a), None) => fc(arch, a, None, par, progress),
        (Input::Vectors(a), Some(Input::Vectors(b))) => fc(arch, a, Some(b), par, progress),
        (Input::Images { .. }, _) => images(arch, x1, x2, par, progress),
        (Input::Vectors(_), Some(Input::Images { .. })) => unreachable!("shapes were compared"),
    }
}

fn shape_size(s: Shape) -> usize {
    match s {
        Shape::Vector { dim } => dim,
        Shape::Image { h, w, c } => h * w * c,
    }
}

fn act_err(layer: usize) -> impl Fn(dual_activations::DualError) -> FeatureError {
    move |source| FeatureError::Activation { layer, source }
}

/// Every layer applied to a column of pair states `(q_i, Θ_i)` against one
/// point of the second input (`pre_b(l)`): the dual activations evaluate a
/// whole column at once.
fn column_layers(
    arch: &Architecture,
    q: &mut [f64],
    t: &mut [f64],
    pre1: &[Vec<f64>],
    pre_b: impl Fn(usize) -> f64,
) -> Result<()> {
    let n = q.len();
    let mut qb = vec![0.0; n];
    let (mut k, mut kd) = (vec![0.0; n], vec![0.0; n]);
    for (l, layer) in arch.layers().iter().enumerate() {
        match layer {
            Layer::Dense { w_std, b_std } => {
                let (w2, b2) = (w_std * w_std, b_std.unwrap_or(0.0).powi(2));
                for (qi, ti) in q.iter_mut().zip(t.iter_mut()) {
                    *qi = w2 * *qi + b2;
                    *ti = *qi + w2 * *ti;
                }
            }
            Layer::Activation(_) => {
                qb.iter_mut().for_each(|v| *v = pre_b(l));
                arch.dual(l)
                    .eval_many(&pre1[l][..n], &qb, q, &mut k, &mut kd)
                    .map_err(act_err(l))?;
                q.copy_from_slice(&k);
                t.iter_mut().zip(&kd).for_each(|(ti, d)| *ti *= d);
            }
            Layer::LayerNorm => {
                let pb = pre_b(l) + LAYER_NORM_EPS;
                for ((qi, ti), pa) in q.iter_mut().zip(t.iter_mut()).zip(&pre1[l]) {
                    let s = ((pa + LAYER_NORM_EPS) * pb).sqrt();
                    *qi /= s;
                    *ti /= s;
                }
            }
            Layer::Flatten => {}
            _ => unreachable!("spatial layers on vectors are rejected by Architecture::shapes"),
        }
    }
    Ok(())
}

/// A point's own variances before each layer, and its final `(q, Θ)`.
fn scalar_self(arch: &Architecture, q0: f64) -> Result<(Vec<f64>, f64, f64)> {
    let n = arch.layers().len();
    let mut pre = vec![0.0; n];
    let (mut q, mut t) = (q0, 0.0);
    for (l, layer) in arch.layers().iter().enumerate() {
        pre[l] = q;
        let one = scalar_step(arch, l, layer, q, t, q, q)?;
        q = one.0;
        t = one.1;
    }
    Ok((pre, q, t))
}

fn scalar_step(
    arch: &Architecture,
    l: usize,
    layer: &Layer,
    q: f64,
    t: f64,
    pa: f64,
    pb: f64,
) -> Result<(f64, f64)> {
    Ok(match layer {
        Layer::Dense { w_std, b_std } => {
            let q2 = w_std * w_std * q + b_std.unwrap_or(0.0).powi(2);
            (q2, q2 + w_std * w_std * t)
        }
        Layer::Activation(_) => {
            let d = arch.dual(l).eval(pa, pb, q).map_err(act_err(l))?;
            (d.k, t * d.k_dot)
        }
        Layer::LayerNorm => {
            let s = ((pa + LAYER_NORM_EPS) * (pb + LAYER_NORM_EPS)).sqrt();
            (q / s, t / s)
        }
        _ => (q, t),
    })
}

/// Output columns per block of the fully connected path: bounds the Gram
/// block at `n₁·256` values.
const COL_BLOCK: usize = 256;

/// Copies the strict upper triangle onto the lower one, in cache-friendly tiles.
fn mirror_upper(m: &mut Mat<f64>) {
    let n = m.nrows();
    const T: usize = 64;
    for jb in (0..n).step_by(T) {
        for ib in (jb..n).step_by(T) {
            for j in jb..(jb + T).min(n) {
                for i in ib.max(j + 1)..(ib + T).min(n) {
                    m[(i, j)] = m[(j, i)];
                }
            }
        }
    }
}

/// What the fully connected path needs besides the Gram blocks: every point's
/// own variances before each layer and final `(q, Θ)`.
struct FcSelf {
    sa: Vec<SelfScalar>,
    sb: Vec<SelfScalar>,
    /// Layer-major variances of the first input: `pre1[l][i]`.
    pre1: Vec<Vec<f64>>,
}

fn fc_selfs(
    arch: &Architecture,
    a: MatRef<'_, f64>,
    b: Option<MatRef<'_, f64>>,
    par: Par,
) -> Result<FcSelf> {
    let d = a.nrows() as f64;
    let selfs = |x: MatRef<'_, f64>| -> Result<Vec<SelfScalar>> {
        map_n(par, x.ncols(), |i| {
            scalar_self(
                arch,
                (0..x.nrows()).map(|k| x[(k, i)] * x[(k, i)]).sum::<f64>() / d,
            )
        })
        .into_iter()
        .collect()
    };
    let sa = selfs(a)?;
    let sb = match b {
        Some(b) => selfs(b)?,
        None => sa.clone(),
    };
    let pre1 = (0..arch.layers().len())
        .map(|l| sa.iter().map(|s| s.0[l]).collect())
        .collect();
    Ok(FcSelf { sa, sb, pre1 })
}

/// Columns `start..start + cols` of the kernels into `kblock`, `tblock`
/// (`n₁ × cols`); with `upper`, only rows `i ≤ j` (the symmetric case).
#[allow(clippy::too_many_arguments)]
fn fc_block(
    arch: &Architecture,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    selfs: &FcSelf,
    start: usize,
    upper: bool,
    par: Par,
    scratch: &mut Mat<f64>,
    mut kblock: faer::MatMut<'_, f64>,
    mut tblock: faer::MatMut<'_, f64>,
) -> Result<()> {
    let (n1, cols, d) = (a.ncols(), kblock.ncols(), a.nrows() as f64);
    // Upper: only rows i ≤ j are needed, so the Gram block needs rows
    // 0..start + cols only: half the GEMM over the whole matrix.
    let rows = if upper { start + cols } else { n1 };
    // One Gram buffer reused across blocks (fresh pages cost page faults).
    if scratch.nrows() < rows || scratch.ncols() < cols {
        *scratch = Mat::zeros(rows.max(scratch.nrows()), cols.max(scratch.ncols()));
    }
    matmul(
        scratch.as_mut().submatrix_mut(0, 0, rows, cols),
        Accum::Replace,
        a.subcols(0, rows).transpose(),
        b.subcols(start, cols),
        1.0 / d,
        par,
    );
    let gram = scratch.as_ref().submatrix(0, 0, rows, cols);
    // Each output column is contiguous (column-major) and independent.
    let fill = |c: usize, kcol: &mut [f64], tcol: &mut [f64]| -> Result<()> {
        let j = start + c;
        let last = if upper { j + 1 } else { n1 };
        let (kcol, tcol) = (&mut kcol[..last], &mut tcol[..last]);
        for (i, v) in kcol.iter_mut().enumerate() {
            *v = gram[(i, c)];
        }
        tcol.iter_mut().for_each(|v| *v = 0.0);
        column_layers(arch, kcol, tcol, &selfs.pre1, |l| selfs.sb[j].0[l])
    };
    let results: Vec<Result<()>> = match par {
        Par::Seq => (0..cols)
            .map(|c| {
                let mut kc = kblock.rb_mut().col_mut(c);
                let mut tc = tblock.rb_mut().col_mut(c);
                let kc = kc
                    .rb_mut()
                    .try_as_col_major_mut()
                    .expect("owned")
                    .as_slice_mut();
                let tc = tc
                    .rb_mut()
                    .try_as_col_major_mut()
                    .expect("owned")
                    .as_slice_mut();
                fill(c, kc, tc)
            })
            .collect(),
        Par::Rayon(_) => kblock
            .par_col_chunks_mut(1)
            .zip(tblock.par_col_chunks_mut(1))
            .enumerate()
            .map(|(c, (mut kc, mut tc))| {
                let kc = kc
                    .rb_mut()
                    .col_mut(0)
                    .try_as_col_major_mut()
                    .expect("owned")
                    .as_slice_mut();
                let tc = tc
                    .rb_mut()
                    .col_mut(0)
                    .try_as_col_major_mut()
                    .expect("owned")
                    .as_slice_mut();
                fill(c, kc, tc)
            })
            .collect(),
    };
    results.into_iter().collect()
}

fn fc(
    arch: &Architecture,
    a: MatRef<'_, f64>,
    b: Option<MatRef<'_, f64>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Kernels> {
    let sym = b.is_none();
    let selfs = fc_selfs(arch, a, b, par)?;
    let b = b.unwrap_or(a);
    let (n1, n2) = (a.ncols(), b.ncols());
    let mut nngp = Mat::<f64>::zeros(n1, n2);
    let mut ntk = Mat::<f64>::zeros(n1, n2);
    let mut start = 0;
    let mut scratch = Mat::<f64>::zeros(0, 0);
    while start < n2 {
        let cols = COL_BLOCK.min(n2 - start);
        fc_block(
            arch,
            a,
            b,
            &selfs,
            start,
            sym,
            par,
            &mut scratch,
            nngp.as_mut().subcols_mut(start, cols),
            ntk.as_mut().subcols_mut(start, cols),
        )?;
        start += cols;
        progress(start, n2);
    }
    if sym {
        mirror_upper(&mut nngp);
        mirror_upper(&mut ntk);
    }
    let diag = |v: &[SelfScalar]| v.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>();
    Ok(finish(
        nngp,
        ntk,
        sym,
        diag(&selfs.sa).into_iter(),
        diag(&selfs.sb).into_iter(),
    ))
}

/// Columns `start..start + nngp.ncols()` of `K(X1, X2)`, as produced by
/// [`kernel_blocks`].
#[derive(Debug)]
pub struct ColumnBlock<'a> {
    /// First column (index into `x2`).
    pub start: usize,
    /// NNGP block, `n1 × cols`.
    pub nngp: MatRef<'a, f64>,
    /// NTK block, `n1 × cols`.
    pub ntk: MatRef<'a, f64>,
}

/// Fully connected kernels streamed in column blocks of `block` columns of
/// `x2`, so memory stays `O((n1 + n2)·block)` whatever the sizes (for
/// `K(X, X)` on 100 000 points, pass `x2 = x1`: full blocks are computed).
/// `sink` receives each block in order; an error from it stops the stream.
///
/// # Errors
/// As [`kernels`]; [`FeatureError::Empty`] for `block = 0`; whatever `sink` returns.
pub fn kernel_blocks(
    arch: &Architecture,
    x1: MatRef<'_, f64>,
    x2: MatRef<'_, f64>,
    block: usize,
    par: Par,
    sink: &mut dyn FnMut(ColumnBlock<'_>) -> Result<()>,
) -> Result<()> {
    if block == 0 {
        return Err(FeatureError::Empty { what: "block size" });
    }
    let (i1, i2) = (Input::Vectors(x1), Input::Vectors(x2));
    i1.validate("x1")?;
    i2.validate("x2")?;
    if x1.nrows() != x2.nrows() {
        return Err(FeatureError::DimMismatch {
            what: "x2's feature dimension must equal x1's",
            expected: x1.nrows(),
            got: x2.nrows(),
        });
    }
    arch.shapes(i1.shape())?;
    let selfs = fc_selfs(arch, x1, Some(x2), par)?;
    let n2 = x2.ncols();
    let mut start = 0;
    let mut scratch = Mat::<f64>::zeros(0, 0);
    while start < n2 {
        let cols = block.min(n2 - start);
        let mut k = Mat::<f64>::zeros(x1.ncols(), cols);
        let mut t = Mat::<f64>::zeros(x1.ncols(), cols);
        fc_block(
            arch,
            x1,
            x2,
            &selfs,
            start,
            false,
            par,
            &mut scratch,
            k.as_mut(),
            t.as_mut(),
        )?;
        sink(ColumnBlock {
            start,
            nngp: k.as_ref(),
            ntk: t.as_ref(),
        })?;
        start += cols;
    }
    Ok(())
}

/// Assembles the result: in the symmetric case the diagonal comes from each
/// point's own recursion (`c = q` exactly; through a GEMM it would differ by
/// an ulp and the angle `atan2(sqrt(q² − c²), c)` would carry sqrt(ε) noise).
fn finish(
    mut nngp: Mat<f64>,
    mut ntk: Mat<f64>,
    sym: bool,
    d1: impl Iterator<Item = (f64, f64)>,
    d2: impl Iterator<Item = (f64, f64)>,
) -> Kernels {
    let (nngp_diag1, ntk_diag1): (Vec<f64>, Vec<f64>) = d1.unzip();
    let (nngp_diag2, ntk_diag2): (Vec<f64>, Vec<f64>) = d2.unzip();
    if sym {
        for (i, (k, t)) in nngp_diag1.iter().zip(&ntk_diag1).enumerate() {
            nngp[(i, i)] = *k;
            ntk[(i, i)] = *t;
        }
    }
    Kernels {
        nngp,
        ntk,
        nngp_diag1,
        ntk_diag1,
        nngp_diag2,
        ntk_diag2,
    }
}

/// A position-pair state: `q` and `Θ` as `P₁ × P₂` row-major matrices on an
/// `h × w` grid (both images share the geometry).
#[derive(Debug, Clone)]
struct State {
    h: usize,
    w: usize,
    q: Vec<f64>,
    t: Vec<f64>,
}

impl State {
    fn p(&self) -> usize {
        self.h * self.w
    }
}

/// Where one window offset `(ah, aw)` reads: the input row of every output
/// row and the input column of every output column (`None` in the zero
/// padding), with the columns grouped into contiguous runs
/// `(output start, input start, length)` so the sums below are slice
/// additions.
struct OffsetMap {
    rows: Vec<Option<usize>>,
    runs: Vec<(usize, usize, usize)>,
}

/// The input coordinate read by output coordinate `o` at window offset `a`.
fn source(o: usize, a: usize, stride: usize, lo: usize, n: usize, circular: bool) -> Option<usize> {
    let r = (o * stride + a) as isize - lo as isize;
    if circular {
        Some(r.rem_euclid(n as isize) as usize)
    } else {
        usize::try_from(r).ok().filter(|&r| r < n)
    }
}

/// The offset maps of a `k`-window with strides `s` on an `h × w` grid:
/// `(output height, output width, one map per offset)`.
fn offset_maps(
    h: usize,
    w: usize,
    k: (usize, usize),
    s: (usize, usize),
    padding: Padding,
) -> (usize, usize, Vec<OffsetMap>) {
    let (oh, loh) =
        window_geometry(h, k.0, s.0, padding).expect("validated by Architecture::shapes");
    let (ow, low) =
        window_geometry(w, k.1, s.1, padding).expect("validated by Architecture::shapes");
    let circular = padding == Padding::Circular;
    let mut maps = Vec::with_capacity(k.0 * k.1);
    for ah in 0..k.0 {
        for aw in 0..k.1 {
            let rows = (0..oh)
                .map(|i| source(i, ah, s.0, loh, h, circular))
                .collect();
            let mut runs: Vec<(usize, usize, usize)> = Vec::new();
            for j in 0..ow {
                let Some(c) = source(j, aw, s.1, low, w, circular) else {
                    continue;
                };
                match runs.last_mut() {
                    Some((os, is, len)) if *os + *len == j && *is + *len == c => *len += 1,
                    _ => runs.push((j, c, 1)),
                }
            }
            maps.push(OffsetMap { rows, runs });
        }
    }
    (oh, ow, maps)
}

/// For both matrices `m` of a state (`P_in × P_in`, input width `w_in`):
/// `out[p, p'] = Σ_{(a, b)} m[map_a(p), map_b(p')]` over the offset pairs
/// (shared offsets `a = b` for a convolution, all pairs for pooling), on
/// the `oh × ow` output grid. The innermost loop adds contiguous slices.
fn window_sum(
    ms: [&[f64]; 2],
    w_in: usize,
    maps: &[OffsetMap],
    shared: bool,
    (oh, ow): (usize, usize),
) -> [Vec<f64>; 2] {
    let p_in = ms[0].len().isqrt();
    let po = oh * ow;
    let mut out = [vec![0.0; po * po], vec![0.0; po * po]];
    for (ia, ma) in maps.iter().enumerate() {
        let partners = if shared { &maps[ia..=ia] } else { maps };
        for (i, ri) in ma.rows.iter().enumerate() {
            let Some(ri) = *ri else { continue };
            for &(js, cs, len) in &ma.runs {
                for t in 0..len {
                    let (pi, src_pos) = (i * ow + js + t, ri * w_in + cs + t);
                    for (m, o) in ms.iter().zip(out.iter_mut()) {
                        let src_row = &m[src_pos * p_in..(src_pos + 1) * p_in];
                        let dst_row = &mut o[pi * po..(pi + 1) * po];
                        for mb in partners {
                            for (i2, r2) in mb.rows.iter().enumerate() {
                                let Some(r2) = *r2 else { continue };
                                let src = &src_row[r2 * w_in..(r2 + 1) * w_in];
                                let dst = &mut dst_row[i2 * ow..(i2 + 1) * ow];
                                for &(js2, cs2, len2) in &mb.runs {
                                    for (d, v) in
                                        dst[js2..js2 + len2].iter_mut().zip(&src[cs2..cs2 + len2])
                                    {
                                        *d += v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// One layer on a position-pair state; `da`, `db` are the two images' own
/// variances (diagonals) entering the layer.
fn spatial_step(
    arch: &Architecture,
    l: usize,
    layer: &Layer,
    s: State,
    da: &[f64],
    db: &[f64],
) -> Result<State> {
    let p = s.p();
    Ok(match layer {
        Layer::Dense { w_std, b_std } => {
            let (w2, b2) = (w_std * w_std, b_std.unwrap_or(0.0).powi(2));
            let q: Vec<f64> = s.q.iter().map(|v| w2 * v + b2).collect();
            let t = q.iter().zip(&s.t).map(|(qv, tv)| qv + w2 * tv).collect();
            State { q, t, ..s }
        }
        Layer::Conv {
            filter,
            strides,
            padding,
            w_std,
            b_std,
        } => {
            let (oh, ow, maps) = offset_maps(s.h, s.w, *filter, *strides, *padding);
            let scale = w_std * w_std / (filter.0 * filter.1) as f64;
            let b2 = b_std.unwrap_or(0.0).powi(2);
            let [mut q, mut t] = window_sum([&s.q, &s.t], s.w, &maps, true, (oh, ow));
            for (qv, tv) in q.iter_mut().zip(t.iter_mut()) {
                *qv = scale * *qv + b2;
                *tv = *qv + scale * *tv;
            }
            State { h: oh, w: ow, q, t }
        }
        Layer::AvgPool {
            window,
            strides,
            padding,
        } => {
            let (oh, ow, maps) = offset_maps(s.h, s.w, *window, *strides, *padding);
            let inv = 1.0 / ((window.0 * window.1) as f64).powi(2);
            let [mut q, mut t] = window_sum([&s.q, &s.t], s.w, &maps, false, (oh, ow));
            q.iter_mut().chain(t.iter_mut()).for_each(|v| *v *= inv);
            State { h: oh, w: ow, q, t }
        }
        Layer::GlobalAvgPool => {
            let inv = 1.0 / (p * p) as f64;
            State {
                h: 1,
                w: 1,
                q: vec![s.q.iter().sum::<f64>() * inv],
                t: vec![s.t.iter().sum::<f64>() * inv],
            }
        }
        Layer::Flatten => {
            let inv = 1.0 / p as f64;
            let diag = |m: &[f64]| (0..p).map(|i| m[i * p + i]).sum::<f64>() * inv;
            State {
                h: 1,
                w: 1,
                q: vec![diag(&s.q)],
                t: vec![diag(&s.t)],
            }
        }
        Layer::LayerNorm => {
            let mut q = s.q;
            let mut t = s.t;
            for i in 0..p {
                for j in 0..p {
                    let n = ((da[i] + LAYER_NORM_EPS) * (db[j] + LAYER_NORM_EPS)).sqrt();
                    q[i * p + j] /= n;
                    t[i * p + j] /= n;
                }
            }
            State { q, t, ..s }
        }
        Layer::Activation(_) => {
            let dual = arch.dual(l);
            let mut q = s.q;
            let mut t = s.t;
            let (mut qa, mut k, mut kd) = (vec![0.0; p], vec![0.0; p], vec![0.0; p]);
            for (i, &dai) in da.iter().enumerate() {
                qa.iter_mut().for_each(|v| *v = dai);
                let row = i * p..(i + 1) * p;
                dual.eval_many(&qa, db, &q[row.clone()], &mut k, &mut kd)
                    .map_err(act_err(l))?;
                q[row.clone()].copy_from_slice(&k);
                t[row].iter_mut().zip(&kd).for_each(|(ti, d)| *ti *= d);
            }
            State { q, t, ..s }
        }
    })
}

/// `⟨x_p, y_p'⟩/C` for every position pair of two images.
fn input_state(x: &[f64], y: &[f64], h: usize, w: usize, c: usize) -> State {
    let p = h * w;
    let xm = MatRef::from_row_major_slice(x, p, c);
    let ym = MatRef::from_row_major_slice(y, p, c);
    let mut g = Mat::<f64>::zeros(p, p);
    matmul(
        g.as_mut(),
        Accum::Replace,
        xm,
        ym.transpose(),
        1.0 / c as f64,
        Par::Seq,
    );
    let q = (0..p * p).map(|k| g[(k / p, k % p)]).collect();
    State {
        h,
        w,
        q,
        t: vec![0.0; p * p],
    }
}

/// An image's own state through the network: the diagonal entering every
/// layer, and the final `(q, Θ)`.
fn image_self(
    arch: &Architecture,
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
) -> Result<(Vec<Vec<f64>>, f64, f64)> {
    let mut s = input_state(x, x, h, w, c);
    let mut diags = Vec::with_capacity(arch.layers().len());
    for (l, layer) in arch.layers().iter().enumerate() {
        let p = s.p();
        let d: Vec<f64> = (0..p).map(|i| s.q[i * p + i]).collect();
        s = spatial_step(arch, l, layer, s, &d, &d)?;
        diags.push(d);
    }
    Ok((diags, s.q[0], s.t[0]))
}

/// Pairs per progress report.
const PAIR_CHUNK: usize = 32;

fn images(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Kernels> {
    let Input::Images {
        data: d1,
        n: n1,
        h,
        w,
        c,
    } = x1
    else {
        unreachable!("image path")
    };
    let sym = x2.is_none();
    let (d2, n2) = match x2 {
        Some(Input::Images { data, n, .. }) => (data, n),
        _ => (d1, n1),
    };
    let size = h * w * c;
    let img = |d: &'_ [f64], i: usize| -> Vec<f64> { d[i * size..(i + 1) * size].to_vec() };
    let selfs = |d: &[f64], n: usize| -> Result<Vec<SelfImage>> {
        map_n(par, n, |i| image_self(arch, &img(d, i), h, w, c))
            .into_iter()
            .collect()
    };
    let sa = selfs(d1, n1)?;
    let sb = if sym { sa.clone() } else { selfs(d2, n2)? };
    let pairs: Vec<(usize, usize)> = (0..n1)
        .flat_map(|i| (if sym { i } else { 0 }..n2).map(move |j| (i, j)))
        .collect();
    let mut nngp = Mat::zeros(n1, n2);
    let mut ntk = Mat::zeros(n1, n2);
    let total = pairs.len();
    for (k, chunk) in pairs.chunks(PAIR_CHUNK).enumerate() {
        let results: Vec<Result<(f64, f64)>> = map_n(par, chunk.len(), |k| {
            let (i, j) = chunk[k];
            let mut s = input_state(
                &d1[i * size..(i + 1) * size],
                &d2[j * size..(j + 1) * size],
                h,
                w,
                c,
            );
            for (l, layer) in arch.layers().iter().enumerate() {
                s = spatial_step(arch, l, layer, s, &sa[i].0[l], &sb[j].0[l])?;
            }
            Ok((s.q[0], s.t[0]))
        });
        for (&(i, j), r) in chunk.iter().zip(results) {
            let (q, t) = r?;
            nngp[(i, j)] = q;
            ntk[(i, j)] = t;
            if sym {
                nngp[(j, i)] = q;
                ntk[(j, i)] = t;
            }
        }
        progress((k * PAIR_CHUNK + chunk.len()).min(total), total);
    }
    Ok(finish(
        nngp,
        ntk,
        sym,
        sa.iter().map(|s| (s.1, s.2)),
        sb.iter().map(|s| (s.1, s.2)),
    ))
}
