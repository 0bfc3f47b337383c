//! The polynomial activation stage shared by `hermite`, `ntksketch`,
//! `cntksketch` and `onepass`: per-sample coefficients `c_ℓ(r)` (Hermite,
//! or fixed arc-cosine polynomials scaled by the norm), the unit direction
//! optionally projected, its tensor powers by one PolySketch tree, an SRHT
//! compression of `[c₁u; c₂U₂; …]` to the budget with the direction's head
//! kept exact, and the NTK's TensorSRHT of `(ψ, [ċ₁u; ċ₂U₂; …])`.
//! The methods differ only in their coefficients ([`Coeffs`]).

use super::interface::{ActCx, Built, ntk_tensor};
use crate::error::Result;
use crate::features::coeffs::Coeffs;
use crate::features::config::KernelKind;
use crate::features::recipe::{Seeds, checked};
use crate::features::stage::ActStage;
use crate::features::state::{State, Variances, Workspace, pre_variance, resized};
use sketch_core::{PolySketch, Real, ScratchLen, Sketch, Srht, TensorSrht, Transform};

/// A polynomial activation layer (Hermite or arc-cosine coefficients).
#[derive(Debug)]
pub(crate) struct PolyAct<T: Real> {
    coeffs: Coeffs,
    degree: usize,
    /// Length of the unit direction `u` (`m` after a projection, else `d_in`).
    d_dir: usize,
    m: usize,
    /// `d_in → m` before the tree when `d_in` exceeds the slack times `m`.
    pre: Option<Srht<T>>,
    /// Tensor powers 2..=degree of the unit direction (`None` for degree 1).
    poly: Option<PolySketch<T>>,
    /// `[a₁u; a₂U₂; …]` → budget, when longer than the budget.
    compress: Option<Srht<T>>,
    /// `(ψ, [b₁u; b₂U₂; …])` → budget, for the NTK.
    tensor: Option<TensorSrht<T>>,
    /// Leading coordinates of `a₁u` copied as they are, outside `compress`.
    pub(crate) head: usize,
}

impl<T: Real> PolyAct<T> {
    /// Length of `[a₁u; a₂U₂; …; a_qU_q]`.
    fn full_len(&self) -> usize {
        self.d_dir + (self.degree - 1) * self.m
    }
}

/// Sizes of a polynomial activation stage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActShape {
    /// Length of the incoming NNGP feature.
    pub(crate) d_in: usize,
    /// Budget of the output feature.
    pub(crate) inner: usize,
    /// PolySketch node dimension.
    pub(crate) node: usize,
    /// Project the direction first when `d_in > slack · node`.
    pub(crate) slack: usize,
    pub(crate) ntk: bool,
    /// Length of the incoming NTK feature.
    pub(crate) psi: usize,
    /// Head of the incoming NNGP feature (kept out of the compression).
    pub(crate) head: usize,
}

/// A polynomial activation stage (Hermite or arc-cosine coefficients):
/// optional projection of the direction, PolySketch of degrees 2..=q, SRHT
/// compression to `inner − 1` (the constant is its own coordinate), and the
/// NTK's TensorSRHT. Returns the stage and its NNGP feature length.
pub(crate) fn poly_act<T: Real>(
    coeffs: Coeffs,
    s: ActShape,
    seeds: &mut Seeds,
) -> Result<(PolyAct<T>, usize)> {
    let degree = coeffs.degree();
    let m = s.node;
    // A direction longer than the node dimension is first projected (and
    // renormalised) to it.
    let pre = if s.d_in > s.slack * m {
        Some(Srht::new(s.d_in, m, Transform::Hadamard, seeds.next())?)
    } else {
        None
    };
    let d_dir = if pre.is_some() { m } else { s.d_in };
    let poly = if degree >= 2 {
        Some(PolySketch::new(
            d_dir,
            m,
            degree,
            Transform::Hadamard,
            seeds.next(),
        )?)
    } else {
        None
    };
    let full = checked(
        "polynomial expansion length",
        (degree - 1)
            .checked_mul(m)
            .and_then(|v| v.checked_add(d_dir)),
    )?;
    // The constant c₀ is its own coordinate, so the activation's output has
    // exactly `inner` values.
    let target = s.inner.saturating_sub(1).max(1);
    // The direction's head (unless projected) stays out of the compression.
    let head = if pre.is_some() {
        0
    } else {
        s.head.min(target / 2)
    };
    let compress = if full > target {
        Some(Srht::new(
            full - head,
            target - head,
            Transform::Hadamard,
            seeds.next(),
        )?)
    } else {
        None
    };
    let phi_out = 1 + full.min(target);
    let tensor = ntk_tensor(s.ntk, s.psi, full, s.inner, seeds)?;
    Ok((
        PolyAct {
            coeffs,
            degree,
            d_dir,
            m,
            pre,
            poly,
            compress,
            tensor,
            head,
        },
        phi_out,
    ))
}

