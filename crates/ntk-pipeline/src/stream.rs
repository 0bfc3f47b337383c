//! Features of many samples, block by block ([`stream`],
//! [`AnyMap::stream`]): each block is featurised into one buffer reused for
//! the whole stream (no page faults per block) and handed to a sink, with
//! progress after each block, cancellation within and between blocks, and
//! an optional [`Cache`] that may supply a block instead of the map (the
//! caller's: the library does no I/O).

use std::ops::ControlFlow;

use crate::error::{PipelineError, Result};
use crate::map::{AnyMap, Block, BlockMut, Scalar};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Mat, MatRef, Par};
use ntk_features::FeatureMap;

/// Receives `(first sample, features (D′, len))` for each block of a
/// [`stream`].
pub type Sink<'s, T, E> = dyn FnMut(usize, MatRef<'_, T>) -> Result<(), E> + 's;

/// Samples per block unless the caller says otherwise: bounds the memory of
/// one block at `BLOCK·D′` values whatever `n` is, and keeps the Gram
/// accumulation's GEMMs wide.
pub const BLOCK: usize = 256;

/// Blocks of features kept elsewhere (for example on disk, keyed by the
/// block's input values), so that an interrupted stream resumes.
pub trait Cache<E> {
    /// Fills `out` (`(D′, len)`, in the map's precision) with the features
    /// of samples `start..start + len` if they are kept, and says whether
    /// it did; the map computes them otherwise.
    ///
    /// # Errors
    /// The cache's own; a missing or damaged entry is `Ok(false)`.
    fn load(&mut self, start: usize, out: BlockMut<'_>) -> Result<bool, E>;
    /// Keeps the features `z` of samples `start..start + z.ncols()`, just
    /// computed.
    ///
    /// # Errors
    /// The cache's own.
    fn save(&mut self, start: usize, z: Block<'_>) -> Result<(), E>;
}

/// How a stream runs: the block size, the parallelism of each block, and
/// the caller's hooks.
pub struct Stream<'a, E> {
    /// Samples per block (at least 1).
    pub block: usize,
    /// Parallelism of the map within a block.
    pub par: Par,
    /// Called with `(samples done, samples in all)` after each block is
    /// featurised, before the sink sees it.
    pub progress: Option<&'a mut dyn FnMut(usize, usize)>,
    /// Tested within blocks (after each chunk of samples the map reports)
    /// and between blocks: `true` stops the stream with an error for which
    /// [`PipelineError::is_cancelled`] holds.
    pub stop: Option<&'a dyn Fn() -> bool>,
    /// Blocks kept elsewhere.
    pub cache: Option<&'a mut dyn Cache<E>>,
}

impl<E> Stream<'_, E> {
    /// Blocks of [`BLOCK`] samples, no hooks.
    pub fn new(par: Par) -> Self {
        Self {
            block: BLOCK,
            par,
            progress: None,
            stop: None,
            cache: None,
        }
    }
}

impl<E> core::fmt::Debug for Stream<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stream")
            .field("block", &self.block)
            .field("par", &self.par)
            .field("progress", &self.progress.is_some())
            .field("stop", &self.stop.is_some())
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

/// The number of samples of `size` values in `len` values.
pub(crate) fn sample_count(len: usize, size: usize) -> Result<usize> {
    if size == 0 || !len.is_multiple_of(size) {
        return Err(PipelineError::Shape {
            what: "input values (a whole number of samples)",
            expected: size * (len / size.max(1)),
            got: len,
        });
    }
    Ok(len / size)
}

/// Streams the features of every sample of `x` (sample-major, the layout
/// of a C-order `(n, d)` or `(n, H, W, C)` array; values cast to `T` block
/// by block) through `map` to `sink(start, block)`, `block` being the
/// `(D′, len)` features of samples `start..start + len`. The features are
/// those of [`FeatureMap::apply`] bit for bit, for any block size.
///
/// # Errors
/// A length that is not a whole number of samples; the map's, the
/// cache's and the sink's errors; cancellation by `s.stop`.
pub fn stream<T: Scalar, X: Copy + Into<f64>, E: From<PipelineError>>(
    map: &FeatureMap<T>,
    x: &[X],
    s: &mut Stream<'_, E>,
    sink: &mut Sink<'_, T, E>,
) -> Result<(), E> {
    let size = map.sample_len();
    let n = sample_count(x.len(), size)?;
    let block = s.block.max(1);
    let stop = s.stop;
    let stopped = || stop.is_some_and(|f| f());
    // One block buffer for the whole stream (no page faults per block).
    let mut z = Mat::<T>::zeros(map.dim(), block.min(n));
    let mut input: Vec<T> = Vec::with_capacity(block.min(n) * size);
    let mut start = 0;
    while start < n {
        let len = block.min(n - start);
        let mut zb = z.as_mut().subcols_mut(0, len);
        let loaded = match s.cache.as_deref_mut() {
            Some(c) => c.load(start, T::block_mut(zb.rb_mut()))?,
            None => false,
        };
        if !loaded {
            input.clear();
            input.extend(
                x[start * size..(start + len) * size]
                    .iter()
                    .map(|&v| T::cast(v.into())),
            );
            map.apply_into_cancellable(&input, zb.rb_mut(), s.par, &mut |_, _| {
                if stopped() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(PipelineError::from)?;
            if let Some(c) = s.cache.as_deref_mut() {
                c.save(start, T::block(zb.rb()))?;
            }
        }
        if let Some(p) = s.progress.as_deref_mut() {
            p(start + len, n);
        }
        sink(start, zb.rb())?;
        start += len;
        if start < n && stopped() {
            return Err(PipelineError::Cancelled {
                done: start,
                total: n,
            }
            .into());
        }
    }
    Ok(())
}

impl AnyMap {
    /// [`stream`] in the map's precision, the blocks handed to `sink` as
    /// [`Block`]s.
    ///
    /// # Errors
    /// As [`stream`].
    pub fn stream<X: Copy + Into<f64>, E: From<PipelineError>>(
        &self,
        x: &[X],
        s: &mut Stream<'_, E>,
        sink: &mut dyn FnMut(usize, Block<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Self::F32(m) => stream(m, x, s, &mut |start, z| sink(start, Block::F32(z))),
            Self::F64(m) => stream(m, x, s, &mut |start, z| sink(start, Block::F64(z))),
        }
    }
}
