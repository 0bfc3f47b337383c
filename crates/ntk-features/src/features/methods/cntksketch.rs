//! `cntksketch` (Zandieh et al. 2021, §6): `ntksketch`'s Relu layer at
//! every position of an image, with the exact per-position normalisers and
//! one set of random maps for all positions; the per-position budget is `D`
//! at every position, the 2021 configuration.

use super::interface::{ActCx, Built, FeatureMethod};
use super::ntksketch;
use crate::error::Result;
use crate::features::recipe::default_position_budget;
use crate::features::config::FeatureConfig;
use dual_activations::DualActivation;
use sketch_core::Real;

/// The `cntksketch` method.
pub(crate) struct CntkSketch;

impl FeatureMethod for CntkSketch {
    const NAME: &'static str = "cntksketch";
    const SUMMARY: &'static str =
        "Relu, images: arc-cosine polynomials at every position (Zandieh et al. 2021)";
    const CALIBRATES: bool = true;

    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        ntksketch::relu_layer(cx, dual, true)
    }

    fn position_budget(config: &FeatureConfig, image: bool, pos: usize) -> usize {
        match config.inner_dim {
            None if image => config.dim,
            _ => default_position_budget(config, image, pos),
        }
    }
}
