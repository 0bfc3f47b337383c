//! What `onepass` and `subspace` share: a homogeneous network (Dense
//! without bias, degree-1 homogeneous activations) has
//! `K(x, y) = ‖x‖‖y‖/d · G(ρ)`, so both replace the whole network by one
//! stage on the input; [`homogeneous`] checks the network and
//! [`unit_kernel`] evaluates `G`.

use super::interface::{WholeCx, degree_one};
use crate::error::{FeatureError, Result};
use crate::features::config::KernelKind;
use crate::plan::{Op, Plan};
use crate::recursion::{pair_layers, vector_self};
use crate::shape::Shape;
use dual_activations::{Activation, DualActivation};

/// A homogeneous network's input dimension, its number of activation
/// layers and its first activation's dual (`None` without activations).
pub(crate) struct Homogeneous {
    pub(crate) d: usize,
    pub(crate) depth: usize,
    pub(crate) dual: Option<DualActivation>,
}

/// Checks that the network is homogeneous and takes vectors.
///
/// # Errors
/// [`FeatureError::Unsupported`] naming the first layer that is not.
pub(crate) fn homogeneous(cx: &WholeCx<'_>, plan: &Plan<'_>) -> Result<Homogeneous> {
    let (arch, config) = (cx.arch, cx.config);
    let unsupported = |layer: usize, reason: String| FeatureError::Unsupported {
        layer,
        name: arch.name(layer),
        method: config.method.name(),
        reason,
    };
    let Shape::Vector { dim: d } = cx.input else {
        return Err(unsupported(
            0,
            "needs vector inputs (an image kernel is not a function of one cosine); use cntksketch or hermite".into(),
        ));
    };
    let mut depth = 0;
    let mut dual = None;
    for step in &plan.steps {
        match &step.op {
            Op::Dense { b_std, .. } if *b_std != 0.0 => {
                return Err(unsupported(
                    step.layer,
                    "needs a homogeneous network: a bias makes the kernel depend on the norms, not on the cosine alone; use ntksketch or hermite".into(),
                ));
            }
            Op::Dense { .. } | Op::Flatten => {}
            Op::Activation => {
                let d = plan.dual(step);
                if !(degree_one(d.activation()) || matches!(d.activation(), Activation::Identity)) {
                    return Err(unsupported(
                        step.layer,
                        format!(
                            "needs degree-1 homogeneous activations (Relu, LeakyRelu, ABRelu, Abs, Identity), not {}; use hermite",
                            d.activation().stax_name()
                        ),
                    ));
                }
                depth += 1;
                dual.get_or_insert_with(|| d.clone());
            }
            op if op.is_branch() => {
                return Err(unsupported(
                    step.layer,
                    "covers serial networks of Dense layers and activations only; use hermite or ntksketch for branching networks".into(),
                ));
            }
            _ => {
                return Err(unsupported(
                    step.layer,
                    "covers Dense layers and activations only; use hermite".into(),
                ));
            }
        }
    }
    Ok(Homogeneous { d, depth, dual })
}

/// The whole network's kernel `G(ρ)` for unit input variances and input
/// correlations `rho` (Dense and activation steps only).
pub(crate) fn unit_kernel(plan: &Plan<'_>, rho: &[f64], kernel: KernelKind) -> Result<Vec<f64>> {
    let pre = vector_self(plan, 1.0)?.0;
    let mut q = rho.to_vec();
    let mut t = vec![0.0; rho.len()];
    pair_layers(
        plan,
        &mut q,
        &mut t,
        |l, qa, qb| {
            qa.fill(pre[l]);
            qb.fill(pre[l]);
        },
        |_, _, _, _, _, _| Ok(()),
    )?;
    Ok(match kernel {
        KernelKind::Nngp => q,
        KernelKind::Ntk => t,
    })
}
