//! `hermite` (Han et al. 2022): each activation's truncated Hermite
//! expansion with coefficients computed for each sample's norm, on the
//! shared polynomial stage. Any activation of `dual-activations`.

use super::interface::{ActCx, Built, FeatureMethod};
use super::poly;
use crate::error::{FeatureError, Result};
use crate::features::coeffs::Coeffs;
use crate::features::config::FeatureConfig;
use dual_activations::{Activation, DualActivation, HermiteCoeffs};
use sketch_core::Real;

/// The `hermite` method.
pub(crate) struct Hermite;

impl FeatureMethod for Hermite {
    const NAME: &'static str = "hermite";
    const SUMMARY: &'static str =
        "any activation: truncated Hermite expansions, PolySketch (Han et al. 2022)";
    const CALIBRATES: bool = true;

    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        if matches!(dual.activation(), Activation::ExpNormalized { gamma, .. } if *gamma < 0.0) {
            return Err(cx.unsupported("ExpNormalized with gamma < 0 has no Hermite series".into()));
        }
        let degree = match cx.config.degree {
            Some(q) => q,
            None => auto_degree(&dual, cx.config, cx.layer)?,
        };
        let coeffs = Coeffs::new(
            dual,
            degree,
            cx.layer,
            cx.config.match_tails.resolve(!cx.image),
        );
        poly::layer(cx, coeffs)
    }
}

/// The Hermite degree for a tolerance: the largest, over norms ½, 1 and 2,
/// of the smallest degree whose relative tails of σ and σ' are below it.
fn auto_degree(
    dual: &dual_activations::DualActivation,
    config: &FeatureConfig,
    layer: usize,
) -> Result<usize> {
    let mut q = 1;
    for r in [0.5, 1.0, 2.0] {
        let d = HermiteCoeffs::degree_for(dual, r, config.tolerance, config.max_degree)
            .map_err(|source| FeatureError::Activation { layer, source })?;
        q = q.max(d);
    }
    Ok(q)
}
