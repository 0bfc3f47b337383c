//! The image path: every pair of images carries the `(HW) × (HW)` state of
//! `q` and `Θ` through the plan.

use super::io::{Diagonal, Kernels, finish};
use crate::Input;
use crate::error::{FeatureError, Result};
use crate::plan::{Op, PairScratch, Plan, Step, Window, pointwise};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use sketch_core::parallel::{lock, map_tasks, per_worker};
use std::ops::ControlFlow;

/// An image's diagonals before each step and its final `(q, Θ)`.
pub(crate) type SelfImage = (Vec<Vec<f64>>, f64, f64);

/// A position-pair state: `q` and `Θ` as `P₁ × P₂` row-major matrices on an
/// `h × w` grid (both images share the geometry). The buffers are reused
/// from pair to pair: they grow to the largest state once and are never
/// reallocated, so a pair costs no allocation (and no page faults).
#[derive(Debug, Clone, Default)]
struct State {
    h: usize,
    w: usize,
    q: Vec<f64>,
    t: Vec<f64>,
    /// `Θ` is known to be zero (before the first Conv or Dense), so its
    /// window sums are skipped.
    t_zero: bool,
}

impl State {
    fn p(&self) -> usize {
        self.h * self.w
    }

    /// Shapes the state as `h × w` with zeroed buffers (within capacity).
    fn reset(&mut self, h: usize, w: usize, t_zero: bool) {
        let n = (h * w) * (h * w);
        self.h = h;
        self.w = w;
        self.t_zero = t_zero;
        for (v, zero) in [(&mut self.q, true), (&mut self.t, !t_zero)] {
            v.clear();
            if zero {
                v.resize(n, 0.0);
            }
        }
    }
}

/// `(HW)²` matrices one worker holds: `q` and `Θ` of the current and the
/// next state, and the first pass of a separable window sum
/// ([`PairBufs`]); [`super::kernel_memory`] counts them.
pub(crate) const PAIR_MATRICES: usize = 5;

/// One worker's buffers: the current state, the next one, and the
/// pointwise scratch.
#[derive(Debug, Default)]
struct PairBufs {
    cur: State,
    next: State,
    /// The first pass of a separable window sum.
    tmp: Vec<f64>,
    qa: Vec<f64>,
    qb: Vec<f64>,
    scratch: PairScratch,
    /// The states a branching network keeps aside (`Op::Store`).
    slots: Vec<State>,
}

/// `dst` becomes a copy of `src` (within `dst`'s capacity).
fn copy_state(src: &State, dst: &mut State) {
    dst.h = src.h;
    dst.w = src.w;
    dst.t_zero = src.t_zero;
    dst.q.clear();
    dst.q.extend_from_slice(&src.q);
    dst.t.clear();
    dst.t.extend_from_slice(&src.t);
}

/// Where one window offset `(ah, aw)` reads: the input row of every output
/// row and the input column of every output column (`None` in the zero
/// padding), with the columns grouped into contiguous runs
/// `(output start, input start, length)` so the sums below are slice
/// additions.
#[derive(Debug)]
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

