//! `random`: Monte-Carlo features of the finite-width layer, `σ(Gφ)/√m`
//! and, for the NTK, `σ'(Gφ)/√m` joined to `ψ` by a TensorSRHT; the
//! baseline every sketch should beat. The stage (shared with `ntkrf`, which
//! draws other rows and carries the odd part exactly) multiplies a batch of
//! vectors by `G` in one GEMM.

use super::interface::{ActCx, Built, FeatureMethod, ntk_tensor};
use crate::error::Result;
use crate::features::recipe::checked;
use crate::features::stage::ActStage;
use crate::features::state::{State, Variances, Workspace, col_slice};
use dual_activations::{Activation, DualActivation};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use sketch_core::{Real, ScratchLen, Sketch, TensorSrht};

/// Vectors per GEMM of a random-feature layer: wide enough for the GEMM's
/// rate (on `ntkrf`'s default layers, 1.03–1.34× faster than 32 in adjacent
/// criterion runs), and a progress chunk holds 16 of them.
const RANDOM_BATCH: usize = 128;

/// The `random` method.
pub(crate) struct Random;

impl FeatureMethod for Random {
    const NAME: &'static str = "random";
    const SUMMARY: &'static str =
        "pointwise activations: random features of the finite-width network";
    // The finite-width baseline stays as it is.
    const CALIBRATES: bool = false;

    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        let act = dual.activation().clone();
        require_pointwise(cx, &act)?;
        let (m, inner) = (cx.node, cx.inner);
        let count = checked("random weight count", cx.dims.phi.checked_mul(m))?;
        let normals = cx.seeds.next().normals(count);
        let d_in = cx.dims.phi;
        // Column-major m × d_in: entry (k, i) at i·m + k.
        let g = Mat::from_fn(m, d_in, |k, i| T::cast(normals[i * m + k]));
        random_layer(cx, act, g, inner, None)
    }
}

/// Refuses an activation without a pointwise function (and derivative, for
/// the NTK): random features evaluate it.
pub(super) fn require_pointwise(cx: &ActCx<'_>, act: &Activation) -> Result<()> {
    if act.value(0.5).is_none() || (cx.ntk && act.derivative(0.5).is_none()) {
        return Err(cx.unsupported(format!(
            "{} has no pointwise function (kernel-only); use method hermite",
            act.stax_name()
        )));
    }
    Ok(())
}

/// A random-feature layer with weights `g` (`m × d_in`), the NTK's
/// TensorSRHT to `inner`, and `ntkrf`'s odd/even `split`.
pub(super) fn random_layer<T: Real>(
    cx: &mut ActCx<'_>,
    act: Activation,
    g: Mat<T>,
    inner: usize,
    split: Option<(f64, f64)>,
) -> Result<Built<T>> {
    let m = g.nrows();
    let d_in = cx.dims.phi;
    let tensor = ntk_tensor(cx.ntk, cx.dims.psi, m, inner, cx.seeds)?;
    let mut dims = cx.dims;
    if split.is_some() {
        dims.phi = checked("NNGP feature length", d_in.checked_add(m))?;
        if cx.ntk {
            dims.psi = checked("NTK feature length", dims.psi.checked_add(inner))?;
        }
    } else {
        dims.phi = m;
        dims.hphi = 0;
        if cx.ntk {
            dims.psi = inner;
            dims.hpsi = 0;
        }
    }
    Ok(Built {
        stage: Box::new(RandomAct {
            act,
            g,
            tensor,
            split,
        }),
        dims,
    })
}

/// A random-feature activation layer.
#[derive(Debug)]
pub(crate) struct RandomAct<T: Real> {
    act: Activation,
    /// `m × d_in`, column-major.
    g: Mat<T>,
    tensor: Option<TensorSrht<T>>,
    /// `ntkrf`: `σ(t) = α·t + β·|t|` and `σ'(t) = α + β·sign t` with
    /// `(α, β)`; the odd parts are carried exactly (`φ ← [αφ; β|Gφ|/√m]`,
    /// `ψ ← [αψ; T(ψ, β·sign(Gφ)/√m)]`), only the even parts are sampled.
    split: Option<(f64, f64)>,
}

impl<T: Real> ActStage<T> for RandomAct<T> {
    fn apply(
        &self,
        states: &mut [State<T>],
        _vars: &[Variances],
        ws: &mut Workspace<T>,
    ) -> Result<()> {
        random_batch(self, states, ws);
        Ok(())
    }

    fn scratch(&self) -> ScratchLen {
        self.tensor
            .as_ref()
            .map_or(ScratchLen::default(), |t| t.pair_scratch_len())
    }

