//! The exact linear steps on features (neural-tangents' conventions):
//! Dense, Conv, AvgPool, GlobalAvgPool, Flatten and LayerNorm on each
//! sample's [`State`], the fused Conv whose patches are compressed as they
//! are gathered, and the per-position SRHT that keeps states in budget.

use super::config::KernelKind;
use super::state::{State, Workspace, resized};
use crate::plan::{LAYER_NORM_EPS, Op};
use sketch_core::{PatchSrht, Real, Sketch, Srht};

/// The same SRHT applied at every position, after the first `head`
/// coordinates, which are copied.
pub(crate) fn compress_each<T: Real>(
    s: &Srht<T>,
    v: &[T],
    d: usize,
    head: usize,
    pos: usize,
    ws: &mut Workspace<T>,
) -> Vec<T> {
    let m = head + s.dim_out();
    let mut out = vec![T::zero(); pos * m];
    for (src, dst) in v.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
        dst[..head].copy_from_slice(&src[..head]);
        s.apply_one(
            &src[head..],
            &mut dst[head..],
            &mut ws.real,
            &mut ws.complex,
        );
    }
    out
}

/// A fused Conv ([`super::stage::Stage::ConvSketch`]): every source position's `φ` and
/// `[ψ; φ]` transformed once (scaled by `W/√(kh·kw)`), then every output
/// position's patch combined from its taps (padding taps are zero), after
/// the bias coordinate. The inner products are the exact Conv's in
/// expectation (`⟨ψ′, ψ″⟩ = b² + W²/taps·Σ_taps (⟨ψ, ψ⟩ + ⟨φ, φ⟩)`).
pub(crate) fn conv_sketch<T: Real>(
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

/// A linear step on features (exact).
pub(crate) fn linear<T: Real>(
    op: &Op,
    st: &mut State<T>,
    var: &dyn Fn(usize, usize) -> f64,
    step: usize,
    kernel: KernelKind,
) {
    let ntk = kernel == KernelKind::Ntk;
    match *op {
        Op::Dense { w_std, b_std } => {
            // Layout `[W·φ_head; b; W·φ_tail]` and
            // `[φ′_head; W·ψ_head; φ′_tail; W·ψ_tail]`: heads first.
            let (w, b) = (T::cast(w_std), T::cast(b_std));
            let has_b = b_std != 0.0;
            let dphi = st.dphi + usize::from(has_b);
            let hphi = st.hphi + usize::from(has_b);
            let mut phi = Vec::with_capacity(st.pos * dphi);
            for p in st.phi.chunks_exact(st.dphi.max(1)) {
                phi.extend(p[..st.hphi].iter().map(|v| *v * w));
                if has_b {
                    phi.push(b);
                }
                phi.extend(p[st.hphi..].iter().map(|v| *v * w));
            }
            if ntk {
                let dpsi = st.dpsi + dphi;
                let mut psi = Vec::with_capacity(st.pos * dpsi);
                for p in 0..st.pos {
                    let old = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
                    let new = &phi[p * dphi..(p + 1) * dphi];
                    psi.extend_from_slice(&new[..hphi]);
                    psi.extend(old[..st.hpsi].iter().map(|v| *v * w));
                    psi.extend_from_slice(&new[hphi..]);
                    psi.extend(old[st.hpsi..].iter().map(|v| *v * w));
                }
                st.psi = psi;
                st.dpsi = dpsi;
                st.hpsi += hphi;
            }
            st.phi = phi;
            st.dphi = dphi;
            st.hphi = hphi;
        }
        Op::Conv {
            window,
            w_std,
            b_std,
        } => {
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
                            Some(s) => {
                                out.extend(src[s * d..(s + 1) * d].iter().map(|v| *v * scale))
                            }
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
        Op::AvgPool { window } => {
            let (oh, ow) = window.output;
            let pool = |src: &[T], d: usize| crate::plan::pool_positions(src, d, &window);
            st.phi = pool(&st.phi, st.dphi);
            if ntk && st.dpsi > 0 {
                st.psi = pool(&st.psi, st.dpsi);
            }
            st.pos = oh * ow;
            st.h = oh;
            st.w = ow;
        }
        Op::GlobalAvgPool => {
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
        Op::Flatten => {
            if st.pos > 1 {
                let s = T::cast(1.0 / (st.pos as f64).sqrt());
                st.phi.iter_mut().for_each(|v| *v *= s);
                st.psi.iter_mut().for_each(|v| *v *= s);
                st.dphi *= st.pos;
                st.dpsi *= st.pos;
                st.pos = 1;
                st.h = 1;
                st.w = 1;
            }
        }
        Op::LayerNorm => {
            for p in 0..st.pos {
                let s = T::cast(1.0 / (var(step, p) + LAYER_NORM_EPS).sqrt());
                st.phi[p * st.dphi..(p + 1) * st.dphi]
                    .iter_mut()
                    .for_each(|v| *v *= s);
                if st.dpsi > 0 {
                    st.psi[p * st.dpsi..(p + 1) * st.dpsi]
                        .iter_mut()
                        .for_each(|v| *v *= s);
                }
            }
        }
        Op::Activation => unreachable!("activations are their own stages"),
    }
}
