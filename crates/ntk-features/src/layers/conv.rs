//! `Conv(out_chan, filter_shape, strides, padding, W_std, b_std)`: 2-D
//! convolution, NHWC, `'ntk'` parameterization. Kernel: shared-offset
//! window sums of the pair state scaled by `W²/(kh·kw)`, plus `b²` (the
//! window sums are the image path's, `exact::images`). Features: every
//! output position gathers its `kh·kw` neighbours (zeros in the padding)
//! scaled by `W/√(kh·kw)`, plus the bias coordinate; where the patches
//! exceed the budget, they are gathered and compressed in one pass (a fused
//! Conv).

use super::{Layer, Padding, check_std, invalid};
use crate::error::Result;
use crate::features::recipe::{Dims, Seeds, checked};
use crate::features::state::{State, Workspace, resized};
use crate::parse::{Args, fmt_opt, fmt_padding};
use crate::plan::{Op, Window};
use crate::shape::Shape;
use sketch_core::{PatchSrht, Real};
use std::fmt;

/// stax's parameter names, in positional order.
pub(crate) const ARGS: &[&str] = &[
    "out_chan",
    "filter_shape",
    "strides",
    "padding",
    "W_std",
    "b_std",
    "dimension_numbers",
    "parameterization",
];

/// The layer from its bound arguments.
pub(crate) fn parse(a: &mut Args<'_>) -> Result<Layer> {
    a.take("out_chan");
    a.only("dimension_numbers", &["None", "NHWC"])?;
    a.only("parameterization", &["ntk"])?;
    Ok(Layer::Conv {
        filter: a.pair("filter_shape", None)?,
        strides: a.pair("strides", Some((1, 1)))?,
        padding: a.padding()?,
        w_std: a.num("W_std", Some(1.0))?,
        b_std: a.opt_num("b_std")?,
    })
}

/// The canonical string.
pub(crate) fn fmt(
    f: &mut fmt::Formatter<'_>,
    filter: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    w_std: f64,
    b_std: Option<f64>,
) -> fmt::Result {
    write!(
        f,
        "Conv(filter_shape=({}, {}), strides=({}, {}), padding={}, W_std={w_std:?}, b_std={})",
        filter.0,
        filter.1,
        strides.0,
        strides.1,
        fmt_padding(padding),
        fmt_opt(b_std)
    )
}

/// Finite, non-negative standard deviations; filter and strides at least 1.
pub(crate) fn validate(
    layer: usize,
    filter: (usize, usize),
    strides: (usize, usize),
    w_std: f64,
    b_std: Option<f64>,
) -> Result<()> {
    check_std(layer, "Conv", w_std, b_std)?;
    if filter.0 == 0 || filter.1 == 0 || strides.0 == 0 || strides.1 == 0 {
        return Err(invalid(
            layer,
            "Conv",
            "filter and strides must be at least 1",
        ));
    }
    Ok(())
}

/// The resolved step on its window.
pub(crate) fn op(window: Window, w_std: f64, b_std: Option<f64>) -> Op {
    Op::Conv {
        window,
        w_std,
        b_std: b_std.unwrap_or(0.0),
    }
}

/// The output shape: the window's output grid, the channels kept (kernels
/// of infinitely wide layers do not depend on the width).
pub(crate) fn output(window: &Window, input: Shape) -> Shape {
    match input {
        Shape::Image { c, .. } => Shape::Image {
            h: window.output.0,
            w: window.output.1,
            c,
        },
        s => s,
    }
}