    fn batch(&self) -> usize {
        RANDOM_BATCH
    }
}

/// A random-feature activation on every position of every sample of a
/// batch: one GEMM `G·[φ₁ … φ_b]` (at least two columns, so that a column's
/// arithmetic is the GEMM's, never the matrix–vector product's, whatever
/// the batch), then `σ`, `σ'` and the NTK's TensorSRHT per position.
fn random_batch<T: Real>(a: &RandomAct<T>, states: &mut [State<T>], ws: &mut Workspace<T>) {
    let m = a.g.nrows();
    let d_in = a.g.ncols();
    let cols: usize = states.iter().map(|st| st.pos).sum();
    let width = cols.max(2);
    // Reused across batches (fresh buffers of these sizes cost page faults).
    let mut x = std::mem::replace(&mut ws.gx, Mat::new());
    let mut z = std::mem::replace(&mut ws.gz, Mat::new());
    if (x.nrows(), x.ncols()) != (d_in, width) {
        x = Mat::zeros(d_in, width);
    }
    if (z.nrows(), z.ncols()) != (m, width) {
        z = Mat::zeros(m, width);
    }
    let mut c = 0;
    for st in states.iter() {
        debug_assert_eq!(st.dphi, d_in);
        for p in st.phi.chunks_exact(d_in) {
            col_slice(x.as_mut().col_mut(c)).copy_from_slice(p);
            c += 1;
        }
    }
    for pad in c..width {
        col_slice(x.as_mut().col_mut(pad)).fill(T::zero());
    }
    matmul(
        z.as_mut(),
        Accum::Replace,
        a.g.as_ref(),
        x.as_ref(),
        T::one(),
        Par::Seq,
    );
    let s = 1.0 / (m as f64).sqrt();
    let ntk = a.tensor.is_some();
    let t_out = a.tensor.as_ref().map_or(0, |t| t.dim_out());
    let mut dz = vec![T::zero(); if ntk { m } else { 0 }];
    let mut c = 0;
    for st in states.iter_mut() {
        // With a split, the exact odd parts come first.
        let (lin_phi, lin_psi) = match a.split {
            Some(_) => (st.dphi, st.dpsi),
            None => (0, 0),
        };
        let dphi = lin_phi + m;
        let dpsi = if ntk { lin_psi + t_out } else { 0 };
        let mut phi = vec![T::zero(); st.pos * dphi];
        let mut psi = vec![T::zero(); st.pos * dpsi];
        for p in 0..st.pos {
            let col = z.col(c);
            c += 1;
            let out_phi = &mut phi[p * dphi..(p + 1) * dphi];
            let old_psi = &st.psi[p * st.dpsi..(p + 1) * st.dpsi];
            let out_psi = &mut psi[p * dpsi..(p + 1) * dpsi];
            match a.split {
                Some((alpha, beta)) => {
                    let (al, be) = (T::cast(alpha), T::cast(beta * s));
                    let old = &st.phi[p * st.dphi..(p + 1) * st.dphi];
                    out_phi[..lin_phi]
                        .iter_mut()
                        .zip(old)
                        .for_each(|(o, v)| *o = *v * al);
                    for k in 0..m {
                        let t = col[k];
                        out_phi[lin_phi + k] = t.abs() * be;
                        if ntk {
                            dz[k] = if t > T::zero() {
                                be
                            } else if t < T::zero() {
                                -be
                            } else {
                                T::zero()
                            };
                        }
                    }
                    if ntk {
                        out_psi[..lin_psi]
                            .iter_mut()
                            .zip(old_psi)
                            .for_each(|(o, v)| *o = *v * al);
                    }
                }
                None => {
                    for k in 0..m {
                        let t = col[k].as_f64();
                        out_phi[k] = T::cast(a.act.value(t).unwrap_or(0.0) * s);
                        if ntk {
                            dz[k] = T::cast(a.act.derivative(t).unwrap_or(0.0) * s);
                        }
                    }
                }
            }
            if let Some(t) = &a.tensor {
                t.apply_pair(
                    old_psi,
                    &dz,
                    &mut out_psi[lin_psi..],
                    &mut ws.real,
                    &mut ws.complex,
                );
            }
        }
        st.phi = phi;
        st.dphi = dphi;
        if ntk {
            st.psi = psi;
            st.dpsi = dpsi;
        }
        if a.split.is_none() {
            st.hphi = 0;
            st.hpsi = 0;
        }
    }
    ws.gx = x;
    ws.gz = z;
}
