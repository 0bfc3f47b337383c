//! The exact recursions every backend walks, in one place: a vector
//! sample's own variances through the network ([`vector_self`]), and a batch
//! of vector pairs through it ([`pair_layers`]), both through the one
//! kernel update of pointwise layers ([`crate::plan::pointwise`]). An
//! image's own recursion is the image path's ([`image_self`]), re-exported
//! here so that callers find both per-sample recursions together.
//!
//! Callers: the exact vector path (columns of pairs), the feature maps
//! (each sample's variances and exact diagonal), `ntksketch`'s data-fitted
//! polynomials (the sample's pairs), and the whole-network methods (`G(ρ)`
//! at unit variances).

pub(crate) use crate::exact::{SelfBufs, image_self};

use crate::error::Result;
use crate::plan::{PairScratch, Plan, Slots, Step, pointwise};

/// A point's own variance entering each step and its final `(q, Θ)`, for
/// vector inputs with input variance `q0 = ⟨x, x⟩/d`.
pub(crate) fn vector_self(plan: &Plan<'_>, q0: f64) -> Result<(Vec<f64>, f64, f64)> {
    let mut pre = Vec::with_capacity(plan.steps.len());
    let (mut q, mut t) = ([q0], [0.0]);
    let mut scratch = PairScratch::default();
    let mut slots = Slots::default();
    for step in &plan.steps {
        pre.push(q[0]);
        if step.op.is_branch() {
            slots.apply(&step.op, &mut q, &mut t);
            continue;
        }
        let p = [q[0]];
        pointwise(plan, step, &mut q, &mut t, &p, &p, &mut scratch)?;
    }
    Ok((pre, q[0], t[0]))
}

/// Walks a vector plan over a batch of pairs. `q` enters as the pairs'
/// input covariances and `t` as zero; they leave as the network's NNGP and
/// NTK. Before each step `l`, `pre(l, qa, qb)` fills the variances of the
/// pairs' two points entering it, and `visit(l, step, q, t, qa, qb)` sees
/// the state entering it (for fits that read the correlations a layer
/// receives).
///
/// # Errors
/// `visit`'s errors and the activations' errors.
pub(crate) fn pair_layers(
    plan: &Plan<'_>,
    q: &mut [f64],
    t: &mut [f64],
    mut pre: impl FnMut(usize, &mut [f64], &mut [f64]),
    mut visit: impl FnMut(usize, &Step, &[f64], &[f64], &[f64], &[f64]) -> Result<()>,
) -> Result<()> {
    let n = q.len();
    let (mut qa, mut qb) = (vec![0.0; n], vec![0.0; n]);
    let mut scratch = PairScratch::default();
    let mut slots = Slots::default();
    for (l, step) in plan.steps.iter().enumerate() {
        if step.op.is_branch() {
            slots.apply(&step.op, q, t);
            continue;
        }
        pre(l, &mut qa, &mut qb);
        visit(l, step, q, t, &qa, &qb)?;
        pointwise(plan, step, q, t, &qa, &qb, &mut scratch)?;
    }
    Ok(())
}
