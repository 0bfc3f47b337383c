//! Architecture strings in neural-tangents' stax vocabulary:
//! comma-separated layers, each `Name` or `Name(arg, key=value, …)`, with
//! stax's parameter names, positional order and defaults.
//!
//! ```text
//! Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5)
//! Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414), Relu, GlobalAvgPool, Dense
//! Dense, ElementwiseNumerical(fn=tanh, deg=25), Dense
//! Dense, FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, Relu, Dense
//! Myrtle5
//! WideResnet(block_size=1, k=1, num_classes=10)
//! ```
//!
//! Branching networks use stax's combinators: `serial(…)` groups layers
//! (it flattens into the list around it), `parallel(b₁, …, bₙ)` after a
//! `FanOut(n)` walks branch `i` on copy `i`, and `FanInSum` or
//! `FanInConcat` joins the branches. A `stax.` prefix is accepted, so a
//! Python expression pasted as is parses.
//!
//! Values: numbers, `None`, `True`/`False`, tuples `(3, 3)`, lists
//! `[0.5, -1.0]`, bare words or quoted strings for enumerations and
//! function names. Width arguments (`out_dim`, `out_chan`) are accepted and
//! ignored — kernels of infinitely wide layers do not depend on them.
//! [`Architecture`]'s `Display` writes this syntax back, so
//! `parse(arch.to_string())` rebuilds `arch`.

mod args;

pub(crate) use args::{Args, Value, describe, fmt_opt, fmt_padding, parse_err};

use crate::layers::{activation, branch, conv, dense, flatten, layer_norm, pool};

use crate::arch::Architecture;
use crate::error::{FeatureError, Result};
use crate::layers::Layer;
use crate::shape::Shape;
use args::{Arg, Item, Parser};
use dual_activations::Activation;
use std::fmt;

/// A parsed architecture string: either explicit layers or a preset whose
/// layers depend on the input size (Myrtle's pooling count, WideResnet's
/// final pool).
#[derive(Debug, Clone)]
pub enum ArchSpec {
    /// A validated network.
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
    /// `WideResnet(block_size, k, num_classes)` of neural-tangents' README
    /// ([`Architecture::wide_resnet`]).
    WideResnet {
        /// Blocks per group.
        block_size: usize,
        /// Width factor (widths are infinite: accepted for stax's syntax).
        k: f64,
        /// Weight standard deviation of the convolutions (default 1, stax's).
        w_std: f64,
        /// Bias standard deviation of the convolutions (default `None`).
        b_std: Option<f64>,
    },
}

impl ArchSpec {
    /// Parses an architecture string.
    ///
    /// # Errors
    /// [`FeatureError::Parse`] naming the column and what was expected;
    /// [`FeatureError::Branching`] naming the column of a combinator whose
    /// branches do not fit together;
    /// [`FeatureError::InvalidArchitecture`] / [`FeatureError::Activation`]
    /// for values that parse but are invalid (`W_std < 0`, …).
    pub fn parse(text: &str) -> Result<Self> {
        let items = Parser::new(text).architecture()?;
        if let [Item::Layer(name, args, col)] = items.as_slice()
            && let Some(preset) = preset(name, args, *col)?
        {
            return Ok(preset);
        }
        let mut columns = Vec::new();
        let layers = list(&items, &mut columns)?;
        Architecture::with_columns(layers, columns).map(Self::Layers)
    }

    /// The architecture for inputs of shape `input` (presets are sized to
    /// it; explicit layers are checked against it).
    ///
    /// # Errors
    /// [`FeatureError::ShapeMismatch`] when the network does not fit.
    pub fn build(&self, input: Shape) -> Result<Architecture> {
        let square = |what: [&'static str; 2]| -> Result<usize> {
            let reason = match input {
                Shape::Image { h, w, .. } if h == w => return Ok(h),
                Shape::Image { .. } => what[1],
                Shape::Vector { .. } => what[0],
            };
            Err(FeatureError::ShapeMismatch {
                layer: 0,
                name: "Conv",
                input: input.to_string(),
                reason,
            })
        };
        let arch = match self {
            Self::Layers(a) => a.clone(),
            &Self::Myrtle {
                depth,
                w_std,
                b_std,
            } => Architecture::myrtle(
                depth,
                square([
                    "Myrtle networks need image inputs (n, H, W, C)",
                    "Myrtle presets need square images",
                ])?,
                w_std,
                b_std,
                Activation::Relu,
            )?,
            &Self::WideResnet {
                block_size,
                w_std,
                b_std,
                ..
            } => Architecture::wide_resnet(
                block_size,
                square([
                    "WideResnet needs image inputs (n, H, W, C)",
                    "WideResnet needs square images",
                ])?,
                w_std,
                b_std,
            )?,
        };
        arch.shapes(input)?;
        Ok(arch)
    }
}

