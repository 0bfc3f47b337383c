//! Branching networks on features: a fan-in joins its branches' states by
//! concatenation at every position, so that inner products, hence kernels,
//! add (`FanInSum`: stax sums the kernels of independent branches), or
//! average when each part is scaled by `1/√n` (`FanInConcat` along
//! channels). Heads (the exact leading coordinates of each part) stay in
//! front, in branch order, then the parts' remaining coordinates; a
//! concatenation longer than the budget is compressed by the build's
//! budget rule like any state that grew, so a deep residual network keeps
//! its size. The dimensions follow the same layout ([`concat_dims`]).

use super::recipe::Dims;
use super::state::State;
use sketch_core::Real;

/// The dimensions of the concatenation of states of dimensions `parts`
/// (all with the same positions). An NTK part of length 0 (`Θ = 0` so far)
/// contributes nothing.
pub(crate) fn concat_dims(parts: &[Dims]) -> Dims {
    Dims {
        pos: parts[0].pos,
        phi: parts.iter().map(|d| d.phi).sum(),
        psi: parts.iter().map(|d| d.psi).sum(),
        hphi: parts.iter().map(|d| d.hphi).sum(),
        hpsi: parts.iter().filter(|d| d.psi > 0).map(|d| d.hpsi).sum(),
    }
}

/// One feature of a part: its values, length per position and head.
type Part<'a, T> = (&'a [T], usize, usize);

/// The concatenation of one sample's branch states (see the module), each
/// part scaled by `1/√n` for a mean.
pub(crate) fn concat<T: Real>(parts: &[&State<T>], mean: bool) -> State<T> {
    let first = parts[0];
    let scale = if mean {
        T::cast(1.0 / (parts.len() as f64).sqrt())
    } else {
        T::one()
    };
    let phis: Vec<Part<'_, T>> = parts.iter().map(|s| (&s.phi[..], s.dphi, s.hphi)).collect();
    // An empty NTK part (`Θ = 0` so far, or NNGP only) contributes nothing.
    let psis: Vec<Part<'_, T>> = parts
        .iter()
        .filter(|s| !s.psi.is_empty())
        .map(|s| (&s.psi[..], s.dpsi, s.hpsi))
        .collect();
    let (phi, dphi, hphi) = join(&phis, first.pos, scale);
    let (psi, dpsi, hpsi) = join(&psis, first.pos, scale);
    State {
        pos: first.pos,
        h: first.h,
        w: first.w,
        phi,
        dphi,
        psi,
        dpsi,
        hphi,
        hpsi,
    }
}

/// The parts joined at every one of `pos` positions, heads first in part
/// order, then the bodies; with the joined length and head.
fn join<T: Real>(parts: &[Part<'_, T>], pos: usize, scale: T) -> (Vec<T>, usize, usize) {
    let d: usize = parts.iter().map(|p| p.1).sum();
    let h: usize = parts.iter().map(|p| p.2).sum();
    let mut out = Vec::with_capacity(pos * d);
    for p in 0..pos {
        for body in [false, true] {
            for &(v, dd, hh) in parts {
                let row = &v[p * dd..(p + 1) * dd];
                let part = if body { &row[hh..] } else { &row[..hh] };
                out.extend(part.iter().map(|x| *x * scale));
            }
        }
    }
    (out, d, h)
}
