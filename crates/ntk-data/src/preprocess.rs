//! Preprocessing with training statistics only: every `fit` sees the
//! training data, every `apply` is used on training and test data alike.
//!
//! Protocols of the papers (`research/ecosystem.md` §2.1):
//! (a) ÷255, then per-channel standardisation (2021 sketch code);
//! (b) per-channel standardisation, per-image centring and unit norm, then
//!     ZCA with `reg = 0.1` (2022 Myrtle code).

use crate::error::{DataError, Result};
use faer::{Mat, Side};

/// The element types preprocessing works on, `f32` and `f64`; statistics
/// are accumulated in `f64` either way, and `f64` data is transformed
/// without a round trip through `f32`.
pub trait Float: Copy + sealed::Sealed {
    /// The value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// The nearest value of this type.
    fn from_f64(v: f64) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Float for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Float for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Multiplies every value by `factor` (`1/255` maps bytes to `[0, 1]`).
pub fn scale(data: &mut [f32], factor: f32) {
    data.iter_mut().for_each(|v| *v *= factor);
}

fn check_finite<T: Float>(data: &[T], what: &str) -> Result<()> {
    match data.iter().position(|v| !v.to_f64().is_finite()) {
        Some(index) => Err(DataError::NonFinite {
            what: what.into(),
            index,
        }),
        None => Ok(()),
    }
}

/// Mean and standard deviation (population, `ddof = 0`, as NumPy's
/// default) of each channel of interleaved data (NHWC, or `(n, d)` rows
/// with `channels = d` for per-feature statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation.
    pub std: Vec<f64>,
}

impl ChannelStats {
    /// Statistics of the training data, accumulated in f64.
    ///
    /// # Errors
    /// [`DataError::Empty`], [`DataError::Shape`] if the length is not a
    /// multiple of `channels`, [`DataError::NonFinite`].
    pub fn fit<T: Float>(data: &[T], channels: usize) -> Result<Self> {
        if channels == 0 || data.is_empty() {
            return Err(DataError::Empty {
                what: "training data for channel statistics".into(),
            });
        }
        if !data.len().is_multiple_of(channels) {
            return Err(DataError::Shape {
                what: "data length (a multiple of the channel count)".into(),
                expected: format!("multiple of {channels}"),
                got: data.len().to_string(),
            });
        }
        check_finite(data, "training data")?;
        let count = (data.len() / channels) as f64;
        let mut mean = vec![0f64; channels];
        for row in data.chunks_exact(channels) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += v.to_f64());
        }
        mean.iter_mut().for_each(|m| *m /= count);
        // Two-pass variance: no cancellation for large offsets.
        let mut var = vec![0f64; channels];
        for row in data.chunks_exact(channels) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = v.to_f64() - m;
                *s += d * d;
            }
        }
        let std = var.iter().map(|s| (s / count).sqrt()).collect();
        Ok(Self { mean, std })
    }

    /// Channels with zero spread (standardising them would divide by zero).
    pub fn constant_channels(&self) -> Vec<usize> {
        (0..self.std.len())
            .filter(|&k| self.std[k] == 0.0)
            .collect()
    }

    /// `(x − mean)/std` per channel. Channels with zero spread are only
    /// centred (they carry no information; dividing would give NaN).
    ///
    /// # Errors
    /// [`DataError::Shape`] if the length is not a multiple of the channels.
    pub fn standardize<T: Float>(&self, data: &mut [T]) -> Result<()> {
        let c = self.mean.len();
        if !data.len().is_multiple_of(c) {
            return Err(DataError::Shape {
                what: "data length (a multiple of the channel count)".into(),
                expected: format!("multiple of {c}"),
                got: data.len().to_string(),
            });
        }
        for row in data.chunks_exact_mut(c) {
            for (k, v) in row.iter_mut().enumerate() {
                let s = if self.std[k] > 0.0 { self.std[k] } else { 1.0 };
                *v = T::from_f64((v.to_f64() - self.mean[k]) / s);
            }
        }
        Ok(())
    }
}

/// Centres each sample (length `len`) to zero mean and scales it to unit
/// Euclidean norm (the 2022 code's per-image "layer norm").
///
/// # Errors
/// [`DataError::InvalidParameter`] naming a constant sample (it has no
/// direction); [`DataError::Shape`] if `len` does not divide the data.
pub fn normalize_samples<T: Float>(data: &mut [T], len: usize) -> Result<()> {
    if len == 0 || !data.len().is_multiple_of(len) {
        return Err(DataError::Shape {
            what: "data length (a multiple of the sample length)".into(),
            expected: format!("multiple of {len}"),
            got: data.len().to_string(),
        });
    }
    for (i, x) in data.chunks_exact_mut(len).enumerate() {
        let mean = x.iter().map(|&v| v.to_f64()).sum::<f64>() / len as f64;
        let norm = x
            .iter()
            .map(|&v| (v.to_f64() - mean).powi(2))
            .sum::<f64>()
            .sqrt();
        if norm.is_nan() || norm <= 0.0 || !norm.is_finite() {
            return Err(DataError::InvalidParameter {
                what: "sample",
                reason: format!("sample {i} is constant (or non-finite) and cannot be normalised"),
            });
        }
        x.iter_mut()
            .for_each(|v| *v = T::from_f64((v.to_f64() - mean) / norm));
    }
    Ok(())
}

