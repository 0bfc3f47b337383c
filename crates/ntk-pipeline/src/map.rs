//! A feature map in either precision ([`AnyMap`]), and blocks of features
//! in either precision ([`Block`], [`BlockMut`]), so that callers choose
//! the precision at run time without writing generic code.

use crate::error::Result;
use crate::spec::{FeatureSpec, Precision};
use faer::{MatMut, MatRef};
use ntk_features::{Architecture, FeatureConfig, FeatureMap, Real, Shape};

/// The precisions of features: `f32` and `f64` (sealed).
pub trait Scalar: Real + ntk_solve::Element + sealed::Sealed {
    /// Which one this is.
    const PRECISION: Precision;
    /// A block of this precision as a [`Block`].
    fn block(z: MatRef<'_, Self>) -> Block<'_>;
    /// A mutable block of this precision as a [`BlockMut`].
    fn block_mut(z: MatMut<'_, Self>) -> BlockMut<'_>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Scalar for f32 {
    const PRECISION: Precision = Precision::F32;
    fn block(z: MatRef<'_, Self>) -> Block<'_> {
        Block::F32(z)
    }
    fn block_mut(z: MatMut<'_, Self>) -> BlockMut<'_> {
        BlockMut::F32(z)
    }
}

impl Scalar for f64 {
    const PRECISION: Precision = Precision::F64;
    fn block(z: MatRef<'_, Self>) -> Block<'_> {
        Block::F64(z)
    }
    fn block_mut(z: MatMut<'_, Self>) -> BlockMut<'_> {
        BlockMut::F64(z)
    }
}

/// Features `(D′, len)` of a block of samples, one sample per column.
#[derive(Debug, Clone, Copy)]
pub enum Block<'a> {
    /// `f32` features.
    F32(MatRef<'a, f32>),
    /// `f64` features.
    F64(MatRef<'a, f64>),
}

impl Block<'_> {
    /// `D′`.
    pub fn nrows(&self) -> usize {
        match self {
            Self::F32(z) => z.nrows(),
            Self::F64(z) => z.nrows(),
        }
    }
    /// Samples in the block.
    pub fn ncols(&self) -> usize {
        match self {
            Self::F32(z) => z.ncols(),
            Self::F64(z) => z.ncols(),
        }
    }
    /// The block's precision.
    pub fn precision(&self) -> Precision {
        match self {
            Self::F32(_) => Precision::F32,
            Self::F64(_) => Precision::F64,
        }
    }
}

/// A block of features to fill (a [`Cache`](crate::Cache) loading one).
#[derive(Debug)]
pub enum BlockMut<'a> {
    /// `f32` features.
    F32(MatMut<'a, f32>),
    /// `f64` features.
    F64(MatMut<'a, f64>),
}

/// A feature map in the precision a [`FeatureSpec`] asks for.
#[derive(Debug)]
pub enum AnyMap {
    /// `f32` features.
    F32(FeatureMap<f32>),
    /// `f64` features.
    F64(FeatureMap<f64>),
}

impl AnyMap {
    /// The map `spec` describes, of `arch` on samples of `shape`.
    ///
    /// # Errors
    /// As [`FeatureMap::new`].
    pub fn new(arch: &Architecture, shape: Shape, spec: &FeatureSpec) -> Result<Self> {
        Ok(match spec.dtype {
            Precision::F32 => Self::F32(FeatureMap::new(arch, shape, &spec.config)?),
            Precision::F64 => Self::F64(FeatureMap::new(arch, shape, &spec.config)?),
        })
    }
    /// Output dimension `D′`.
    pub fn dim(&self) -> usize {
        match self {
            Self::F32(m) => m.dim(),
            Self::F64(m) => m.dim(),
        }
    }
    /// Truncation degree of each activation layer.
    pub fn degrees(&self) -> Vec<usize> {
        match self {
            Self::F32(m) => m.degrees(),
            Self::F64(m) => m.degrees(),
        }
    }
    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        match self {
            Self::F32(m) => m.sample_len(),
            Self::F64(m) => m.sample_len(),
        }
    }
    /// The sample shape the map was made for.
    pub fn input_shape(&self) -> Shape {
        match self {
            Self::F32(m) => m.input_shape(),
            Self::F64(m) => m.input_shape(),
        }
    }
    /// The options it was built with (the kernel it approximates among them).
    pub fn config(&self) -> &FeatureConfig {
        match self {
            Self::F32(m) => m.config(),
            Self::F64(m) => m.config(),
        }
    }
    /// The precision of its features.
    pub fn precision(&self) -> Precision {
        match self {
            Self::F32(_) => Precision::F32,
            Self::F64(_) => Precision::F64,
        }
    }
}
