//! The program of a feature map: the [`Stage`]s that run on each batch of
//! samples in order, and [`ActStage`], the interface of a method's stage.

use super::state::{State, Variances, Workspace};
use crate::error::Result;
use sketch_core::{PatchSrht, Real, ScratchLen, Srht};

/// What a method's stage does to a batch of samples.
pub(crate) trait ActStage<T: Real>: core::fmt::Debug + Send + Sync {
    /// Replaces every state of the batch (`states[j]` is sample `j`, whose
    /// exact variances are `vars[j]` when [`needs_variance`] says so) by its
    /// features after the stage.
    ///
    /// [`needs_variance`]: ActStage::needs_variance
    fn apply(
        &self,
        states: &mut [State<T>],
        vars: &[Variances],
        ws: &mut Workspace<T>,
    ) -> Result<()>;
    /// Real and complex scratch the stage needs in a worker's workspace.
    fn scratch(&self) -> ScratchLen;
    /// Whether `apply` reads the samples' exact variances.
    fn needs_variance(&self) -> bool {
        false
    }
    /// The truncation degree, for [`FeatureMap::degrees`](super::map::FeatureMap::degrees).
    fn degree(&self) -> Option<usize> {
        None
    }
    /// Vectors per call that make the stage efficient (a GEMM over the
    /// batch); 1 for stages that run sample by sample. Images always run
    /// one sample per call.
    fn batch(&self) -> usize {
        1
    }
}

/// One step of a feature map's program.
#[derive(Debug)]
pub(crate) enum Stage<T: Real> {
    /// A linear step of the plan (index into the steps).
    Linear(usize),
    /// A method's stage: an activation layer, or a whole-network method's
    /// stage on the input.
    Act(Box<dyn ActStage<T>>),
    /// Shorten the heads (they would outgrow their share of the budget).
    Heads { phi: usize, psi: usize },
    /// A Conv whose patches are longer than the budget, fused with their
    /// compression (images): one [`PatchSrht`] of the `φ` patch and one of
    /// the `[ψ; φ]` patch, each source position transformed once; the bias
    /// is an exact head coordinate of both.
    ConvSketch {
        step: usize,
        phi: Box<PatchSrht<T>>,
        psi: Option<Box<PatchSrht<T>>>,
    },
    /// Per-position SRHT of the NNGP and/or NTK feature, after its head.
    Compress {
        phi: Option<Box<Srht<T>>>,
        psi: Option<Box<Srht<T>>>,
    },
    /// Keep a copy of every state in a slot (a fan-out, a branch's end).
    Store(usize),
    /// Every state becomes a copy of its slot (a branch's start).
    Load(usize),
    /// Every state becomes the concatenation of its slots' states
    /// ([`super::branch::concat`]): inner products add, so the kernel of the
    /// features is the sum of the branches' kernels (`FanInSum`), or their
    /// mean with each part scaled by `1/√n` (`FanInConcat`).
    Combine { slots: Vec<usize>, mean: bool },
}