/// For each matrix `m` of `src` (`P_in × P_in`, input width `w_in`), into
/// the same matrix of `dst`: `dst[p, p'] = Σ_{(a, b)} m[map_a(p), map_b(p')]`
/// over the offset pairs (shared offsets `a = b` for a convolution, all
/// pairs for pooling), on the `oh × ow` output grid. A `Θ` known to be zero
/// is not summed. The innermost loop adds contiguous slices.
fn window_sum(
    src: &State,
    dst: &mut State,
    maps: &[OffsetMap],
    shared: bool,
    (oh, ow): (usize, usize),
) {
    let w_in = src.w;
    let p_in = src.p();
    let po = oh * ow;
    dst.reset(oh, ow, src.t_zero);
    let mats: [(&[f64], &mut Vec<f64>); 2] = [(&src.q, &mut dst.q), (&src.t, &mut dst.t)];
    for (m, o) in mats {
        if m.is_empty() {
            continue;
        }
        for (ia, ma) in maps.iter().enumerate() {
            let partners = if shared { &maps[ia..=ia] } else { maps };
            for (i, ri) in ma.rows.iter().enumerate() {
                let Some(ri) = *ri else { continue };
                for &(js, cs, len) in &ma.runs {
                    for t in 0..len {
                        let (pi, src_pos) = (i * ow + js + t, ri * w_in + cs + t);
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
}

/// Scalar additions of [`window_sum`] and of [`window_sum_separable`] on
/// an input of `h_in` rows and an `oh × ow` output, for `kh × kw` windows.
fn window_sum_costs(
    h_in: usize,
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
    shared: bool,
) -> (f64, f64) {
    let pairs = |k: usize| if shared { k as f64 } else { (k * k) as f64 };
    let out = (oh * ow) as f64 * (oh * ow) as f64;
    let direct = out * pairs(kh * kw);
    let columns_first = (h_in * ow) as f64 * (h_in * ow) as f64 * pairs(kw);
    (direct, columns_first + out * pairs(kh))
}

/// [`window_sum`] in two passes: a window's offsets are the product of its
/// row offsets `ah` and column offsets `aw` (the offset maps' rows depend on
/// `ah` only, their column runs on `aw` only), so
/// `dst[(i, j), (k, l)] = Σ_{ah, bh} T[(row_ah(i), j), (row_bh(k), l)]` with
/// `T[(r, j), (r', l)] = Σ_{aw, bw} m[(r, col_aw(j)), (r', col_bw(l))]`
/// over every input row pair (`aw = bw`, `ah = bh` for a convolution).
/// `kh·kw` additions per entry become `kh` plus `kw·(h_in/oh)²`; `tmp`
/// holds `T`, `(h_in·ow)²` values.
fn window_sum_separable(
    src: &State,
    dst: &mut State,
    maps: &[OffsetMap],
    (kh, kw): (usize, usize),
    shared: bool,
    (oh, ow): (usize, usize),
    tmp: &mut Vec<f64>,
) {
    debug_assert_eq!(maps.len(), kh * kw);
    let (h_in, w_in) = (src.h, src.w);
    let p_in = src.p();
    let po = oh * ow;
    let n1 = h_in * ow;
    let partners = |a: usize, k: usize| if shared { a..a + 1 } else { 0..k };
    dst.reset(oh, ow, src.t_zero);
    let mats: [(&[f64], &mut Vec<f64>); 2] = [(&src.q, &mut dst.q), (&src.t, &mut dst.t)];
    for (m, o) in mats {
        if m.is_empty() {
            continue;
        }
        tmp.clear();
        tmp.resize(n1 * n1, 0.0);
        // Columns: T[(r, j), (r', l)].
        for aw in 0..kw {
            for &(js, cs, len) in &maps[aw].runs {
                for t in 0..len {
                    let (j, c) = (js + t, cs + t);
                    for r in 0..h_in {
                        let src_row = &m[(r * w_in + c) * p_in..(r * w_in + c + 1) * p_in];
                        let dst_row = &mut tmp[(r * ow + j) * n1..(r * ow + j + 1) * n1];
                        for bw in partners(aw, kw) {
                            for r2 in 0..h_in {
                                let s = &src_row[r2 * w_in..(r2 + 1) * w_in];
                                let d = &mut dst_row[r2 * ow..(r2 + 1) * ow];
                                for &(js2, cs2, len2) in &maps[bw].runs {
                                    for (d, v) in
                                        d[js2..js2 + len2].iter_mut().zip(&s[cs2..cs2 + len2])
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
        // Rows: dst[(i, j), (k, l)].
        for ah in 0..kh {
            for (i, ri) in maps[ah * kw].rows.iter().enumerate() {
                let Some(ri) = *ri else { continue };
                for j in 0..ow {
                    let src_row = &tmp[(ri * ow + j) * n1..(ri * ow + j + 1) * n1];
                    let dst_row = &mut o[(i * ow + j) * po..(i * ow + j + 1) * po];
                    for bh in partners(ah, kh) {
                        for (i2, r2) in maps[bh * kw].rows.iter().enumerate() {
                            let Some(r2) = *r2 else { continue };
                            for (d, v) in dst_row[i2 * ow..(i2 + 1) * ow]
                                .iter_mut()
                                .zip(&src_row[r2 * ow..(r2 + 1) * ow])
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

/// The window sum, by whichever of the direct and separable forms adds
/// less.
fn window_sum_any(b: &mut PairBufs, maps: &[OffsetMap], window: &Window, shared: bool) {
    let (direct, separable) = window_sum_costs(b.cur.h, window.output, window.k, shared);
    if separable < direct {
        window_sum_separable(
            &b.cur,
            &mut b.next,
            maps,
            window.k,
            shared,
            window.output,
            &mut b.tmp,
        );
    } else {
        window_sum(&b.cur, &mut b.next, maps, shared, window.output);
    }
}

/// A window's precomputed geometry: its offset maps, and for stride-1
/// windows whose output grid is their input grid (SAME, not CIRCULAR) the
/// constant shifts that let a shared-offset sum run over whole rows.
#[derive(Debug)]
struct StepMaps {
    runs: Vec<OffsetMap>,
    shift: Option<Vec<ShiftTap>>,
}

/// One offset of a stride-1 window on an unchanged grid: every output
/// position `p` with its source inside the image reads position `p + δ`,
/// so for a convolution (the same offset on both images) output row `p`
/// gains input row `p + δ` shifted by `δ`, masked where the column of `p'`
/// leaves the image.
#[derive(Debug)]
struct ShiftTap {
    delta: isize,
    /// `1.0` where a position's source is inside the image, else `0.0`.
    mask: Vec<f64>,
    /// From the first to one past the last position whose source is
    /// inside: for every `p'` in this range `p' + δ` is a position (the
    /// shift is monotone).
    lo: usize,
    hi: usize,
}

fn shift_taps(win: &Window) -> Option<Vec<ShiftTap>> {
    if win.s != (1, 1) || win.circular || win.input != win.output {
        return None;
    }
    let (h, w) = win.input;
    let p = h * w;
    let mut taps = Vec::with_capacity(win.taps());
    for ah in 0..win.k.0 {
        for aw in 0..win.k.1 {
            let src: Vec<Option<usize>> = (0..p)
                .map(|q| win.source((q / w, q % w), (ah, aw)))
                .collect();
            let rows: Vec<usize> = (0..p).filter(|&q| src[q].is_some()).collect();
            let delta = rows
                .first()
                .map_or(0, |&q| src[q].unwrap_or(q) as isize - q as isize);
            // The constant shift is what makes rows contiguous; anything
            // else takes the general path.
            if rows
                .iter()
                .any(|&q| src[q] != Some((q as isize + delta) as usize))
            {
                return None;
            }
            taps.push(ShiftTap {
                delta,
                mask: src
                    .iter()
                    .map(|s| if s.is_some() { 1.0 } else { 0.0 })
                    .collect(),
                lo: rows.first().copied().unwrap_or(0),
                hi: rows.last().map_or(0, |&l| l + 1),
            });
        }
    }
    Some(taps)
}

/// The shared-offset (convolution) window sum of [`window_sum`] by whole
/// shifted rows: `dst[p, p'] = Σ_t mask_t[p'] · m[p + δ_t, p' + δ_t]` over
/// the taps whose `p` is valid. Adding `0·m` where a column is masked
/// leaves the sum's bits unchanged, so the result is bitwise the general
/// path's (the terms come in the same tap order).
fn shift_sum(src: &State, dst: &mut State, taps: &[ShiftTap]) {
    let add = masked_add_fn();
    let p = src.p();
    dst.reset(src.h, src.w, src.t_zero);
    let mats: [(&[f64], &mut Vec<f64>); 2] = [(&src.q, &mut dst.q), (&src.t, &mut dst.t)];
    for (m, o) in mats {
        if m.is_empty() {
            continue;
        }
        // Row by row, every tap in order: the output row (8 KB for 32×32)
        // stays in cache while its nine source rows stream past, and each
        // entry still receives its terms in tap order.
        for r in 0..p {
            let dst_row = &mut o[r * p..(r + 1) * p];
            for t in taps {
                if t.mask[r] == 0.0 || t.lo >= t.hi {
                    continue;
                }
                let (lo, hi) = (t.lo, t.hi);
                let s_lo = (lo as isize + t.delta) as usize;
                let sr = (r as isize + t.delta) as usize;
                add(
                    &mut dst_row[lo..hi],
                    &m[sr * p + s_lo..sr * p + s_lo + (hi - lo)],
                    &t.mask[lo..hi],
                );
            }
        }
    }
}

/// `dst[i] += src[i]·mask[i]`: a multiply and an add per entry, never fused,
/// so every build gives the same bits.
#[inline(always)]
fn masked_add_portable(dst: &mut [f64], src: &[f64], mask: &[f64]) {
    for ((d, s), k) in dst.iter_mut().zip(src).zip(mask) {
        *d += s * k;
    }
}

/// [`masked_add_portable`] compiled for AVX2 (four lanes instead of SSE2's two).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn masked_add_avx2(dst: &mut [f64], src: &[f64], mask: &[f64]) {
    masked_add_portable(dst, src, mask);
}

#[cfg(target_arch = "x86_64")]
fn masked_add_avx2_entry(dst: &mut [f64], src: &[f64], mask: &[f64]) {
    #[allow(unsafe_code)]
    // SAFETY: chosen by `masked_add_fn` only where AVX2 was detected.
    unsafe {
        masked_add_avx2(dst, src, mask);
    }
}

/// The masked row add for this CPU, chosen once per window sum.
fn masked_add_fn() -> fn(&mut [f64], &[f64], &[f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return masked_add_avx2_entry;
    }
    masked_add_portable
}

/// A sum in eight interleaved partial sums, combined pairwise: the
/// sequential sum's dependency chain (one add per 4 cycles) was a third of
/// a small image's pair time, and the partial sums are also more accurate.
fn sum8(m: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = m.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, v) in acc.iter_mut().zip(rest) {
        *a += v;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// The geometry of every spatial step of a plan (`None` for the others),
/// built once per kernel computation rather than once per pair.
fn plan_maps(plan: &Plan<'_>) -> Vec<Option<StepMaps>> {
    plan.steps
        .iter()
        .map(|step| match &step.op {
            Op::Conv { window, .. } => Some(StepMaps {
                runs: offset_maps(window),
                shift: shift_taps(window),
            }),
            Op::AvgPool { window, .. } => Some(StepMaps {
                runs: offset_maps(window),
                shift: None,
            }),
            _ => None,
        })
        .collect()
}

/// One step on the position-pair state `b.cur`; `da`, `db` are the two
/// images' own variances (diagonals) entering the step.
fn spatial_step(
    plan: &Plan<'_>,
    step: &Step,
    maps: Option<&StepMaps>,
    b: &mut PairBufs,
    da: &[f64],
    db: &[f64],
) -> Result<()> {
    let p = b.cur.p();
    match &step.op {
        Op::Store { slot } => {
            if b.slots.len() <= *slot {
                b.slots.resize_with(slot + 1, State::default);
            }
            copy_state(&b.cur, &mut b.slots[*slot]);
        }
        Op::Load { slot } => copy_state(&b.slots[*slot], &mut b.cur),
        Op::Combine { slots, mean } => {
            // Added in order from zero (`0 + a = a` exactly), a `Θ` known
            // to be zero contributing nothing: stax's `sum(mats)`.
            let first = &b.slots[slots[0]];
            let t_zero = slots.iter().all(|&s| b.slots[s].t_zero);
            b.next.reset(first.h, first.w, t_zero);
            for &s in slots {
                let src = &b.slots[s];
                for (o, v) in b.next.q.iter_mut().zip(&src.q) {
                    *o += v;
                }
                if !src.t_zero {
                    for (o, v) in b.next.t.iter_mut().zip(&src.t) {
                        *o += v;
                    }
                }
            }
            if *mean {
                let n = slots.len() as f64;
                let next = &mut b.next;
                next.q
                    .iter_mut()
                    .chain(next.t.iter_mut())
                    .for_each(|v| *v /= n);
            }
            std::mem::swap(&mut b.cur, &mut b.next);
        }
        Op::Conv {
            window,
            w_std,
            b_std,
        } => {
            let maps = maps.expect("a spatial step has its offset maps");
            let scale = w_std * w_std / window.taps() as f64;
            let b2 = b_std * b_std;
            match &maps.shift {
                Some(taps) => shift_sum(&b.cur, &mut b.next, taps),
                None => window_sum_any(b, &maps.runs, window, true),
            }
            let next = &mut b.next;
            if next.t_zero {
                next.t.resize(next.q.len(), 0.0);
                next.t_zero = false;
            }
            for (qv, tv) in next.q.iter_mut().zip(next.t.iter_mut()) {
                *qv = scale * *qv + b2;
                *tv = *qv + scale * *tv;
            }
            std::mem::swap(&mut b.cur, &mut b.next);
        }
        Op::AvgPool { window, scale } => {
            let maps = maps.expect("a spatial step has its offset maps");
            // `scale = 1` (AvgPool) keeps the bits of `1/taps²`.
            let inv = scale * scale / (window.taps() as f64).powi(2);
            window_sum_any(b, &maps.runs, window, false);
            let next = &mut b.next;
            next.q
                .iter_mut()
                .chain(next.t.iter_mut())
                .for_each(|v| *v *= inv);
            std::mem::swap(&mut b.cur, &mut b.next);
        }
        Op::GlobalAvgPool { .. } | Op::Flatten => {
            // GAP averages all position pairs, Flatten the diagonal ones.
            let reduce = |m: &[f64]| -> f64 {
                if m.is_empty() {
                    0.0
                } else if let Op::GlobalAvgPool { scale } = step.op {
                    // `scale = 1` (GlobalAvgPool) multiplies exactly.
                    sum8(m) * (scale * scale) / (p * p) as f64
                } else {
                    (0..p).map(|i| m[i * p + i]).sum::<f64>() / p as f64
                }
            };
            let (q, t) = (reduce(&b.cur.q), reduce(&b.cur.t));
            let t_zero = b.cur.t_zero;
            b.next.reset(1, 1, t_zero);
            b.next.q[0] = q;
            if !t_zero {
                b.next.t[0] = t;
            }
            std::mem::swap(&mut b.cur, &mut b.next);
        }
        Op::Dense { .. } | Op::LayerNorm | Op::Activation => {
            let cur = &mut b.cur;
            if cur.t_zero {
                // Θ = 0 so far (LayerNorm on the input, or Dense after
                // pooling only): the pointwise kernel needs it in full.
                cur.t.resize(cur.q.len(), 0.0);
                cur.t_zero = false;
            }
            // Entry `(i, j)` pairs position `i` of the first image with
            // position `j` of the second, with variances `da[i]`, `db[j]`.
            // Batches of whole rows of about POINTWISE_BATCH entries: long
            // enough for the vector path, short enough that the batch's
            // variances and outputs stay in cache (a 32×32 state is 8 MB).
            let rows = (POINTWISE_BATCH / p).clamp(1, p);
            b.qb.clear();
            for _ in 0..rows {
                b.qb.extend_from_slice(db);
            }
            for (chunk, das) in da.chunks(rows).enumerate() {
                b.qa.clear();
                for &dai in das {
                    b.qa.extend(std::iter::repeat_n(dai, p));
                }
                let range = chunk * rows * p..(chunk * rows + das.len()) * p;
                let len = range.len();
                pointwise(
                    plan,
                    step,
                    &mut cur.q[range.clone()],
                    &mut cur.t[range],
                    &b.qa,
                    &b.qb[..len],
                    &mut b.scratch,
                )?;
            }
        }
    }
    Ok(())
}

/// The leading steps of a plan that are average pools: they act on the
/// images themselves (pooling is linear, so pooling the Gram matrix of the
/// positions equals the Gram matrix of the pooled images), which keeps the
/// `(HW)²` state of the full-size input from ever being formed.
fn leading_pools(plan: &Plan<'_>) -> usize {
    plan.steps
        .iter()
        .take_while(|s| matches!(s.op, Op::AvgPool { scale, .. } if scale == 1.0))
        .count()
}

/// An image after the plan's leading pools, its `(h, w)`, and the
/// diagonals `⟨x_p, x_p⟩/C` entering each of those pools.
fn pooled(
    plan: &Plan<'_>,
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
) -> (Vec<f64>, (usize, usize), Vec<Vec<f64>>) {
    let mut img = x.to_vec();
    let mut hw = (h, w);
    let mut diags = Vec::new();
    for step in &plan.steps[..leading_pools(plan)] {
        diags.push(self_diag(&img, c));
        let Op::AvgPool { window, .. } = &step.op else {
            unreachable!("leading_pools counts pools only")
        };
        img = crate::plan::pool_positions(&img, c, window);
        hw = window.output;
    }
    (img, hw, diags)
}

/// `⟨x_p, x_p⟩/C` for every position of an NHWC image.
fn self_diag(x: &[f64], c: usize) -> Vec<f64> {
    x.chunks_exact(c)
        .map(|v| v.iter().map(|a| a * a).sum::<f64>() / c as f64)
        .collect()
}

/// `⟨x_p, y_p'⟩/C` for every position pair of two images, into `s`.
fn input_state(s: &mut State, x: &[f64], y: &[f64], (h, w): (usize, usize), c: usize) {
    let p = h * w;
    s.reset(h, w, true);
    let xm = MatRef::from_row_major_slice(x, p, c);
    let ym = MatRef::from_row_major_slice(y, p, c);
    // Row-major `G = X Yᵀ` is the column-major `Gᵀ = Y Xᵀ`.
    let g = MatMut::from_column_major_slice_mut(&mut s.q, p, p);
    matmul(
        g,
        Accum::Replace,
        ym,
        xm.transpose(),
        1.0 / c as f64,
        Par::Seq,
    );
}

/// An image's own state through the network: the diagonal entering every
/// step, and the final `(q, Θ)`.
///
/// `bufs` are a caller's buffers, reused across images (the feature maps
/// keep one per worker): a fresh `(HW)²` state per image costs page faults
/// and zeroing. Every buffer is rewritten before it is read, so reuse does
/// not change the result.
pub(crate) fn image_self(
    plan: &Plan<'_>,
    bufs: &mut SelfBufs,
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
) -> Result<SelfImage> {
    let maps = plan_maps(plan);
    Ok(self_with(plan, &maps, &mut bufs.0, x, h, w, c)?.0)
}

/// The buffers of [`image_self`].
#[derive(Debug, Default)]
pub(crate) struct SelfBufs(PairBufs);

/// [`image_self`] in a worker's buffers; also returns the image after the
/// plan's leading pools (the input of every pair it takes part in).
fn self_with(
    plan: &Plan<'_>,
    maps: &[Option<StepMaps>],
    b: &mut PairBufs,
    x: &[f64],
    h: usize,
    w: usize,
    c: usize,
) -> Result<(SelfImage, Vec<f64>)> {
    let (img, hw, mut diags) = pooled(plan, x, h, w, c);
    input_state(&mut b.cur, &img, &img, hw, c);
    let first = diags.len();
    diags.reserve(plan.steps.len() - first);
    for (step, m) in plan.steps.iter().zip(maps).skip(first) {
        let p = b.cur.p();
        let d: Vec<f64> = (0..p).map(|i| b.cur.q[i * p + i]).collect();
        spatial_step(plan, step, m.as_ref(), b, &d, &d)?;
        diags.push(d);
    }
    let own = (diags, b.cur.q[0], b.cur.t.first().copied().unwrap_or(0.0));
    Ok((own, img))
}

/// Entries per pointwise batch of the position-pair state (32 KB of each
/// input).
const POINTWISE_BATCH: usize = 4096;

/// Pairs per progress report.
const PAIR_CHUNK: usize = 32;

/// What every pair of one image call shares: each image's own recursion
/// and pooled pixels, and the plan's window maps.
pub(super) struct ImagePairs {
    maps: Vec<Option<StepMaps>>,
    lead: usize,
    hw: (usize, usize),
    c: usize,
    sa: Vec<(SelfImage, Vec<f64>)>,
    /// The second input's; `None`: the first's.
    sb: Option<Vec<(SelfImage, Vec<f64>)>>,
}

impl ImagePairs {
    /// Prepares every image of `x1` and `x2` (each image's own recursion
    /// runs once, in parallel).
    pub(super) fn new(
        plan: &Plan<'_>,
        x1: Input<'_>,
        x2: Option<Input<'_>>,
        par: Par,
    ) -> Result<Self> {
        let Input::Images { h, w, c, .. } = x1 else {
            unreachable!("image path")
        };
        let maps = plan_maps(plan);
        let pool = per_worker(par, PairBufs::default);
        let size = h * w * c;
        let prepare = |x: Input<'_>| -> Result<Vec<(SelfImage, Vec<f64>)>> {
            let Input::Images { data, n, .. } = x else {
                unreachable!("image path")
            };
            map_tasks(par, n, |wk, i| {
                let x = &data[i * size..(i + 1) * size];
                self_with(plan, &maps, &mut lock(&pool, wk), x, h, w, c)
            })
            .into_iter()
            .collect()
        };
        let sa = prepare(x1)?;
        let sb = x2.map(prepare).transpose()?;
        let lead = leading_pools(plan);
        let hw = plan.steps[..lead].last().map_or((h, w), |s| match &s.op {
            Op::AvgPool { window, .. } => window.output,
            _ => unreachable!("leading_pools counts pools only"),
        });
        Ok(Self {
            maps,
            lead,
            hw,
            c,
            sa,
            sb,
        })
    }

    fn second(&self) -> &[(SelfImage, Vec<f64>)] {
        self.sb.as_deref().unwrap_or(&self.sa)
    }

    /// Every image's own `(K, Θ)`, of the first input and of the second,
    /// for the diagonals.
    pub(super) fn selfs(&self) -> (Diagonal, Diagonal) {
        let own = |v: &[(SelfImage, Vec<f64>)]| v.iter().map(|s| (s.0.1, s.0.2)).collect();
        (own(&self.sa), own(self.second()))
    }

    /// `(K, Θ)` of every pair `(i, j)` of `pairs`, given to `sink` in
    /// order, in chunks of [`PAIR_CHUNK`] on `par`'s workers; `progress`
    /// gets the pairs done after each chunk. Every pair is computed alone,
    /// so its bits do not depend on the other pairs or the thread count.
    pub(super) fn compute(
        &self,
        plan: &Plan<'_>,
        pairs: &[(usize, usize)],
        par: Par,
        sink: &mut dyn FnMut(usize, usize, f64, f64),
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let pool = per_worker(par, PairBufs::default);
        let (sa, sb) = (&self.sa, self.second());
        let total = pairs.len();
        for (k, chunk) in pairs.chunks(PAIR_CHUNK).enumerate() {
            let results: Vec<Result<(f64, f64)>> = map_tasks(par, chunk.len(), |wk, k| {
                let (i, j) = chunk[k];
                let b = &mut *lock(&pool, wk);
                input_state(&mut b.cur, &sa[i].1, &sb[j].1, self.hw, self.c);
                let steps = plan.steps.iter().zip(&self.maps).enumerate();
                for (l, (step, m)) in steps.skip(self.lead) {
                    spatial_step(plan, step, m.as_ref(), b, &sa[i].0.0[l], &sb[j].0.0[l])?;
                }
                Ok((b.cur.q[0], b.cur.t.first().copied().unwrap_or(0.0)))
            });
            for (&(i, j), r) in chunk.iter().zip(results) {
                let (q, t) = r?;
                sink(i, j, q, t);
            }
            let done = (k * PAIR_CHUNK + chunk.len()).min(total);
            if progress(done, total).is_break() && done < total {
                return Err(FeatureError::Cancelled { done, total });
            }
        }
        Ok(())
    }
}

pub(super) fn images(
    plan: &Plan<'_>,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Kernels> {
    let sym = x2.is_none();
    let (n1, n2) = (x1.len(), x2.map_or(x1.len(), |x| x.len()));
    let prep = ImagePairs::new(plan, x1, x2, par)?;
    let pairs: Vec<(usize, usize)> = (0..n1)
        .flat_map(|i| (if sym { i } else { 0 }..n2).map(move |j| (i, j)))
        .collect();
    let mut nngp = Mat::zeros(n1, n2);
    let mut ntk = Mat::zeros(n1, n2);
    prep.compute(
        plan,
        &pairs,
        par,
        &mut |i, j, q, t| {
            nngp[(i, j)] = q;
            ntk[(i, j)] = t;
            if sym {
                nngp[(j, i)] = q;
                ntk[(j, i)] = t;
            }
        },
        progress,
    )?;
    let (d1, d2) = prep.selfs();
    Ok(finish(nngp, ntk, sym, d1.into_iter(), d2.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_masked_add_gives_the_portable_bits() {
        // Values spanning many binades and both signs, masks with holes.
        let n = 203;
        let src: Vec<f64> = (0..n)
            .map(|i| ((i as f64) * 0.77).sin() * 10f64.powi(i as i32 % 13 - 6))
            .collect();
        let mask: Vec<f64> = (0..n).map(|i| if i % 7 == 3 { 0.0 } else { 1.0 }).collect();
        let start: Vec<f64> = (0..n).map(|i| ((i as f64) * 1.3).cos() * 1e3).collect();
        let (mut a, mut b) = (start.clone(), start.clone());
        masked_add_portable(&mut a, &src, &mask);
        masked_add_fn()(&mut b, &src, &mask);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        // Masked entries are untouched, the others gained exactly `src`.
        for i in 0..n {
            let want = if mask[i] == 0.0 {
                start[i]
            } else {
                start[i] + src[i]
            };
            assert_eq!(b[i].to_bits(), want.to_bits(), "entry {i}");
        }
    }

    #[test]
    fn separable_window_sums_equal_the_direct_sums() {
        // Both forms on states of pseudo-random entries (different images
        // in the two halves, so no symmetry helps), for convolutions and
        // pools: VALID, SAME, CIRCULAR, strides, non-square windows and
        // grids, and a window larger than the stride. Each entry sums at
        // most (3·4)² = 144 values of size ≤ 1 in a different order, so
        // the forms agree to 144·2⁻⁵² relative; 1e−12 absolute is far above
        // that and far below any missing or extra term.
        use crate::layers::Padding;
        let cases = [
            ((8, 8), (4, 4), (1, 1), Padding::Valid),
            ((7, 9), (3, 2), (1, 1), Padding::Same),
            ((6, 6), (3, 3), (1, 1), Padding::Circular),
            ((9, 7), (3, 3), (2, 2), Padding::Valid),
            ((8, 8), (2, 2), (2, 2), Padding::Valid),
            ((7, 5), (3, 4), (2, 1), Padding::Same),
        ];
        for (input, k, st, padding) in cases {
            let win = Window::new(input, k, st, padding).expect("valid window");
            let maps = offset_maps(&win);
            let p = input.0 * input.1;
            let fill = |phase: f64| -> Vec<f64> {
                (0..p * p)
                    .map(|i| ((i as f64 * 0.37 + phase).sin() * 1e4).fract())
                    .collect()
            };
            let src = State {
                h: input.0,
                w: input.1,
                q: fill(0.1),
                t: fill(0.7),
                t_zero: false,
            };
            for shared in [true, false] {
                let (mut a, mut b) = (State::default(), State::default());
                let mut tmp = vec![f64::NAN; 3];
                window_sum(&src, &mut a, &maps, shared, win.output);
                window_sum_separable(&src, &mut b, &maps, win.k, shared, win.output, &mut tmp);
                assert_eq!((a.h, a.w, a.q.len()), (b.h, b.w, b.q.len()));
                for (x, y) in a.q.iter().chain(&a.t).zip(b.q.iter().chain(&b.t)) {
                    assert!(
                        (x - y).abs() < 1e-12,
                        "{input:?} {k:?} {st:?} {padding:?} shared {shared}: {x} vs {y}"
                    );
                }
                assert!(a.q.iter().any(|v| *v != 0.0));
            }
        }
    }
}