/// The scratch of a polynomial stage: the largest of its sketches'.
pub(crate) fn poly_scratch<T: Real>(a: &PolyAct<T>) -> ScratchLen {
    let mut s = ScratchLen::default();
    if let Some(p) = &a.pre {
        s = s.max(p.scratch_len());
    }
    if let Some(p) = &a.poly {
        s = s.max(p.tree_scratch_len());
    }
    if let Some(c) = &a.compress {
        s = s.max(c.scratch_len());
    }
    if let Some(t) = &a.tensor {
        s = s.max(t.pair_scratch_len());
    }
    s
}

/// A polynomial activation as a stage: the layer, the plan step whose
/// variances give each position's norm, and the kernel its state feeds
/// (`onepass` builds an NNGP-only stage whatever kernel the map is for).
#[derive(Debug)]
pub(crate) struct PolyStage<T: Real> {
    pub(crate) act: PolyAct<T>,
    pub(crate) step: usize,
    pub(crate) kernel: KernelKind,
}

impl<T: Real> ActStage<T> for PolyStage<T> {
    fn apply(
        &self,
        states: &mut [State<T>],
        vars: &[Variances],
        ws: &mut Workspace<T>,
    ) -> Result<()> {
        for (j, st) in states.iter_mut().enumerate() {
            let var = |step: usize, p: usize| pre_variance(vars, j, step, p);
            poly_one(&self.act, st, &var, self.step, self.kernel, ws)?;
        }
        Ok(())
    }

    fn scratch(&self) -> ScratchLen {
        poly_scratch(&self.act)
    }

    fn needs_variance(&self) -> bool {
        true
    }

    fn degree(&self) -> Option<usize> {
        Some(self.act.degree)
    }
}

/// A layered method's polynomial activation with coefficients `coeffs`:
/// the stage, and the state after it (`φ` of `1 + min(full, inner − 1)`
/// values whose head is the constant and the direction's head; `ψ` grown by
/// the TensorSRHT's `inner`).
pub(crate) fn layer<T: Real>(cx: &mut ActCx<'_>, coeffs: Coeffs) -> Result<Built<T>> {
    let shape = ActShape {
        d_in: cx.dims.phi,
        inner: cx.inner,
        node: cx.node,
        slack: cx.slack,
        ntk: cx.ntk,
        psi: cx.dims.psi,
        head: cx.dims.hphi,
    };
    let (act, phi_out) = poly_act(coeffs, shape, cx.seeds)?;
    let mut dims = cx.dims;
    dims.phi = phi_out;
    dims.hphi = 1 + act.head;
    if cx.ntk {
        dims.psi += cx.inner;
    }
    Ok(Built {
        stage: Box::new(PolyStage {
            act,
            step: cx.step,
            kernel: cx.config.kernel,
        }),
        dims,
    })
}