/// A preset standing alone (`Myrtle5`, `WideResnet(…)`), or `None` for
/// a layer.
fn preset(name: &str, args: &[Arg], col: usize) -> Result<Option<ArchSpec>> {
    if let Some(depth) = name.strip_prefix("Myrtle") {
        let depth = match depth {
            "5" => 5,
            "7" => 7,
            "10" => 10,
            _ => return Err(parse_err(col, "Myrtle5, Myrtle7 or Myrtle10", name)),
        };
        let mut a = Args::bind(name, args, col, &["W_std", "b_std"])?;
        let w_std = a.num("W_std", Some(std::f64::consts::SQRT_2))?;
        let b_std = a.opt_num("b_std")?;
        return Ok(Some(ArchSpec::Myrtle {
            depth,
            w_std,
            b_std,
        }));
    }
    if name == "WideResnet" {
        let mut a = Args::bind(
            name,
            args,
            col,
            &["block_size", "k", "num_classes", "W_std", "b_std"],
        )?;
        let block_size = a.num("block_size", None)?;
        let k = a.num("k", Some(1.0))?;
        a.take("num_classes");
        let w_std = a.num("W_std", Some(1.0))?;
        let b_std = a.opt_num("b_std")?;
        if block_size.fract() != 0.0 || !(1.0..=1024.0).contains(&block_size) {
            return Err(parse_err(
                col,
                "WideResnet(block_size) with a whole block_size from 1 to 1024",
                format!("{block_size}"),
            ));
        }
        if k.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(parse_err(col, "WideResnet(k) with k > 0", format!("{k}")));
        }
        return Ok(Some(ArchSpec::WideResnet {
            block_size: block_size as usize,
            k,
            w_std,
            b_std,
        }));
    }
    Ok(None)
}

/// The layers of a list of items, `serial` groups flattened; `columns`
/// receives every layer's column in index order (depth-first).
fn list(items: &[Item], columns: &mut Vec<usize>) -> Result<Vec<Layer>> {
    let mut layers = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Layer(name, args, col) => {
                if name.starts_with("Myrtle") || name == "WideResnet" {
                    return Err(parse_err(*col, "a layer (presets stand alone)", name));
                }
                columns.push(*col);
                layers.push(layer(name, args, *col)?);
            }
            Item::Group {
                parallel: false,
                items,
                ..
            } => layers.extend(list(items, columns)?),
            Item::Group {
                parallel: true,
                items,
                col,
            } => {
                if items.is_empty() {
                    return Err(parse_err(
                        *col,
                        "parallel with at least one branch",
                        "parallel()",
                    ));
                }
                columns.push(*col);
                let branches = items
                    .iter()
                    .map(|b| list(std::slice::from_ref(b), columns))
                    .collect::<Result<Vec<_>>>()?;
                layers.push(Layer::Parallel(branches));
            }
        }
    }
    Ok(layers)
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
        "GlobalAvgPool" => pool::parse_global(&mut bind(pool::GLOBAL_ARGS)?, false),
        "SumPool" => pool::parse_sum(&mut bind(pool::SUM_ARGS)?),
        "GlobalSumPool" => pool::parse_global(&mut bind(pool::GLOBAL_ARGS)?, true),
        "Identity" => bind(branch::NO_ARGS).map(|_| Layer::Identity),
        "FanOut" => branch::parse_fan_out(&mut bind(branch::FAN_OUT_ARGS)?),
        "FanInSum" => bind(branch::NO_ARGS).map(|_| Layer::FanInSum),
        "FanInConcat" => branch::parse_concat(&mut bind(branch::CONCAT_ARGS)?),
        "Flatten" => flatten::parse(&mut bind(flatten::ARGS)?),
        "LayerNorm" => layer_norm::parse(&mut bind(layer_norm::ARGS)?),
        _ => match activation::parse(name, col, &bind)? {
            Some(layer) => Ok(layer),
            None => Err(parse_err(
                col,
                "a stax layer (Dense, Conv, AvgPool, SumPool, GlobalAvgPool, GlobalSumPool, Flatten, LayerNorm, an activation, Identity, FanOut, FanInSum, FanInConcat), a group (serial, parallel) or a preset (Myrtle5, Myrtle7, Myrtle10, WideResnet)",
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
            }
            | Self::SumPool {
                window,
                strides,
                padding,
            } => pool::fmt_window(f, self.stax_name(), *window, *strides, *padding),
            Self::GlobalAvgPool
            | Self::GlobalSumPool
            | Self::Flatten
            | Self::LayerNorm
            | Self::Identity
            | Self::FanInSum
            | Self::FanInConcat => f.write_str(self.stax_name()),
            Self::FanOut(n) => write!(f, "FanOut({n})"),
            Self::Parallel(branches) => branch::fmt_parallel(f, branches),
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
        branch::fmt_list(f, self.layers())
    }
}
