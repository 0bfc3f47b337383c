//! Architecture strings in neural-tangents' stax vocabulary:
//! comma-separated layers, each `Name` or `Name(arg, key=value, …)`, with
//! stax's parameter names, positional order and defaults.
//!
//! ```text
//! Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5)
//! Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414), Relu, GlobalAvgPool, Dense
//! Dense, ElementwiseNumerical(fn=tanh, deg=25), Dense
//! Myrtle5
//! ```
//!
//! Values: numbers, `None`, `True`/`False`, tuples `(3, 3)`, lists
//! `[0.5, -1.0]`, bare words or quoted strings for enumerations and
//! function names. Width arguments (`out_dim`, `out_chan`) are accepted and
//! ignored — kernels of infinitely wide layers do not depend on them.
//! [`Architecture`]'s `Display` writes this syntax back, so
//! `parse(arch.to_string())` rebuilds `arch`.

mod args;

pub(crate) use args::{Args, Value, describe, fmt_opt, fmt_padding, parse_err};

use crate::layers::{activation, conv, dense, flatten, layer_norm, pool};

use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::layers::Layer;
use crate::shape::Shape;
use args::{Arg, Parser};
use dual_activations::Activation;
use std::fmt;

/// A parsed architecture string: either explicit layers or a preset whose
/// layers depend on the input size (Myrtle's pooling count).
#[derive(Debug, Clone)]
pub enum ArchSpec {
    /// A validated list of layers.
    Layers(Architecture),
    /// `Myrtle5`, `Myrtle7` or `Myrtle10` with its options.
    Myrtle {
        /// 5, 7 or 10.
        depth: usize,
        /// Weight standard deviation (default `√2`, as the neural-tangents notebook).
        w_std: f64,
        /// Bias standard deviation (default `None`).
        b_std: Option<f64>,
    },
}

impl ArchSpec {
    /// Parses an architecture string.
    ///
    /// # Errors
    /// [`FeatureError::Parse`] naming the column and what was expected;
    /// [`FeatureError::InvalidArchitecture`] / [`FeatureError::Activation`]
    /// for values that parse but are invalid (`W_std < 0`, …).
    pub fn parse(text: &str) -> Result<Self> {
        let items = Parser::new(text).architecture()?;
        if let [(name, args, col)] = items.as_slice()
            && let Some(depth) = name.strip_prefix("Myrtle")
        {
            let depth = match depth {
                "5" => 5,
                "7" => 7,
                "10" => 10,
                _ => return Err(parse_err(*col, "Myrtle5, Myrtle7 or Myrtle10", name)),
            };
            let mut a = Args::bind(name, args, *col, &["W_std", "b_std"])?;
            let w_std = a.num("W_std", Some(std::f64::consts::SQRT_2))?;
            let b_std = a.opt_num("b_std")?;
            return Ok(Self::Myrtle {
                depth,
                w_std,
                b_std,
            });
        }
        let mut layers = Vec::with_capacity(items.len());
        for (name, args, col) in &items {
            if name.starts_with("Myrtle") {
                return Err(parse_err(*col, "a layer (presets stand alone)", name));
            }
            layers.push(layer(name, args, *col)?);
        }
        Architecture::new(layers).map(Self::Layers)
    }

    /// The architecture for inputs of shape `input` (presets are sized to
    /// it; explicit layers are checked against it).
    ///
    /// # Errors
    /// [`FeatureError::ShapeMismatch`] when the network does not fit.
    pub fn build(&self, input: Shape) -> Result<Architecture> {
        let arch = match self {
            Self::Layers(a) => a.clone(),
            &Self::Myrtle {
                depth,
                w_std,
                b_std,
            } => {
                let Shape::Image { h, w, .. } = input else {
                    return Err(FeatureError::ShapeMismatch {
                        layer: 0,
                        name: "Conv",
                        input: input.to_string(),
                        reason: "Myrtle networks need image inputs (n, H, W, C)",
                    });
                };
                if h != w {
                    return Err(FeatureError::ShapeMismatch {
                        layer: 0,
                        name: "Conv",
                        input: input.to_string(),
                        reason: "Myrtle presets need square images",
                    });
                }
                Architecture::myrtle(depth, h, w_std, b_std, Activation::Relu)?
            }
        };
        arch.shapes(input)?;
        Ok(arch)
    }
}

impl std::str::FromStr for ArchSpec {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// One layer from its name and arguments: the layer's own file
/// (`crate::layers`) knows its parameters and defaults.
fn layer(name: &str, args: &[Arg], col: usize) -> Result<Layer> {
    let bind = |names: &[&'static str]| Args::bind(name, args, col, names);
    match name {
        "Dense" => dense::parse(&mut bind(dense::ARGS)?),
        "Conv" => conv::parse(&mut bind(conv::ARGS)?),
        "AvgPool" => pool::parse_avg(&mut bind(pool::AVG_ARGS)?),
        "GlobalAvgPool" => pool::parse_global(&mut bind(pool::GLOBAL_ARGS)?),
        "Flatten" => flatten::parse(&mut bind(flatten::ARGS)?),
        "LayerNorm" => layer_norm::parse(&mut bind(layer_norm::ARGS)?),
        _ => match activation::parse(name, col, &bind)? {
            Some(layer) => Ok(layer),
            None => Err(parse_err(
                col,
                "a stax layer (Dense, Conv, AvgPool, GlobalAvgPool, Flatten, LayerNorm, an activation) or a preset (Myrtle5, Myrtle7, Myrtle10)",
                format!("'{name}'"),
            )),
        },
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dense { w_std, b_std } => dense::fmt(f, *w_std, *b_std),
            Self::Conv {
                filter,
                strides,
                padding,
                w_std,
                b_std,
            } => conv::fmt(f, *filter, *strides, *padding, *w_std, *b_std),
            Self::AvgPool {
                window,
                strides,
                padding,
            } => pool::fmt_avg(f, *window, *strides, *padding),
            Self::GlobalAvgPool | Self::Flatten | Self::LayerNorm => f.write_str(self.stax_name()),
            Self::Activation(a) => activation::fmt(a, f),
        }
    }
}

/// The canonical architecture string: every parameter named, numbers in
/// their shortest round-trip form. [`ArchSpec::parse`] of it gives back the
/// same layers (tested value by value), for every architecture whose
/// numerical activations use functions of `dual_activations::registry`; a
/// user closure prints its own name, which the parser does not know (it
/// then names the registry's functions in its error).
impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.layers().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{l}")?;
        }
        Ok(())
    }
}
