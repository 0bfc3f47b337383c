//! Building a layered feature map: the walk over the plan that tracks each
//! state's dimensions, runs the exact linear steps, asks the method for each
//! activation's stage, fuses Convs whose patches exceed the budget, and
//! compresses states that outgrow it. Random maps are drawn in this walk's
//! order from one stream of seeds, so the order is part of every map's
//! definition. Whole-network methods build their own map.

use super::branch::concat_dims;
use super::config::{FeatureConfig, KernelKind};
use super::map::FeatureMap;
use super::methods::{ActCx, WholeCx};
use super::recipe::{Dims, HEAD_SHARE, SLACK, Seeds, checked, sketch_scratch};
use super::stage::Stage;
use crate::arch::Architecture;
use crate::error::Result;
use crate::layers::{conv, dense, flatten, pool};
use crate::plan::{Op, Plan};
use crate::shape::Shape;
#[cfg(doc)]
use crate::{FeatureError, MAX_FEATURE_DIM};
use sketch_core::{Real, ScratchLen, Srht, Transform};

impl<T: Real> FeatureMap<T> {
    /// Compiles `arch` for inputs of shape `input` and draws every random map.
    ///
    /// # Errors
    /// The plan's shape errors; [`FeatureError::InvalidOption`] for bad
    /// options; [`FeatureError::Unsupported`] for a layer the method cannot
    /// represent (for example `random` features of `ExpNormalized`, which has
    /// no pointwise function); [`FeatureError::TooLarge`] when a state would
    /// exceed [`MAX_FEATURE_DIM`]; coefficient errors of the activations.
    pub fn new(arch: &Architecture, input: Shape, config: &FeatureConfig) -> Result<Self> {
        config.validate()?;
        let plan = Plan::new(arch, input)?;
        let method = config.method;

        let whole = WholeCx {
            arch,
            input,
            config,
        };
        let plan = match method.whole_network(&whole, plan.clone()) {
            Some(map) => return map,
            None => plan,
        };
        let ntk = config.kernel == KernelKind::Ntk;
        let image = matches!(input, Shape::Image { .. });
        let inner_for = |pos: usize| -> usize { method.position_budget(config, image, pos) };
        let slack = if image { 1 } else { SLACK };
        // A Conv of an image whose `φ` patches exceed the budget of its
        // output positions is fused with their compression.
        let fuse_conv = |window: &crate::plan::Window, dphi: usize| -> bool {
            image
                && window.taps() > 1
                && window.taps().saturating_mul(dphi)
                    > slack * inner_for(window.output.0 * window.output.1)
        };
        let mut dims = match input {
            Shape::Vector { dim } => Dims {
                pos: 1,
                phi: dim,
                psi: 0,
                hphi: dim.min(config.dim / HEAD_SHARE),
                hpsi: 0,
            },
            Shape::Image { h, w, c } => Dims {
                pos: h * w,
                phi: c,
                psi: 0,
                hphi: 0,
                hpsi: 0,
            },
        };
        let mut stages = Vec::new();
        let mut scratch = ScratchLen::default();
        let mut needs_variance = false;
        let input_head = dims.hphi;
        let mut activations = 0;
        let mut seeds = Seeds::new(config.seed);
        // The dimensions of the states a branching network keeps aside.
        let mut slot_dims: Vec<Dims> = Vec::new();
        for (i, step) in plan.steps.iter().enumerate() {
            match &step.op {
                Op::Dense { b_std, .. } => {
                    dense::dims(&mut dims, *b_std, ntk)?;
                    stages.push(Stage::Linear(i));
                }
                Op::Conv { window, b_std, .. } if fuse_conv(window, dims.phi) => {
                    let inner = inner_for(window.output.0 * window.output.1);
                    let (phi, psi) =
                        conv::fused(&mut dims, window, *b_std, ntk, inner, &mut seeds)?;
                    stages.push(Stage::ConvSketch {
                        step: i,
                        phi: Box::new(phi),
                        psi,
                    });
                }
                Op::Conv { window, b_std, .. } => {
                    conv::dims(&mut dims, window, *b_std, ntk)?;
                    stages.push(Stage::Linear(i));
                }
                Op::AvgPool { window, .. } => {
                    pool::dims_avg(&mut dims, window);
                    stages.push(Stage::Linear(i));
                }
                Op::GlobalAvgPool { .. } => {
                    pool::dims_global(&mut dims);
                    stages.push(Stage::Linear(i));
                }
                Op::Flatten => {
                    flatten::dims(&mut dims)?;
                    stages.push(Stage::Linear(i));
                }
                Op::Store { slot } => {
                    if slot_dims.len() <= *slot {
                        slot_dims.resize(slot + 1, dims);
                    }
                    slot_dims[*slot] = dims;
                    stages.push(Stage::Store(*slot));
                }
                Op::Load { slot } => {
                    dims = slot_dims[*slot];
                    stages.push(Stage::Load(*slot));
                }
                Op::Combine { slots, mean } => {
                    let parts: Vec<Dims> = slots.iter().map(|&s| slot_dims[s]).collect();
                    dims = concat_dims(&parts);
                    stages.push(Stage::Combine {
                        slots: slots.clone(),
                        mean: *mean,
                    });
                }
                Op::LayerNorm => {
                    // Its features divide by the exact variance.
                    needs_variance = true;
                    stages.push(Stage::Linear(i));
                }
                Op::Activation => {
                    let inner = inner_for(dims.pos);
                    let mut cx = ActCx {
                        config,
                        method: method.name(),
                        layer: step.layer,
                        name: arch.name(step.layer),
                        step: i,
                        image,
                        ntk,
                        dims,
                        inner,
                        node: config.node_dim.unwrap_or(inner),
                        slack,
                        index: activations,
                        seeds: &mut seeds,
                    };
                    let built = method.activation::<T>(&mut cx, plan.dual(step).clone())?;
                    activations += 1;
                    scratch = scratch.max(built.stage.scratch());
                    needs_variance |= built.stage.needs_variance();
                    dims = built.dims;
                    stages.push(Stage::Act(built.stage));
                }
            }
            // Budget: compress what grew past `SLACK` times the budget (every
            // compression adds sketching noise; a few extra values cost little).
            // φ entering an activation is left alone (its sketch reduces it).
            let next_is_act = plan
                .steps
                .get(i + 1)
                .is_some_and(|s| matches!(s.op, Op::Activation));
            // A fused Conv next compresses its patches itself; before a
            // GlobalAvgPool one SRHT after the pool is the same map as one at
            // every position (linear maps commute with the mean) at a
            // fraction of the cost.
            let next_fused = plan.steps.get(i + 1).is_some_and(|s| match &s.op {
                Op::Conv { window, .. } => fuse_conv(window, dims.phi),
                Op::GlobalAvgPool { .. } => image,
                _ => false,
            });
            let inner = method.compress_budget(config, inner_for(dims.pos));
            // Heads stay a small share of the budget (any prefix is a head).
            let cap = inner / HEAD_SHARE;
            if dims.hphi > cap || dims.hpsi > cap {
                dims.hphi = dims.hphi.min(cap);
                dims.hpsi = dims.hpsi.min(cap);
                stages.push(Stage::Heads {
                    phi: dims.hphi,
                    psi: dims.hpsi,
                });
            }
            // An SRHT of the part after the head, to `inner` values in all.
            let mut tail_srht = |len: &mut usize, head: usize| -> Result<Box<Srht<T>>> {
                let s = Srht::new(*len - head, inner - head, Transform::Hadamard, seeds.next())?;
                scratch = scratch.max(sketch_scratch(&s));
                *len = inner;
                Ok(Box::new(s))
            };
            // A fan-in's concatenation grows with every residual block:
            // compressed even before an activation (whose own sketch or
            // weights would otherwise scale with the network's depth).
            let joined = matches!(step.op, Op::Combine { .. });
            let phi = if dims.phi > slack * inner && (!next_is_act || joined) && !next_fused {
                Some(tail_srht(&mut dims.phi, dims.hphi)?)
            } else {
                None
            };
            let psi = if ntk && dims.psi > slack * inner && !next_fused {
                Some(tail_srht(&mut dims.psi, dims.hpsi)?)
            } else {
                None
            };
            if phi.is_some() || psi.is_some() {
                stages.push(Stage::Compress { phi, psi });
            }
            checked(
                "feature values per sample",
                dims.pos.checked_mul(dims.phi.max(dims.psi)),
            )?;
        }
        method.finish(config, activations)?;
        debug_assert_eq!(dims.pos, 1, "plans end without spatial dimensions");
        let natural = if ntk { dims.psi } else { dims.phi };
        let head = if ntk { dims.hpsi } else { dims.hphi };
        let head = head.min(config.dim / HEAD_SHARE);
        let compress_out = if natural > config.dim {
            let s = Srht::new(
                natural - head,
                config.dim - head,
                Transform::Hadamard,
                seeds.next(),
            )?;
            scratch = scratch.max(sketch_scratch(&s));
            Some(s)
        } else {
            None
        };
        let out_dim = natural.min(config.dim);
        // Vectors run in batches as wide as the widest stage wants.
        let batch_len = if image {
            1
        } else {
            stages
                .iter()
                .map(|s| match s {
                    Stage::Act(a) => a.batch(),
                    _ => 1,
                })
                .max()
                .unwrap_or(1)
        };
        Ok(Self {
            arch: arch.clone(),
            input,
            steps: plan.steps,
            stages,
            config: config.clone(),
            final_dims: dims,
            compress_out,
            out_dim,
            scratch,
            needs_variance,
            calibrate: config.calibrates(),
            output: config.kernel,
            fit: None,
            input_head,
            batch_len,
        })
    }
}
