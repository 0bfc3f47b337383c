//! The pools: `AvgPool(window_shape, strides, padding)` (the mean over a
//! window, `normalize_edges = False`) and `GlobalAvgPool()` (the mean over
//! all positions, "CNTK-GAP"). Kernel: the mean over window pairs, or all
//! position pairs (the image path's window sums, `exact::images`). Features:
//! the same means of each sample's per-position features.

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

/// `GlobalAvgPool`'s parameter names.
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

/// `GlobalAvgPool` from its bound arguments.
pub(crate) fn parse_global(a: &mut Args<'_>) -> Result<Layer> {
    a.only("batch_axis", &["0"])?;
    a.only("channel_axis", &["-1"])?;
    Ok(Layer::GlobalAvgPool)
}

/// `AvgPool`'s canonical string.
pub(crate) fn fmt_avg(
    f: &mut fmt::Formatter<'_>,
    window: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
) -> fmt::Result {
    write!(
        f,
        "AvgPool(window_shape=({}, {}), strides=({}, {}), padding={})",
        window.0,
        window.1,
        strides.0,
        strides.1,
        fmt_padding(padding)
    )
}

/// `AvgPool`: window and strides at least 1.
pub(crate) fn validate_avg(
    layer: usize,
    window: (usize, usize),
    strides: (usize, usize),
) -> Result<()> {
    if window.0 == 0 || window.1 == 0 || strides.0 == 0 || strides.1 == 0 {
        return Err(invalid(
            layer,
            "AvgPool",
            "window and strides must be at least 1",
        ));
    }
    Ok(())
}

/// `AvgPool`'s resolved step on its window.
pub(crate) fn op_avg(window: Window) -> Op {
    Op::AvgPool { window }
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

/// `AvgPool` on one sample's features.
pub(crate) fn features_avg<T: Real>(st: &mut State<T>, window: Window, ntk: bool) {
    let (oh, ow) = window.output;
    let pool = |src: &[T], d: usize| pool_positions(src, d, &window);
    st.phi = pool(&st.phi, st.dphi);
    if ntk && st.dpsi > 0 {
        st.psi = pool(&st.psi, st.dpsi);
    }
    st.pos = oh * ow;
    st.h = oh;
    st.w = ow;
}

/// `GlobalAvgPool` on one sample's features.
pub(crate) fn features_global<T: Real>(st: &mut State<T>, ntk: bool) {
    let inv = T::cast(1.0 / st.pos as f64);
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
