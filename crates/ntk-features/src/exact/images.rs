//! The image path: every pair of images carries the `(HW) × (HW)` state of
//! `q` and `Θ` through the plan.

use super::{Kernels, finish, map_n};
use crate::Input;
use crate::error::Result;
use crate::plan::{Op, PairScratch, Plan, Step, Window, pointwise};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// An image's diagonals before each step and its final `(q, Θ)`.
pub(crate) type SelfImage = (Vec<Vec<f64>>, f64, f64);

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

/// The offset maps of a window: one map per offset.
fn offset_maps(win: &Window) -> Vec<OffsetMap> {
    let (oh, ow) = win.output;
    let mut maps = Vec::with_capacity(win.taps());
    for ah in 0..win.k.0 {
        for aw in 0..win.k.1 {
            let rows = (0..oh).map(|i| win.row(i, ah)).collect();
            let mut runs: Vec<(usize, usize, usize)> = Vec::new();
            for j in 0..ow {
                let Some(c) = win.col(j, aw) else {
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
    maps
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

/// One step on a position-pair state; `da`, `db` are the two images' own
/// variances (diagonals) entering the step.
fn spatial_step(plan: &Plan<'_>, step: &Step, s: State, da: &[f64], db: &[f64]) -> Result<State> {
    let p = s.p();
    Ok(match &step.op {
        Op::Conv {
            window,
            w_std,
            b_std,
        } => {
            let maps = offset_maps(window);
            let scale = w_std * w_std / window.taps() as f64;
            let b2 = b_std * b_std;
            let [mut q, mut t] = window_sum([&s.q, &s.t], s.w, &maps, true, window.output);
            for (qv, tv) in q.iter_mut().zip(t.iter_mut()) {
                *qv = scale * *qv + b2;
                *tv = *qv + scale * *tv;
            }
            let (h, w) = window.output;
            State { h, w, q, t }
        }
        Op::AvgPool { window } => {
            let maps = offset_maps(window);
            let inv = 1.0 / (window.taps() as f64).powi(2);
            let [mut q, mut t] = window_sum([&s.q, &s.t], s.w, &maps, false, window.output);
            q.iter_mut().chain(t.iter_mut()).for_each(|v| *v *= inv);
            let (h, w) = window.output;
            State { h, w, q, t }
        }
        Op::GlobalAvgPool => {
            let inv = 1.0 / (p * p) as f64;
            State {
                h: 1,
                w: 1,
                q: vec![s.q.iter().sum::<f64>() * inv],
                t: vec![s.t.iter().sum::<f64>() * inv],
            }
        }
        Op::Flatten => {
            let inv = 1.0 / p as f64;
            let diag = |m: &[f64]| (0..p).map(|i| m[i * p + i]).sum::<f64>() * inv;
            State {
                h: 1,
                w: 1,
                q: vec![diag(&s.q)],
                t: vec![diag(&s.t)],
            }
        }
        Op::Dense { .. } | Op::LayerNorm | Op::Activation => {
            // Row `i` pairs position `i` of the first image with every
            // position of the second.
            let mut q = s.q;
            let mut t = s.t;
            let mut qa = vec![0.0; p];
            let mut scratch = PairScratch::default();
            for (i, &dai) in da.iter().enumerate() {
                qa.iter_mut().for_each(|v| *v = dai);
                let row = i * p..(i + 1) * p;
                pointwise(
                    plan,
                    step,
                    &mut q[row.clone()],
                    &mut t[row],
                    &qa,
                    db,
                    &mut scratch,
                )?;
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
/// step, and the final `(q, Θ)`.
pub(crate) fn image_self(
    plan: &Plan<'_>,
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
) -> Result<SelfImage> {
    let mut s = input_state(x, x, h, w, c);
    let mut diags = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        let p = s.p();
        let d: Vec<f64> = (0..p).map(|i| s.q[i * p + i]).collect();
        s = spatial_step(plan, step, s, &d, &d)?;
        diags.push(d);
    }
    Ok((diags, s.q[0], s.t[0]))
}

/// Pairs per progress report.
const PAIR_CHUNK: usize = 32;

pub(super) fn images(
    plan: &Plan<'_>,
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
        map_n(par, n, |i| image_self(plan, &img(d, i), h, w, c))
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
            for (l, step) in plan.steps.iter().enumerate() {
                s = spatial_step(plan, step, s, &sa[i].0[l], &sb[j].0[l])?;
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