/// The exact update of one sample's features.
pub(crate) fn features<T: Real>(
    st: &mut State<T>,
    window: Window,
    w_std: f64,
    b_std: f64,
    ntk: bool,
) {
    let taps = window.taps();
    let scale = T::cast(w_std / (taps as f64).sqrt());
    let has_b = b_std != 0.0;
    let b = T::cast(b_std);
    let (oh, ow) = window.output;
    let pos = oh * ow;
    let gather = |src: &[T], d: usize, out: &mut Vec<T>, o: (usize, usize)| {
        for ah in 0..window.k.0 {
            for aw in 0..window.k.1 {
                match window.source(o, (ah, aw)) {
                    Some(s) => out.extend(src[s * d..(s + 1) * d].iter().map(|v| *v * scale)),
                    None => out.extend(core::iter::repeat_n(T::zero(), d)),
                }
            }
        }
    };
    let dphi = taps * st.dphi + usize::from(has_b);
    let mut phi = Vec::with_capacity(pos * dphi);
    for i in 0..oh {
        for j in 0..ow {
            gather(&st.phi, st.dphi, &mut phi, (i, j));
            if has_b {
                phi.push(b);
            }
        }
    }
    if ntk {
        let dpsi = taps * st.dpsi + dphi;
        let mut psi = Vec::with_capacity(pos * dpsi);
        for i in 0..oh {
            for j in 0..ow {
                if st.dpsi > 0 {
                    gather(&st.psi, st.dpsi, &mut psi, (i, j));
                }
                let o = i * ow + j;
                psi.extend_from_slice(&phi[o * dphi..(o + 1) * dphi]);
            }
        }
        st.psi = psi;
        st.dpsi = dpsi;
    }
    st.phi = phi;
    st.dphi = dphi;
    st.pos = pos;
    st.h = oh;
    st.w = ow;
    st.hphi = 0;
    st.hpsi = 0;
}

/// The features' dimensions after the layer.
pub(crate) fn dims(dims: &mut Dims, window: &Window, b_std: f64, ntk: bool) -> Result<()> {
    let bias = |b: f64| usize::from(b != 0.0);
    let taps = window.taps();
    dims.phi = checked(
        "NNGP feature length per position",
        dims.phi
            .checked_mul(taps)
            .and_then(|v| v.checked_add(bias(b_std))),
    )?;
    if ntk {
        dims.psi = checked(
            "NTK feature length per position",
            dims.psi
                .checked_mul(taps)
                .and_then(|v| v.checked_add(dims.phi)),
        )?;
    }
    dims.pos = window.output.0 * window.output.1;
    dims.hphi = 0;
    dims.hpsi = 0;
    Ok(())
}

/// The sketches of a fused Conv's `φ` and `[ψ; φ]` patches.
pub(crate) type PatchSketches<T> = (PatchSrht<T>, Option<Box<PatchSrht<T>>>);

/// A fused Conv's sketches: of the `φ` patches and, for the NTK, of the
/// `[ψ; φ]` patches, each to `inner − bias` values per output position
/// (seeds drawn in this order); the dimensions after it keep the bias as an
/// exact head.
pub(crate) fn fused<T: Real>(
    dims: &mut Dims,
    window: &Window,
    b_std: f64,
    ntk: bool,
    inner: usize,
    seeds: &mut Seeds,
) -> Result<PatchSketches<T>> {
    let taps = window.taps();
    let pos = window.output.0 * window.output.1;
    let bias = usize::from(b_std != 0.0);
    let m = inner.saturating_sub(bias).max(1);
    let phi = PatchSrht::new(dims.phi, taps, m, seeds.next())?;
    let psi = if ntk {
        let d = checked(
            "NTK feature length per position",
            dims.psi.checked_add(dims.phi),
        )?;
        Some(Box::new(PatchSrht::new(d, taps, m, seeds.next())?))
    } else {
        None
    };
    dims.pos = pos;
    dims.phi = bias + m;
    dims.hphi = bias;
    if ntk {
        dims.psi = bias + m;
        dims.hpsi = bias;
    }
    Ok((phi, psi))
}

