//! The features against the exact kernel: `‖ZZᵀ − K‖_F/‖K‖_F` on a few
//! seeded samples (the CLI's `--check N`).

use crate::error::{PipelineError, Result};
use crate::map::AnyMap;
use crate::stream::sample_count;
use faer::{MatRef, Par};
use ntk_features::{Architecture, FeatureError, Input, KernelKind, Shape, gram_error, kernels};

/// The exact kernel of `arch` on `samples` seeded samples against the
/// features' Gram matrix on the same samples.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The architecture the map was made of.
    pub arch: &'a Architecture,
    /// How many samples (fewer than 2 skip the check).
    pub samples: usize,
    /// Seed of the choice of samples.
    pub seed: u64,
}

impl Check<'_> {
    /// `Some((samples, relative Frobenius error))` of the features of `map`
    /// on samples of `x` (sample-major); `None` when skipped or when the
    /// kernel is zero (no relative error exists).
    ///
    /// # Errors
    /// The exact kernel's and the map's errors.
    pub fn error(&self, map: &AnyMap, x: &[f64], par: Par) -> Result<Option<(usize, f64)>> {
        let size = map.sample_len();
        let n = sample_count(x.len(), size)?;
        let picked = self.picks(n);
        let mut data = Vec::with_capacity(picked.len() * size);
        for &i in &picked {
            data.extend_from_slice(&x[i * size..(i + 1) * size]);
        }
        self.error_on(map, &data, par)
    }

    /// The samples [`error`](Self::error) checks among `n`: a seeded choice
    /// of distinct ones (the same every run); empty when skipped.
    pub fn picks(&self, n: usize) -> Vec<usize> {
        let count = self.samples.min(n);
        if count < 2 {
            return Vec::new();
        }
        let (_, mut picked) =
            ntk_solve::select::validation_split(n, count as f64 / n as f64, self.seed)
                .unwrap_or_else(|_| (Vec::new(), (0..count).collect()));
        picked.truncate(count);
        picked
    }

    /// [`error`](Self::error) on the samples [`picks`](Self::picks) chose,
    /// given alone (sample-major), for callers that do not hold the rest.
    ///
    /// # Errors
    /// As [`error`](Self::error).
    pub fn error_on(&self, map: &AnyMap, data: &[f64], par: Par) -> Result<Option<(usize, f64)>> {
        let size = map.sample_len();
        let m = sample_count(data.len(), size)?;
        if m < 2 {
            return Ok(None);
        }
        let input = match map.input_shape() {
            Shape::Vector { dim } => Input::Vectors(MatRef::from_column_major_slice(data, dim, m)),
            Shape::Image { h, w, c } => Input::Images {
                data,
                n: m,
                h,
                w,
                c,
            },
        };
        let k = kernels(self.arch, input, None, par, &mut |_, _| {})?;
        let kk = match map.config().kernel {
            KernelKind::Ntk => k.ntk.as_ref(),
            KernelKind::Nngp => k.nngp.as_ref(),
        };
        let e = match map {
            AnyMap::F32(f) => {
                let sub: Vec<f32> = data.iter().map(|&v| v as f32).collect();
                gram_error(f.apply(&sub, par, &mut |_, _| {})?.as_ref(), kk)
            }
            AnyMap::F64(f) => gram_error(f.apply(data, par, &mut |_, _| {})?.as_ref(), kk),
        };
        // An all-zero kernel (zero inputs, no bias) has no relative error.
        match e {
            Ok(e) => Ok(Some((m, e))),
            Err(FeatureError::Empty { .. }) => Ok(None),
            Err(e) => Err(PipelineError::from(e)),
        }
    }
}
