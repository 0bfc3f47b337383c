//! The pools: `AvgPool(window_shape, strides, padding)` (the mean over a
//! window, `normalize_edges = False`), `GlobalAvgPool()` (the mean over
//! all positions, "CNTK-GAP"), and their sums `SumPool` and
//! `GlobalSumPool` (the mean times the window's size or the number of
//! positions: zero padding counts in both). Kernel: the mean over window
//! pairs, or all position pairs (the image path's window sums,
//! `exact::images`), times the square of that factor. Features: the same
//! means of each sample's per-position features, times the factor.

use super::{Layer, Padding, invalid};
use crate::error::Result;
use crate::features::recipe::Dims;
use crate::features::state::State;
use crate::parse::{Args, fmt_padding};
use crate::plan::{Op, Window, pool_positions};
use crate::shape::Shape;
use sketch_core::Real;
use std::fmt;

/// `AvgPool`'s parameter names, in positional order.
pub(crate) const AVG_ARGS: &[&str] = &[
    "window_shape",
    "strides",
    "padding",
    "normalize_edges",
    "batch_axis",
    "channel_axis",
];

/// `SumPool`'s parameter names, in positional order.
pub(crate) const SUM_ARGS: &[&str] = &[
    "window_shape",
    "strides",
    "padding",
    "batch_axis",
    "channel_axis",
];

/// `GlobalAvgPool`'s and `GlobalSumPool`'s parameter names.
pub(crate) const GLOBAL_ARGS: &[&str] = &["batch_axis", "channel_axis"];

/// `AvgPool` from its bound arguments.
pub(crate) fn parse_avg(a: &mut Args<'_>) -> Result<Layer> {
    a.only("normalize_edges", &["False"])?;
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    Ok(Layer::AvgPool {
        window: a.pair("window_shape", None)?,
        strides: a.pair("strides", Some((1, 1)))?,
        padding: a.padding()?,
    })
}

/// `SumPool` from its bound arguments.
pub(crate) fn parse_sum(a: &mut Args<'_>) -> Result<Layer> {
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    Ok(Layer::SumPool {
        window: a.pair("window_shape", None)?,
        strides: a.pair("strides", Some((1, 1)))?,
        padding: a.padding()?,
    })
}

/// `GlobalAvgPool` or `GlobalSumPool` from its bound arguments.
pub(crate) fn parse_global(a: &mut Args<'_>, sum: bool) -> Result<Layer> {
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    Ok(if sum {
        Layer::GlobalSumPool
    } else {
        Layer::GlobalAvgPool
    })
}

/// `AvgPool`'s or `SumPool`'s canonical string.
pub(crate) fn fmt_window(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    window: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
) -> fmt::Result {
    write!(
        f,
        "{name}(window_shape=({}, {}), strides=({}, {}), padding={})",
        window.0,
        window.1,
        strides.0,
        strides.1,
        fmt_padding(padding)
    )
}

/// `AvgPool`, `SumPool`: window and strides at least 1.
pub(crate) fn validate(
    layer: usize,
    name: &'static str,
    window: (usize, usize),
    strides: (usize, usize),
) -> Result<()> {
    if window.0 == 0 || window.1 == 0 || strides.0 == 0 || strides.1 == 0 {
        return Err(invalid(
            layer,
            name,
            "window and strides must be at least 1",
        ));
    }
    Ok(())
}

/// `AvgPool`'s (`sum = false`) or `SumPool`'s resolved step on its window:
/// the mean over the window times `1` or the window's size.
pub(crate) fn op_window(window: Window, sum: bool) -> Op {
    let scale = if sum { window.taps() as f64 } else { 1.0 };
    Op::AvgPool { window, scale }
}

/// `GlobalAvgPool`'s or `GlobalSumPool`'s resolved step on an input of
/// `positions` positions: the mean times `1` or `positions`.
pub(crate) fn op_global(positions: usize, sum: bool) -> Op {
    let scale = if sum { positions as f64 } else { 1.0 };
    Op::GlobalAvgPool { scale }
}

/// `AvgPool`'s output shape: the window's output grid.
pub(crate) fn output_avg(window: &Window, input: Shape) -> Shape {
    match input {
        Shape::Image { c, .. } => Shape::Image {
            h: window.output.0,
            w: window.output.1,
            c,
        },
        s => s,
    }
}

/// `GlobalAvgPool`'s output shape: one position, whose kernel state is a
/// scalar per pair.
pub(crate) fn output_global(input: Shape) -> Shape {
    match input {
        Shape::Image { .. } => Shape::Vector { dim: 1 },
        s => s,
    }
}

/// `AvgPool` (or `SumPool`, `scale` the window's size) on one sample's
/// features.
pub(crate) fn features_avg<T: Real>(st: &mut State<T>, window: Window, scale: f64, ntk: bool) {
    let (oh, ow) = window.output;
    let pool = |src: &[T], d: usize| scaled(pool_positions(src, d, &window), scale);
    st.phi = pool(&st.phi, st.dphi);
    if ntk && st.dpsi > 0 {
        st.psi = pool(&st.psi, st.dpsi);
    }
    st.pos = oh * ow;
    st.h = oh;
    st.w = ow;
}

/// `v · scale`, untouched for `scale = 1` (the average pools).
fn scaled<T: Real>(mut v: Vec<T>, scale: f64) -> Vec<T> {
    if scale != 1.0 {
        let s = T::cast(scale);
        v.iter_mut().for_each(|x| *x *= s);
    }
    v
}

/// `GlobalAvgPool` (or `GlobalSumPool`, `scale` the number of positions)
/// on one sample's features.
pub(crate) fn features_global<T: Real>(st: &mut State<T>, scale: f64, ntk: bool) {
    let inv = T::cast(scale / st.pos as f64);
    let mean = |src: &[T], d: usize| -> Vec<T> {
        let mut out = vec![T::zero(); d];
        for p in src.chunks_exact(d.max(1)) {
            for (o, v) in out.iter_mut().zip(p) {
                *o += *v;
            }
        }
        out.iter_mut().for_each(|v| *v *= inv);
        out
    };
    st.phi = mean(&st.phi, st.dphi);
    if ntk && st.dpsi > 0 {
        st.psi = mean(&st.psi, st.dpsi);
    }
    st.pos = 1;
    st.h = 1;
    st.w = 1;
}

/// `AvgPool`: the features' dimensions after it.
pub(crate) fn dims_avg(dims: &mut Dims, window: &Window) {
    dims.pos = window.output.0 * window.output.1;
}

/// `GlobalAvgPool`: the features' dimensions after it.
pub(crate) fn dims_global(dims: &mut Dims) {
    dims.pos = 1;
}