/// ZCA whitening `x ↦ W x` with `W = (C + λI)^{-1/2}`, `C = XᵀX/n` over the
/// training rows (second moment: callers centre first, as the papers'
/// per-image normalisation does), `λ = reg·tr(C)/d` (neural-tangents /
/// Lee et al. 2020 practice; docs/SOURCES.md §P2.3: the 2022 code uses `reg = 0.1`).
#[derive(Debug, Clone)]
pub struct Zca {
    /// The symmetric whitening matrix `W`, `d × d`.
    pub matrix: Mat<f64>,
    /// The absolute regulariser `λ` used.
    pub lambda: f64,
}

impl Zca {
    /// Fits on `n` training rows of length `d` (`data.len() = n·d`).
    ///
    /// # Errors
    /// [`DataError::Empty`], [`DataError::Shape`], [`DataError::NonFinite`],
    /// [`DataError::InvalidParameter`] for `reg < 0` or a zero covariance
    /// with `reg = 0`.
    pub fn fit<T: Float>(data: &[T], d: usize, reg: f64) -> Result<Self> {
        if d == 0 || data.is_empty() {
            return Err(DataError::Empty {
                what: "ZCA training data".into(),
            });
        }
        if !data.len().is_multiple_of(d) {
            return Err(DataError::Shape {
                what: "ZCA data length (a multiple of d)".into(),
                expected: format!("multiple of {d}"),
                got: data.len().to_string(),
            });
        }
        if reg.is_nan() || reg < 0.0 || !reg.is_finite() {
            return Err(DataError::InvalidParameter {
                what: "zca regularisation",
                reason: format!("must be finite and >= 0, got {reg}"),
            });
        }
        check_finite(data, "ZCA training data")?;
        let n = data.len() / d;
        let x = Mat::<f64>::from_fn(d, n, |i, j| data[j * d + i].to_f64());
        let cov = (&x * x.transpose()) * faer::Scale(1.0 / n as f64);
        let trace: f64 = (0..d).map(|i| cov[(i, i)]).sum();
        let lambda = reg * trace / d as f64;
        let eig = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| DataError::InvalidParameter {
                what: "zca",
                reason: "eigendecomposition of the covariance did not converge".into(),
            })?;
        let u = eig.U();
        let s = eig.S().column_vector();
        let mut scaled = u.to_owned();
        for k in 0..d {
            let ev = s[k].max(0.0) + lambda;
            if ev.is_nan() || ev <= 0.0 {
                return Err(DataError::InvalidParameter {
                    what: "zca regularisation",
                    reason: "the covariance is singular; use reg > 0".into(),
                });
            }
            let f = ev.sqrt().recip();
            for i in 0..d {
                scaled[(i, k)] *= f;
            }
        }
        let matrix = &scaled * u.transpose();
        Ok(Self { matrix, lambda })
    }

    /// Whitens rows of length `d` in place (training or test data).
    ///
    /// # Errors
    /// [`DataError::Shape`] if `d` does not match.
    pub fn apply<T: Float>(&self, data: &mut [T]) -> Result<()> {
        let d = self.matrix.nrows();
        if !data.len().is_multiple_of(d) {
            return Err(DataError::Shape {
                what: "ZCA input length (a multiple of d)".into(),
                expected: format!("multiple of {d}"),
                got: data.len().to_string(),
            });
        }
        let n = data.len() / d;
        let x = Mat::<f64>::from_fn(d, n, |i, j| data[j * d + i].to_f64());
        let y = &self.matrix * &x;
        for j in 0..n {
            for i in 0..d {
                data[j * d + i] = T::from_f64(y[(i, j)]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_stats_match_direct_sums() {
        // Two channels, three samples.
        let data = [1.0f32, 10.0, 2.0, 20.0, 6.0, 30.0];
        let s = ChannelStats::fit(&data, 2).unwrap();
        assert_eq!(s.mean, vec![3.0, 20.0]);
        let v0: f64 = (4.0 + 1.0 + 9.0) / 3.0;
        assert!((s.std[0] - v0.sqrt()).abs() < 1e-15);
        let mut x = data;
        s.standardize(&mut x).unwrap();
        let back = ChannelStats::fit(&x, 2).unwrap();
        for k in 0..2 {
            // f32 storage: mean within a few ulps of 0, std of 1.
            assert!(back.mean[k].abs() < 1e-6 && (back.std[k] - 1.0).abs() < 1e-6);
        }
        assert!(matches!(
            ChannelStats::fit(&[1.0, f32::NAN], 1),
            Err(DataError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            ChannelStats::fit(&[1.0, 2.0, 3.0], 2),
            Err(DataError::Shape { .. })
        ));
        let c = ChannelStats::fit(&[5.0, 1.0, 5.0, 2.0], 2).unwrap();
        assert_eq!(c.constant_channels(), vec![0]);
        let mut y = [5.0f32, 1.0];
        c.standardize(&mut y).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
    }

    /// f64 data keeps its precision: a spread of 1e-12 around 1 is below
    /// f32's resolution (its ulp at 1 is 1.2e-7), so a pass through f32
    /// would find a constant channel.
    #[test]
    fn f64_data_is_not_rounded_to_f32() {
        let mut x: [f64; 4] = [1.0 + 1e-12, 1.0 - 1e-12, 1.0 + 1e-12, 1.0 - 1e-12];
        let s = ChannelStats::fit(&x, 1).unwrap();
        // |x - mean| = 1e-12 up to the rounding of 1 ± 1e-12 (ulp 2.2e-16).
        assert!((s.std[0] - 1e-12).abs() < 1e-15, "{}", s.std[0]);
        s.standardize(&mut x).unwrap();
        for (v, want) in x.iter().zip([1.0, -1.0, 1.0, -1.0]) {
            // Relative error of (x - mean)/std: about 2.2e-16 / 1e-12.
            assert!((v - want).abs() < 1e-3, "{v}");
        }
        let mut y: [f64; 4] = [3.0, 1.0 + 1e-12, 5.0, 1.0];
        normalize_samples(&mut y, 2).unwrap();
        assert!((y[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert!((y[3] + std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
    }

    #[test]
    fn normalize_gives_centred_unit_vectors() {
        let mut x = [1.0f32, 2.0, 3.0, -4.0, 0.0, 4.0];
        normalize_samples(&mut x, 3).unwrap();
        for s in x.chunks(3) {
            let m: f32 = s.iter().sum();
            let n: f32 = s.iter().map(|v| v * v).sum();
            assert!(m.abs() < 1e-6 && (n - 1.0).abs() < 1e-6);
        }
        assert!(matches!(
            normalize_samples(&mut [2.0, 2.0], 2),
            Err(DataError::InvalidParameter { what: "sample", .. })
        ));
    }

    /// Oracle independent of the eigendecomposition: `W` must be symmetric
    /// and satisfy `W (C + λI) W = I`, where `C` and `λ` are formed
    /// directly from the data.
    #[test]
    fn zca_inverts_the_regularised_covariance() {
        let (n, d) = (7, 4);
        let data: Vec<f32> = (0..n * d)
            .map(|k| (k as f32 * 0.37).sin() * 3.0 + (k % 3) as f32)
            .collect();
        let zca = Zca::fit(&data, d, 0.1).unwrap();
        let mut c = [[0f64; 4]; 4];
        for row in data.chunks(d) {
            for i in 0..d {
                for j in 0..d {
                    c[i][j] += f64::from(row[i]) * f64::from(row[j]) / n as f64;
                }
            }
        }
        let lambda = 0.1 * (0..d).map(|i| c[i][i]).sum::<f64>() / d as f64;
        assert!((zca.lambda - lambda).abs() <= 1e-14 * lambda);
        let w = &zca.matrix;
        for i in 0..d {
            for j in 0..d {
                assert!((w[(i, j)] - w[(j, i)]).abs() < 1e-12);
                let mut v = 0.0;
                for a in 0..d {
                    for b in 0..d {
                        let cab = c[a][b] + if a == b { lambda } else { 0.0 };
                        v += w[(i, a)] * cab * w[(b, j)];
                    }
                }
                let want = if i == j { 1.0 } else { 0.0 };
                // κ(C + λI) ≤ 1 + 1/0.1·d here, so 1e-12 leaves ample room
                // above f64 rounding of a 4×4 product.
                assert!((v - want).abs() < 1e-12, "({i},{j}): {v}");
            }
        }
        // Whitened training data has second moment C(C + λI)^{-1}: its
        // trace is < d.
        let mut white = data.clone();
        zca.apply(&mut white).unwrap();
        let t: f64 = white.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n as f64;
        assert!(t < d as f64 && t > 0.5);
        assert!(matches!(
            Zca::fit(&data, d, -1.0),
            Err(DataError::InvalidParameter {
                what: "zca regularisation",
                ..
            })
        ));
        assert!(matches!(
            Zca::fit(&data, 3, 0.1),
            Err(DataError::Shape { .. })
        ));
        assert!(matches!(
            zca.apply(&mut [1.0; 3]),
            Err(DataError::Shape { .. })
        ));
    }
}
