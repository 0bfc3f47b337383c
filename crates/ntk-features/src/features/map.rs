//! [`FeatureMap`]: what a built map holds, what it tells about itself, and
//! the assembly of a whole-network method's map. It is built in `build`
//! and applied in `apply`.

use super::config::{FeatureConfig, KernelKind};
use super::recipe::Dims;
use super::stage::{ActStage, Stage};
use crate::arch::Architecture;
use crate::plan::{Plan, Step, shape_size};
use crate::shape::Shape;
use sketch_core::{Real, ScratchLen, Srht};

/// A feature map of an architecture for one input shape. `T` is the
/// precision of the features (`f32` or `f64`); coefficients and variances
/// are computed in `f64`, and the `f32` map draws the same random maps.
#[derive(Debug)]
pub struct FeatureMap<T: Real> {
    pub(super) arch: Architecture,
    pub(super) input: Shape,
    pub(super) steps: Vec<Step>,
    pub(super) stages: Vec<Stage<T>>,
    pub(super) config: FeatureConfig,
    pub(super) final_dims: Dims,
    pub(super) compress_out: Option<Srht<T>>,
    pub(super) out_dim: usize,
    pub(super) scratch: ScratchLen,
    pub(super) needs_variance: bool,
    /// Scale each output to the exact diagonal ([`FeatureConfig::calibrate`]).
    pub(super) calibrate: bool,
    /// Which state is the output: the kernel's for layered methods, the
    /// NNGP-like `φ` for whole-network methods (one stage on the input).
    pub(super) output: KernelKind,
    /// Head of the input feature.
    pub(super) input_head: usize,
    /// `onepass` and `subspace`: the coefficients `c_j` and the polynomial's largest error.
    pub(super) fit: Option<(Vec<f64>, f64)>,
    /// Samples per batch: random-feature layers of vector inputs multiply a
    /// batch at once; otherwise 1.
    pub(super) batch_len: usize,
}

/// What a whole-network method hands to [`FeatureMap::whole`]: its one
/// stage on the input and the polynomial it sketches.
pub(crate) struct WholeMap<T: Real> {
    pub(crate) stage: Box<dyn ActStage<T>>,
    /// Output length.
    pub(crate) phi: usize,
    /// Head of the output.
    pub(crate) hphi: usize,
    /// Head of the input feature.
    pub(crate) input_head: usize,
    /// The coefficients `c_j` and the polynomial's largest error.
    pub(crate) fit: (Vec<f64>, f64),
}

impl<T: Real> FeatureMap<T> {
    /// Output dimension `D′ = min(D, natural)`.
    pub fn dim(&self) -> usize {
        self.out_dim
    }

    /// The input shape of one sample.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// The options the map was built with.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// `onepass` and `subspace`: the polynomial `G(ρ) ≈ Σ_j c_j ρ^j` the
    /// features sketch (`K(x, y) ≈ ‖x‖‖y‖/d · G(ρ)`) and its largest error
    /// on `[−1, 1]` (`onepass`: on the fitting grid; `subspace`: the
    /// truncated Taylor tail `G(1) − Σ c_j`, the largest for nonnegative
    /// coefficients); `None` for the other methods.
    pub fn one_pass_fit(&self) -> Option<(&[f64], f64)> {
        self.fit.as_ref().map(|(c, e)| (c.as_slice(), *e))
    }

    /// The Hermite degree of every activation layer (empty for `random`).
    pub fn degrees(&self) -> Vec<usize> {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Act(a) => a.degree(),
                _ => None,
            })
            .collect()
    }

    /// Values per sample of the input.
    pub fn sample_len(&self) -> usize {
        shape_size(self.input).expect("checked by the plan")
    }

    /// A whole-network method's map: its stage on the input, whose
    /// NNGP-like feature is the output for either kernel.
    pub(crate) fn whole(
        arch: &Architecture,
        input: Shape,
        config: &FeatureConfig,
        plan: Plan<'_>,
        w: WholeMap<T>,
    ) -> Self {
        Self {
            arch: arch.clone(),
            input,
            steps: plan.steps,
            scratch: w.stage.scratch(),
            needs_variance: w.stage.needs_variance(),
            stages: vec![Stage::Act(w.stage)],
            config: config.clone(),
            final_dims: Dims {
                pos: 1,
                phi: w.phi,
                psi: 0,
                hphi: w.hphi,
                hpsi: 0,
            },
            compress_out: None,
            out_dim: w.phi,
            calibrate: config.calibrates(),
            output: KernelKind::Nngp,
            fit: Some(w.fit),
            input_head: w.input_head,
            batch_len: 1,
        }
    }
}
