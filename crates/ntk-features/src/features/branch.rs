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

/// The concatenation of one sample's branch states (see the module), each
/// part scaled by `1/√n` for a mean.
pub(crate) fn concat<T: Real>(parts: &[&State<T>], mean: bool) -> State<T> {
    let first = parts[0];
    let scale = if mean {
        T::cast(1.0 / (parts.len() as f64).sqrt())
    } else {
        T::one()
    };
    let join = |get: &dyn Fn(&State<T>) -> (&[T], usize, usize)| -> (Vec<T>, usize, usize) {
        let dims: Vec<(usize, usize)> = parts
            .iter()
            .map(|s| {
                let (_, d, h) = get(s);
                (d, h)
            })
            .collect();
        let (d, h): (usize, usize) = dims.iter().fold((0, 0), |(d, h), &(dd, hh)| {
            (d + dd, h + if dd > 0 { hh } else { 0 })
        });
        let mut out = Vec::with_capacity(first.pos * d);
        for p in 0..first.pos {
            // Heads first, in branch order, then the bodies.
            for body in [false, true] {
                for s in parts {
                    let (v, dd, hh) = get(s);
                    if dd == 0 {
                        continue;
                    }
                    let row = &v[p * dd..(p + 1) * dd];
                    let part = if body { &row[hh..] } else { &row[..hh] };
                    out.extend(part.iter().map(|x| *x * scale));
                }
            }
        }
        (out, d, h)
    };
    let (phi, dphi, hphi) = join(&|s| (&s.phi, s.dphi, s.hphi));
    let (psi, dpsi, hpsi) = join(&|s| (&s.psi, if s.psi.is_empty() { 0 } else { s.dpsi }, s.hpsi));
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