/// A fused Conv ([`super::stage::Stage::ConvSketch`]): every source position's `φ` and
/// `[ψ; φ]` transformed once (scaled by `W/√(kh·kw)`), then every output
/// position's patch combined from its taps (padding taps are zero), after
/// the bias coordinate. The inner products are the exact Conv's in
/// expectation (`⟨ψ′, ψ″⟩ = b² + W²/taps·Σ_taps (⟨ψ, ψ⟩ + ⟨φ, φ⟩)`).
pub(crate) fn sketched_features<T: Real>(
    op: &Op,
    phi_sk: &PatchSrht<T>,
    psi_sk: Option<&PatchSrht<T>>,
    st: &mut State<T>,
    ws: &mut Workspace<T>,
) {
    let Op::Conv {
        window,
        w_std,
        b_std,
    } = op
    else {
        unreachable!("fused stages are Convs")
    };
    let scale = T::cast(w_std / (window.taps() as f64).sqrt());
    let has_b = *b_std != 0.0;
    let b = T::cast(*b_std);
    let head = usize::from(has_b);
    let pin = st.pos;
    let (oh, ow) = window.output;
    let pos = oh * ow;
    let lp = phi_sk.transformed_len();
    ws.src_phi.resize(pin * lp, T::zero());
    for (src, y) in st
        .phi
        .chunks_exact(st.dphi)
        .zip(ws.src_phi.chunks_exact_mut(lp))
    {
        phi_sk.transform(src, scale, y);
    }
    if let Some(sk) = psi_sk {
        let ls = sk.transformed_len();
        ws.src_psi.resize(pin * ls, T::zero());
        for s in 0..pin {
            sk.transform_parts(
                &[
                    &st.psi[s * st.dpsi..(s + 1) * st.dpsi],
                    &st.phi[s * st.dphi..(s + 1) * st.dphi],
                ],
                scale,
                &mut ws.src_psi[s * ls..(s + 1) * ls],
            );
        }
    }
    let dphi = head + phi_sk.dim_out();
    let dpsi = psi_sk.map_or(0, |sk| head + sk.dim_out());
    // Every value is written below (the bias, then each combine), so the
    // recycled buffers are only resized, not zeroed.
    let mut phi = resized(std::mem::take(&mut ws.spare_phi), pos * dphi);
    let mut psi = resized(std::mem::take(&mut ws.spare_psi), pos * dpsi);
    let mut srcs: Vec<Option<usize>> = Vec::with_capacity(window.taps());
    let mut taps: Vec<Option<&[T]>> = Vec::with_capacity(window.taps());
    for i in 0..oh {
        for j in 0..ow {
            let o = i * ow + j;
            srcs.clear();
            for ah in 0..window.k.0 {
                for aw in 0..window.k.1 {
                    srcs.push(window.source((i, j), (ah, aw)));
                }
            }
            let out = &mut phi[o * dphi..(o + 1) * dphi];
            if has_b {
                out[0] = b;
            }
            taps.clear();
            taps.extend(
                srcs.iter()
                    .map(|s| s.map(|s| &ws.src_phi[s * lp..(s + 1) * lp])),
            );
            phi_sk.combine(&taps, &mut out[head..]);
            if let Some(sk) = psi_sk {
                let ls = sk.transformed_len();
                let out = &mut psi[o * dpsi..(o + 1) * dpsi];
                if has_b {
                    out[0] = b;
                }
                taps.clear();
                taps.extend(
                    srcs.iter()
                        .map(|s| s.map(|s| &ws.src_psi[s * ls..(s + 1) * ls])),
                );
                sk.combine(&taps, &mut out[head..]);
            }
        }
    }
    ws.spare_phi = std::mem::replace(&mut st.phi, phi);
    st.dphi = dphi;
    if psi_sk.is_some() {
        ws.spare_psi = std::mem::replace(&mut st.psi, psi);
        st.dpsi = dpsi;
    } else {
        ws.spare_psi = psi;
    }
    st.pos = pos;
    st.h = oh;
    st.w = ow;
    st.hphi = head;
    st.hpsi = if psi_sk.is_some() { head } else { 0 };
}
