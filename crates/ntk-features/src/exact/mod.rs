//! Exact NNGP and NTK kernels with neural-tangents' conventions
//! (`docs/NUMERICS.md`), walking the [`Plan`] of the architecture.
//!
//! - [`vectors`]: fully connected inputs take one GEMM for `⟨x, y⟩/d` and
//!   `O(n₁n₂L)` scalar work, in column blocks (parallel, memory bounded by
//!   the outputs).
//! - [`images`]: every pair carries the full position-by-position state
//!   (`(HW) × (HW)` for `q` and `Θ`), propagated pair by pair in parallel;
//!   each image's own state gives the variances its activations need.
//!
//! - [`tiles`]: the same computations by ranges of output columns, for job
//!   arrays and MPI ranks.
//!
//! Pointwise layers (Dense, activations, LayerNorm) have one kernel update,
//! [`crate::plan::pointwise`], used by both paths and by the per-point
//! recursions.

mod images;
mod io;
mod tiles;
mod vectors;

pub(crate) use images::{SelfBufs, image_self};
pub use io::{Input, Kernels};
pub use tiles::{KernelTiles, Tile};
pub use vectors::{ColumnBlock, kernel_blocks};

use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::plan::{Plan, shape_size};
use crate::shape::Shape;
use faer::Par;
use io::check_finite;
use std::ops::ControlFlow;

#[cfg(doc)]
use dual_activations::Activation;

/// Exact kernels of `arch` between `x1` and `x2` (`None`: `x2 = x1`, and
/// only the upper triangle is computed, unless a quadrature activation
/// makes the dual depend on the order of its arguments: see
/// [`Activation::exchange_symmetric`]). `progress(done, total)` is called
/// on the calling thread as work completes.
///
/// # Errors
/// [`FeatureError::ShapeMismatch`] when the architecture does not fit the
/// inputs; [`FeatureError::DimMismatch`] for inputs of different shapes;
/// [`FeatureError::Empty`], [`FeatureError::NonFinite`]; activation errors.
pub fn kernels(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Kernels> {
    kernels_cancellable(arch, x1, x2, par, &mut |done, total| {
        progress(done, total);
        ControlFlow::Continue(())
    })
}

/// The peak memory of [`kernels`] in bytes, estimated before any work so
/// that a caller can refuse what cannot fit: the two `n1 × n2` output
/// matrices, and the working state — for vectors one block of columns
/// (`q`, `Θ` and the dual's two outputs for `n1 × 256` entries), for images
/// each of `workers` workers' position-pair buffers (five `(HW) × (HW)`
/// matrices: `q` and `Θ` of the current and next state, and the first pass
/// of a separable window sum), and for a branching network the states its
/// slots keep aside (`q` and `Θ` per slot: `(HW) × (HW)` each per worker
/// for images, a column of `n1` pairs per worker for vectors). An
/// architecture that does not fit `input` counts no slots (the
/// computation refuses it).
pub fn kernel_memory(
    arch: &Architecture,
    input: Shape,
    n1: usize,
    n2: usize,
    workers: usize,
) -> f64 {
    let slots = Plan::new(arch, input).map_or(0, |p| p.slots) as f64;
    let (n1, n2, workers) = (n1 as f64, n2 as f64, workers as f64);
    let outputs = 2.0 * n1 * n2 * 8.0;
    let state = match input {
        Shape::Image { h, w, .. } => {
            let p = (h * w) as f64;
            (images::PAIR_MATRICES as f64 + 2.0 * slots) * p * p * 8.0 * workers
        }
        Shape::Vector { .. } => {
            vectors::BLOCK_MATRICES as f64 * n1 * n2.min(vectors::COL_BLOCK as f64) * 8.0
                + 2.0 * slots * n1 * 8.0 * workers
        }
    };
    outputs + state
}

/// Checks the inputs and plans the network for them; returns the second
/// input the computation uses: `None` (only the upper triangle of
/// `K(X, X)`) unless a dual depends on the order of its arguments
/// (quadrature rules), which makes `K(X, X)` asymmetric, as
/// neural-tangents computes it: both triangles then, by the general path
/// with `x2 = x1`. Shared by [`kernels_cancellable`] and [`KernelTiles`].
fn prepare<'a, 'p>(
    arch: &'p Architecture,
    x1: Input<'a>,
    x2: Option<Input<'a>>,
) -> Result<(Plan<'p>, Option<Input<'a>>)> {
    x1.validate("x1")?;
    if let Some(x2) = &x2 {
        x2.validate("x2")?;
        if x2.shape() != x1.shape() {
            return Err(FeatureError::DimMismatch {
                what: "x2's sample shape must equal x1's",
                expected: shape_size(x1.shape()).unwrap_or(usize::MAX),
                got: shape_size(x2.shape()).unwrap_or(usize::MAX),
            });
        }
    }
    let plan = Plan::new(arch, x1.shape())?;
    let x2 = match x2 {
        None if !plan.exchange_symmetric() => Some(x1),
        other => other,
    };
    Ok((plan, x2))
}

/// [`kernels`] whose `progress(done, total)` may stop the computation by
/// returning [`ControlFlow::Break`] (an interrupt from a user, a deadline):
/// the call then returns [`FeatureError::Cancelled`] within one unit of
/// work (a chunk of image pairs, a block of 256 columns).
///
/// # Errors
/// As [`kernels`], and [`FeatureError::Cancelled`].
pub fn kernels_cancellable(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Kernels> {
    let (plan, x2) = prepare(arch, x1, x2)?;
    let k = match (x1, x2) {
        (Input::Vectors(a), None) => vectors::fc(&plan, a, None, par, progress),
        (Input::Vectors(a), Some(Input::Vectors(b))) => {
            vectors::fc(&plan, a, Some(b), par, progress)
        }
        (Input::Images { .. }, _) => images::images(&plan, x1, x2, par, progress),
        (Input::Vectors(_), Some(Input::Images { .. })) => unreachable!("shapes were compared"),
    }?;
    check_finite(&k)?;
    Ok(k)
}
