//! Applying a feature map: input checks, chunks of samples for progress
//! and cancellation, batches on workers with per-worker workspaces, the
//! stages in order, the final compression and the calibration to the exact
//! diagonal. A sample's features depend only on that sample.

use super::branch::concat;
use super::config::KernelKind;
use super::linear::{compress_each, linear};
use super::map::FeatureMap;
use super::stage::Stage;
use super::state::{Pre, State, Variances, Workspace, calibrate, col_slice, pre_variance};
use crate::error::{FeatureError, Result};
use crate::layers::conv;
use crate::plan::Plan;
use crate::recursion::{SelfBufs, image_self, vector_self};
use crate::shape::Shape;
use faer::reborrow::ReborrowMut;
use faer::{Mat, Par};
use sketch_core::{Real, Sketch};
use std::ops::ControlFlow;

/// One worker's buffers for a whole call: the stages' workspace and, for
/// images, the exact self-state that the variances need.
struct Worker<T: Real> {
    ws: Workspace<T>,
    own: SelfBufs,
}

impl<T: Real> FeatureMap<T> {
    /// Features of every sample of `x` (sample-major: the layout of a C-order
    /// `(n, d)` or `(n, H, W, C)` array) as a `(D′, n)` matrix, one sample per
    /// column (the memory layout of a C-order `(n, D′)` array).
    /// `progress(done, n)` is called on the calling thread.
    ///
    /// # Errors
    /// [`FeatureError::Empty`], [`FeatureError::DimMismatch`] (a length that
    /// is not a multiple of the sample size), [`FeatureError::NonFinite`];
    /// [`FeatureError::NonFiniteOutput`] when a feature overflows; activation
    /// errors.
    pub fn apply(
        &self,
        x: &[T],
        par: Par,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Mat<T>> {
        let n = self.samples(x)?;
        let mut out = Mat::<T>::zeros(self.out_dim, n);
        self.run(x, n, out.as_mut(), par, &mut |done, total| {
            progress(done, total);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// [`apply`](Self::apply) into a caller's `(D′, n)` matrix, every entry
    /// overwritten: a buffer reused across calls (streaming blocks of
    /// samples) costs no allocation and no page faults, which for fresh
    /// memory cost about as much as the features themselves on small maps.
    ///
    /// # Errors
    /// As [`apply`](Self::apply); [`FeatureError::DimMismatch`] when `out`
    /// is not `(D′, n)`.
    pub fn apply_into(
        &self,
        x: &[T],
        out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<()> {
        self.apply_into_cancellable(x, out, par, &mut |done, total| {
            progress(done, total);
            ControlFlow::Continue(())
        })
    }

    /// [`apply_into`](Self::apply_into) whose `progress(done, n)` may stop
    /// the computation by returning [`ControlFlow::Break`]: the call then
    /// returns [`FeatureError::Cancelled`] within one chunk of samples (256
    /// vectors or 4 images), `out` partly written.
    ///
    /// # Errors
    /// As [`apply_into`](Self::apply_into), and [`FeatureError::Cancelled`].
    pub fn apply_into_cancellable(
        &self,
        x: &[T],
        out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let n = self.samples(x)?;
        if out.nrows() != self.out_dim || out.ncols() != n {
            return Err(FeatureError::DimMismatch {
                what: "output matrix (D′ rows, one column per sample)",
                expected: self.out_dim * n,
                got: out.nrows() * out.ncols(),
            });
        }
        self.run(x, n, out, par, progress)
    }

    /// Features of the `n` checked samples of `x` into `out` (`(D′, n)`).
    fn run(
        &self,
        x: &[T],
        n: usize,
        mut out: faer::MatMut<'_, T>,
        par: Par,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let size = self.sample_len();
        let plan = Plan {
            arch: &self.arch,
            steps: self.steps.clone(),
            slots: 0,
        };
        // Samples per progress report: about a second of work, and 16
        // batches to share between workers.
        let chunk = match self.input {
            Shape::Vector { .. } => 256.max(16 * self.batch_len),
            Shape::Image { .. } => 4,
        };
        // One workspace per worker for the whole call (its buffers stay
        // faulted in across chunks); scratch only, so outputs do not depend
        // on which worker ran a batch.
        let pool = sketch_core::parallel::per_worker(par, || Worker {
            ws: Workspace::new(self.scratch),
            own: SelfBufs::default(),
        });
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let block = out.rb_mut().subcols_mut(start, len);
            let bl = self.batch_len;
            let batches = sketch_core::parallel::col_blocks(block, bl);
            let results = sketch_core::parallel::map_items(par, batches, |w, j, cols| {
                let s = start + j * bl;
                let b = cols.ncols();
                let mut worker = sketch_core::parallel::lock(&pool, w);
                let Worker { ws, own } = &mut *worker;
                self.batch(&plan, &x[s * size..(s + b) * size], cols, ws, own)
                    .map_err(|e| (s, e))
            });
            for r in results {
                r.map_err(|(_, e)| e)?;
            }
            start += len;
            if progress(start, n).is_break() && start < n {
                return Err(FeatureError::Cancelled {
                    done: start,
                    total: n,
                });
            }
        }
        Ok(())
    }

    /// The number of samples in `x`, after checking it.
    fn samples(&self, x: &[T]) -> Result<usize> {
        let size = self.sample_len();
        if x.is_empty() {
            return Err(FeatureError::Empty { what: "x" });
        }
        if !x.len().is_multiple_of(size) {
            return Err(FeatureError::DimMismatch {
                what: "input length (a multiple of the sample size)",
                expected: size * x.len().div_ceil(size),
                got: x.len(),
            });
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(FeatureError::NonFinite {
                what: "x",
                sample: k / size,
                index: k % size,
            });
        }
        Ok(x.len() / size)
    }

    /// A batch of samples (`xs`, sample-major) into their output columns.
    /// Stages run sample by sample, except random-feature layers, which
    /// multiply the whole batch by their weights in one GEMM; a sample's
    /// features do not depend on its batch (a GEMM column is computed the
    /// same way for any number of columns ≥ 2, which `random_batch` keeps).
    fn batch(
        &self,
        plan: &Plan<'_>,
        xs: &[T],
        mut out: faer::MatMut<'_, T>,
        ws: &mut Workspace<T>,
        own: &mut SelfBufs,
    ) -> Result<()> {
        let size = self.sample_len();
        let b = out.ncols();
        let vars = if self.needs_variance || self.calibrate {
            (0..b)
                .map(|j| self.variances(plan, &xs[j * size..(j + 1) * size], own))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let mut states: Vec<State<T>> = (0..b)
            .map(|j| State::input(&xs[j * size..(j + 1) * size], self.input, self.input_head))
            .collect();
        // The states a branching network keeps aside, by slot.
        let mut slots: Vec<Vec<State<T>>> = Vec::new();
        for stage in &self.stages {
            match stage {
                Stage::Act(a) => {
                    a.apply(&mut states, &vars, ws)?;
                    continue;
                }
                Stage::Store(s) => {
                    if slots.len() <= *s {
                        slots.resize_with(s + 1, Vec::new);
                    }
                    slots[*s].clone_from(&states);
                    continue;
                }
                Stage::Load(s) => {
                    states.clone_from(&slots[*s]);
                    continue;
                }
                Stage::Combine { slots: from, mean } => {
                    for (j, st) in states.iter_mut().enumerate() {
                        let parts: Vec<&State<T>> = from.iter().map(|&s| &slots[s][j]).collect();
                        *st = concat(&parts, *mean);
                    }
                    continue;
                }
                _ => {}
            }
            for (j, st) in states.iter_mut().enumerate() {
                let var = |step: usize, p: usize| pre_variance(&vars, j, step, p);
                match stage {
                    Stage::Linear(i) => {
                        linear(&self.steps[*i].op, st, &var, *i, self.config.kernel)
                    }
                    Stage::Act(_) | Stage::Store(_) | Stage::Load(_) | Stage::Combine { .. } => {
                        unreachable!("handled for the whole batch")
                    }
                    Stage::ConvSketch { step, phi, psi } => {
                        conv::sketched_features(&self.steps[*step].op, phi, psi.as_deref(), st, ws)
                    }
                    Stage::Heads { phi, psi } => {
                        st.hphi = *phi;
                        st.hpsi = *psi;
                    }
                    Stage::Compress { phi, psi } => {
                        if let Some(s) = phi {
                            st.phi = compress_each(s, &st.phi, st.dphi, st.hphi, st.pos, ws);
                            st.dphi = st.hphi + s.dim_out();
                        }
                        if let Some(s) = psi {
                            st.psi = compress_each(s, &st.psi, st.dpsi, st.hpsi, st.pos, ws);
                            st.dpsi = st.hpsi + s.dim_out();
                        }
                    }
                }
            }
        }
        for (j, st) in states.iter().enumerate() {
            debug_assert_eq!(
                (st.pos, st.dphi, st.dpsi),
                (
                    self.final_dims.pos,
                    self.final_dims.phi,
                    if self.output == KernelKind::Ntk {
                        self.final_dims.psi
                    } else {
                        st.dpsi
                    }
                )
            );
            let v = match self.output {
                KernelKind::Nngp => &st.phi,
                KernelKind::Ntk => &st.psi,
            };
            let out = col_slice(out.rb_mut().col_mut(j));
            match &self.compress_out {
                Some(s) => {
                    let h = v.len() - s.dim_in();
                    out[..h].copy_from_slice(&v[..h]);
                    s.apply_one(&v[h..], &mut out[h..], &mut ws.real, &mut ws.complex);
                }
                None => out.copy_from_slice(v),
            }
            if self.calibrate {
                let exact = match (self.config.kernel, &vars[j]) {
                    (KernelKind::Nngp, v) => v.nngp,
                    (KernelKind::Ntk, v) => v.ntk,
                };
                calibrate(out, exact);
            }
            if out.iter().any(|v| !v.is_finite()) {
                return Err(FeatureError::NonFiniteOutput {
                    what: "feature",
                    reason: "a feature overflowed the floating-point range; rescale the inputs or use f64",
                });
            }
        }
        Ok(())
    }

    fn variances(&self, plan: &Plan<'_>, x: &[T], own: &mut SelfBufs) -> Result<Variances> {
        let (pre, nngp, ntk) = match self.input {
            Shape::Vector { dim } => {
                let q0 = x.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>() / dim as f64;
                let (v, nngp, ntk) = vector_self(plan, q0)?;
                (Pre::Vector(v), nngp, ntk)
            }
            Shape::Image { h, w, c } => {
                let x64: Vec<f64> = x.iter().map(|v| v.as_f64()).collect();
                let (v, nngp, ntk) = image_self(plan, own, &x64, h, w, c)?;
                (Pre::Image(v), nngp, ntk)
            }
        };
        Ok(Variances { pre, nngp, ntk })
    }
}
