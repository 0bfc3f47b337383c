//! What flows between the stages of a feature map: each sample's [`State`]
//! (its NNGP and NTK features, per position), its exact [`Variances`] (the
//! per-sample recursion of the exact backend), and each worker's reusable
//! [`Workspace`].

use crate::shape::Shape;
use faer::Mat;
use sketch_core::num_complex::Complex;
use sketch_core::{Real, ScratchLen};

/// One sample's exact recursion: its variances entering every step, and
/// the diagonals of the network's NNGP and NTK.
pub(crate) struct Variances {
    pub(crate) pre: Pre,
    pub(crate) nngp: f64,
    pub(crate) ntk: f64,
}

/// The variances entering every step (per position for images).
pub(crate) enum Pre {
    Vector(Vec<f64>),
    Image(Vec<Vec<f64>>),
}

/// The variance entering plan step `step` at position `p` of sample `j`.
///
/// # Panics
/// When the map computed no variances: a stage that reads them must say so
/// ([`super::stage::ActStage::needs_variance`]), which makes the map
/// compute them for every sample.
pub(crate) fn pre_variance(vars: &[Variances], j: usize, step: usize, p: usize) -> f64 {
    match vars.get(j).map(|v| &v.pre) {
        Some(Pre::Vector(v)) => v[step],
        Some(Pre::Image(v)) => v[step][p],
        None => unreachable!("variances are computed when a stage needs them"),
    }
}

/// Scales `z` so that `‖z‖² = exact` (norm in `f64`). A zero feature stays
/// zero (no direction to scale); an exact diagonal of `0` maps `z` to zero;
/// a negative or non-finite one (which the exact recursion does not
/// produce) leaves `z` as it is.
pub(crate) fn calibrate<T: Real>(z: &mut [T], exact: f64) {
    let norm = z
        .iter()
        .map(|v| v.as_f64() * v.as_f64())
        .sum::<f64>()
        .sqrt();
    if !(norm > 0.0 && norm.is_finite() && exact.is_finite() && exact >= 0.0) {
        return;
    }
    let s = T::cast(exact.sqrt() / norm);
    z.iter_mut().for_each(|v| *v *= s);
}

pub(crate) fn col_slice<T: Real>(c: faer::ColMut<'_, T>) -> &mut [T] {
    c.try_as_col_major_mut()
        .expect("owned matrices are column-major")
        .as_slice_mut()
}

/// Per-worker scratch.
pub(crate) struct Workspace<T: Real> {
    pub(crate) real: Vec<T>,
    pub(crate) complex: Vec<Complex<T>>,
    pub(crate) a: Vec<f64>,
    pub(crate) b: Vec<f64>,
    pub(crate) buf: Vec<T>,
    pub(crate) u: Vec<T>,
    pub(crate) zfull: Vec<T>,
    pub(crate) zdot: Vec<T>,
    pub(crate) spare_phi: Vec<T>,
    pub(crate) spare_psi: Vec<T>,
    /// Fused Convs: the transformed sources of `φ` and `[ψ; φ]`.
    pub(crate) src_phi: Vec<T>,
    pub(crate) src_psi: Vec<T>,
    /// Random-feature layers: the batch's inputs and pre-activations.
    pub(crate) gx: Mat<T>,
    pub(crate) gz: Mat<T>,
}

impl<T: Real> Workspace<T> {
    pub(crate) fn new(s: ScratchLen) -> Self {
        Self {
            real: vec![T::zero(); s.real],
            complex: vec![Complex::new(T::zero(), T::zero()); s.complex],
            a: Vec::new(),
            b: Vec::new(),
            buf: Vec::new(),
            u: Vec::new(),
            zfull: Vec::new(),
            zdot: Vec::new(),
            spare_phi: Vec::new(),
            spare_psi: Vec::new(),
            src_phi: Vec::new(),
            src_psi: Vec::new(),
            gx: Mat::new(),
            gz: Mat::new(),
        }
    }
}

/// Features of one sample between stages: `pos` positions, each with
/// `dphi` NNGP and `dpsi` NTK coordinates (position-major).
#[derive(Debug, Clone)]
pub(crate) struct State<T> {
    pub(crate) pos: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) phi: Vec<T>,
    pub(crate) dphi: usize,
    pub(crate) psi: Vec<T>,
    pub(crate) dpsi: usize,
    /// Heads of `φ` and `ψ` (see [`super::recipe::Dims`]).
    pub(crate) hphi: usize,
    pub(crate) hpsi: usize,
}

impl<T: Real> State<T> {
    pub(crate) fn input(x: &[T], shape: Shape, head: usize) -> Self {
        let (pos, h, w, d) = match shape {
            Shape::Vector { dim } => (1, 1, 1, dim),
            Shape::Image { h, w, c } => (h * w, h, w, c),
        };
        let s = T::cast(1.0 / (d as f64).sqrt());
        Self {
            pos,
            h,
            w,
            phi: x.iter().map(|v| *v * s).collect(),
            dphi: d,
            psi: Vec::new(),
            dpsi: 0,
            hphi: head,
            hpsi: 0,
        }
    }
}

/// `v` with length `len`, old values kept (for buffers the caller
/// overwrites entirely).
pub(crate) fn resized<T: Real>(mut v: Vec<T>, len: usize) -> Vec<T> {
    v.truncate(len);
    v.resize(len, T::zero());
    v
}