/// A polynomial activation on every position of one sample.
fn poly_one<T: Real>(
    a: &PolyAct<T>,
    st: &mut State<T>,
    var: &dyn Fn(usize, usize) -> f64,
    step: usize,
    kernel: KernelKind,
    ws: &mut Workspace<T>,
) -> Result<()> {
    let ntk = kernel == KernelKind::Ntk;
    let q = a.degree;
    let full = a.full_len();
    let phi_block = a.compress.as_ref().map_or(full, |c| a.head + c.dim_out());
    let dphi = 1 + phi_block;
    let dpsi = if ntk {
        st.dpsi + a.tensor.as_ref().map_or(0, |t| t.dim_out())
    } else {
        0
    };
    // Buffers reused across samples (fresh allocations of these sizes cost
    // page faults); every output value is written below (zeros where a
    // position's input vanishes), scratch is overwritten before use.
    let mut phi = resized(std::mem::take(&mut ws.spare_phi), st.pos * dphi);
    let mut psi = resized(std::mem::take(&mut ws.spare_psi), st.pos * dpsi);
    ws.a.resize(q + 1, 0.0);
    ws.b.resize(q + 1, 0.0);
    let Workspace {
        real,
        complex,
        a: ca,
        b: cb,
        buf,
        u,
        zfull,
        zdot,
        ..
    } = ws;
    buf.resize(q * a.m, T::zero());
    u.resize(a.d_dir, T::zero());
    zfull.resize(full, T::zero());
    zdot.resize(if ntk { full } else { 0 }, T::zero());
    for p in 0..st.pos {
        let x = &st.phi[p * st.dphi..(p + 1) * st.dphi];
        let r = var(step, p).max(0.0).sqrt();
        a.coeffs.get(r, ca, cb)?;
        // The unit direction, after a projection when the input is longer
        // than the node dimension (the projection is renormalised, so the
        // expansion stays exact on the diagonal).
        match &a.pre {
            Some(pre) => pre.apply_one(x, u, real, complex),
            None => u.copy_from_slice(x),
        }
        let norm = u
            .iter()
            .map(|v| v.as_f64() * v.as_f64())
            .sum::<f64>()
            .sqrt();
        let out_phi = &mut phi[p * dphi..(p + 1) * dphi];
        out_phi[0] = T::cast(ca[0]);
        if norm > 0.0 {
            let inv = T::cast(1.0 / norm);
            u.iter_mut().for_each(|v| *v *= inv);
            if let Some(poly) = &a.poly {
                // Degrees 1..=q from one tree; degree 1 is replaced by u itself.
                poly.apply_all_degrees(u, buf, real, complex);
            }
            let powers = &buf[a.m..];
            let u: &[T] = u;
            let fill = |z: &mut [T], c: &[f64]| {
                let c1 = T::cast(c[1]);
                z[..a.d_dir]
                    .iter_mut()
                    .zip(u)
                    .for_each(|(o, v)| *o = *v * c1);
                for (j, (blk, src)) in z[a.d_dir..]
                    .chunks_exact_mut(a.m)
                    .zip(powers.chunks_exact(a.m))
                    .enumerate()
                {
                    let cj = T::cast(c[j + 2]);
                    blk.iter_mut().zip(src).for_each(|(o, v)| *o = *v * cj);
                }
            };
            fill(zfull, ca);
            match &a.compress {
                Some(c) => {
                    let h = a.head;
                    out_phi[1..1 + h].copy_from_slice(&zfull[..h]);
                    c.apply_one(&zfull[h..], &mut out_phi[1 + h..], real, complex);
                }
                None => out_phi[1..].copy_from_slice(zfull),
            }
            if ntk {
                fill(zdot, cb);
            }
        } else {
            out_phi[1..].iter_mut().for_each(|v| *v = T::zero());
            if ntk {
                zdot.iter_mut().for_each(|v| *v = T::zero());
            }
        }
        if ntk {
            let out_psi = &mut psi[p * dpsi..(p + 1) * dpsi];
            let b0 = T::cast(cb[0]);
            let old = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
            out_psi[..st.dpsi]
                .iter_mut()
                .zip(old)
                .for_each(|(o, v)| *o = *v * b0);
            if let Some(t) = &a.tensor {
                if norm > 0.0 && st.dpsi > 0 {
                    t.apply_pair(old, zdot, &mut out_psi[st.dpsi..], real, complex);
                } else {
                    out_psi[st.dpsi..].iter_mut().for_each(|v| *v = T::zero());
                }
            }
        }
    }
    ws.spare_phi = std::mem::replace(&mut st.phi, phi);
    st.dphi = dphi;
    st.hphi = 1 + a.head;
    if ntk {
        ws.spare_psi = std::mem::replace(&mut st.psi, psi);
        st.dpsi = dpsi;
    } else {
        ws.spare_psi = psi;
    }
    Ok(())
}
