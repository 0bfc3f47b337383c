//! What a feature method implements ([`FeatureMethod`]) and what it is
//! given: a layered method builds each activation layer from an [`ActCx`]
//! into a stage ([`Built`]); a whole-network method builds the whole map
//! from a [`WholeCx`]. Also the few helpers several methods share.

use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::features::config::FeatureConfig;
use crate::features::map::FeatureMap;
use crate::features::recipe::{Dims, Seeds, default_position_budget};
use crate::features::stage::ActStage;
use crate::plan::Plan;
use crate::shape::Shape;
use dual_activations::{Activation, DualActivation};
use sketch_core::{Real, TensorSrht, Transform};

/// A stage and the dimensions of the state after it.
pub(crate) struct Built<T: Real> {
    pub(crate) stage: Box<dyn ActStage<T>>,
    pub(crate) dims: Dims,
}

/// What a layered method knows when it builds an activation layer.
pub(crate) struct ActCx<'a> {
    pub(crate) config: &'a FeatureConfig,
    /// The method's name (for errors).
    pub(crate) method: &'static str,
    /// Index of the layer in the architecture (for errors).
    pub(crate) layer: usize,
    /// The layer's stax name (for errors).
    pub(crate) name: &'static str,
    /// Index of the step in the plan (where the stage reads variances).
    pub(crate) step: usize,
    pub(crate) image: bool,
    pub(crate) ntk: bool,
    /// The state entering the layer.
    pub(crate) dims: Dims,
    /// The per-position budget at this layer.
    pub(crate) inner: usize,
    /// PolySketch node dimension or random-feature width (the budget
    /// unless `node_dim` is set).
    pub(crate) node: usize,
    /// A direction longer than `slack` times the node dimension is projected first.
    pub(crate) slack: usize,
    /// Activation layers before this one.
    pub(crate) index: usize,
    /// The map's stream of seeds, one per random map in construction order.
    pub(crate) seeds: &'a mut Seeds,
}

impl ActCx<'_> {
    /// The error for a layer this method cannot represent.
    pub(crate) fn unsupported(&self, reason: String) -> FeatureError {
        FeatureError::Unsupported {
            layer: self.layer,
            name: self.name,
            method: self.method,
            reason,
        }
    }
}

/// What a whole-network method builds from.
pub(crate) struct WholeCx<'a> {
    pub(crate) arch: &'a Architecture,
    pub(crate) input: Shape,
    pub(crate) config: &'a FeatureConfig,
}

/// A feature method. Implemented by a unit type per file; the registry
/// dispatches on [`Method`] to it.
pub(crate) trait FeatureMethod {
    /// The name on the command line, in model files and in Python.
    const NAME: &'static str;
    /// One line for help texts: what it covers.
    const SUMMARY: &'static str;
    /// Whether maps scale each sample to the exact diagonal by default
    /// ([`FeatureConfig::calibrate`]).
    const CALIBRATES: bool;

    /// A whole-network method builds the map here; layered methods keep
    /// the default (`None`) and build activation layers.
    fn whole_network<T: Real>(_cx: &WholeCx<'_>, _plan: Plan<'_>) -> Option<Result<FeatureMap<T>>> {
        None
    }

    /// One activation layer of a layered method.
    ///
    /// # Errors
    /// [`ActCx::unsupported`] for an activation or input the method cannot
    /// represent; sketch and coefficient errors.
    fn activation<T: Real>(cx: &mut ActCx<'_>, dual: DualActivation) -> Result<Built<T>> {
        let _ = dual;
        Err(cx.unsupported(format!(
            "{} replaces the whole network; it has no per-layer stage",
            Self::NAME
        )))
    }

    /// The per-position state budget at a layer with `pos` positions.
    fn position_budget(config: &FeatureConfig, image: bool, pos: usize) -> usize {
        default_position_budget(config, image, pos)
    }

    /// The budget past which a state is compressed between layers, given
    /// the per-position budget.
    fn compress_budget(_config: &FeatureConfig, inner: usize) -> usize {
        inner
    }

    /// Checks after the walk, given the number of activation layers.
    ///
    /// # Errors
    /// Options that do not fit the architecture.
    fn finish(_config: &FeatureConfig, _activations: usize) -> Result<()> {
        Ok(())
    }
}

/// The TensorSRHT `(ψ, second) → inner` of an activation, for the NTK only.
pub(crate) fn ntk_tensor<T: Real>(
    ntk: bool,
    psi: usize,
    second: usize,
    inner: usize,
    seeds: &mut Seeds,
) -> Result<Option<TensorSrht<T>>> {
    if !ntk {
        return Ok(None);
    }
    Ok(Some(TensorSrht::new(
        psi.max(1),
        second,
        inner,
        Transform::Hadamard,
        seeds.next(),
    )?))
}

/// Positively homogeneous activations of degree 1 whose derivative is
/// constant on rays (Relu and its two-slope relatives, Abs).
pub(crate) fn degree_one(act: &Activation) -> bool {
    matches!(
        act,
        Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::AbRelu { .. }
            | Activation::Abs
    )
}
