//! The combinators of branching networks, with stax's names and
//! semantics: `Identity()`, `FanOut(num)`, `parallel(b₁, …, bₙ)`,
//! `FanInSum()` and `FanInConcat(axis=-1)` (`serial(…)` is only grouping:
//! it flattens into the list around it).
//!
//! Kernels (neural-tangents' `stax.branching`): `FanOut(n)` copies the
//! state `n` times; `parallel` walks branch `i` on copy `i`; `FanInSum`
//! adds the inputs' NNGP and NTK (independent mean-zero Gaussian branches:
//! the covariance of a sum is the sum of covariances, and stax refuses
//! non-Gaussian inputs); `FanInConcat` along channels averages them
//! (stax weights each input by its width, equal here since widths are
//! infinite). The plan turns them into copies into and out of slots and a
//! combination of slots (`plan::Op::{Store, Load, Combine}`), which every
//! backend applies to its own state.

use super::Layer;
use crate::error::{FeatureError, Result};
use crate::parse::{Args, Value, parse_err};
use std::fmt;

/// `FanOut`'s parameter names.
pub(crate) const FAN_OUT_ARGS: &[&str] = &["num"];
/// `FanInConcat`'s parameter names.
pub(crate) const CONCAT_ARGS: &[&str] = &["axis"];
/// `Identity`'s and `FanInSum`'s (none).
pub(crate) const NO_ARGS: &[&str] = &[];

/// The largest fan-out accepted: far beyond any network, small enough that
/// a typo (`FanOut(1e9)`) is an error rather than a billion copies.
pub(crate) const MAX_FAN_OUT: usize = 1024;

/// `FanOut(num)` from its bound arguments.
pub(crate) fn parse_fan_out(a: &mut Args<'_>) -> Result<Layer> {
    let (v, col) = a
        .take("num")
        .ok_or_else(|| parse_err(a.col(), "FanOut(num)", "no num"))?;
    match v {
        Value::Num(x) if x.fract() == 0.0 && (1.0..=MAX_FAN_OUT as f64).contains(&x) => {
            Ok(Layer::FanOut(x as usize))
        }
        other => Err(parse_err(
            col,
            format!("a whole number of branches from 1 to {MAX_FAN_OUT}"),
            crate::parse::describe(&other),
        )),
    }
}

/// `FanInConcat(axis)`: the channel axis (`-1`) only.
pub(crate) fn parse_concat(a: &mut Args<'_>) -> Result<Layer> {
    a.only("axis", &["-1"])?;
    Ok(Layer::FanInConcat)
}

/// A branch's canonical string: one layer as itself, none or several as
/// `serial(…)`.
pub(crate) fn fmt_branch(f: &mut fmt::Formatter<'_>, layers: &[Layer]) -> fmt::Result {
    match layers {
        [] => f.write_str("serial()"),
        [one] => write!(f, "{one}"),
        many => {
            f.write_str("serial(")?;
            fmt_list(f, many)?;
            f.write_str(")")
        }
    }
}

/// Layers separated by `", "`.
pub(crate) fn fmt_list(f: &mut fmt::Formatter<'_>, layers: &[Layer]) -> fmt::Result {
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{l}")?;
    }
    Ok(())
}

/// `parallel(…)`'s canonical string.
pub(crate) fn fmt_parallel(f: &mut fmt::Formatter<'_>, branches: &[Vec<Layer>]) -> fmt::Result {
    f.write_str("parallel(")?;
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        fmt_branch(f, b)?;
    }
    f.write_str(")")
}

fn err(layer: usize, column: Option<usize>, name: &'static str, reason: String) -> FeatureError {
    FeatureError::Branching {
        column,
        layer,
        name,
        reason,
    }
}

/// `FanOut(n)` needs `1 ≤ n ≤` [`MAX_FAN_OUT`].
pub(crate) fn check_fan_out(layer: usize, column: Option<usize>, n: usize) -> Result<()> {
    if n == 0 || n > MAX_FAN_OUT {
        return Err(err(
            layer,
            column,
            "FanOut",
            format!("the number of copies must be from 1 to {MAX_FAN_OUT}, got {n}"),
        ));
    }
    Ok(())
}

/// A `parallel` needs exactly one branch per input.
pub(crate) fn check_parallel(
    layer: usize,
    column: Option<usize>,
    branches: usize,
    inputs: usize,
) -> Result<()> {
    if branches != inputs {
        return Err(err(
            layer,
            column,
            "parallel",
            format!(
                "{branches} branch(es) for {inputs} input(s): FanOut({branches}) before it gives one input per branch"
            ),
        ));
    }
    Ok(())
}

/// A `FanInSum` of more than one input needs Gaussian inputs (stax).
pub(crate) fn check_sum(layer: usize, column: Option<usize>, gaussian: &[bool]) -> Result<()> {
    if gaussian.len() > 1
        && let Some(i) = gaussian.iter().position(|g| !g)
    {
        return Err(err(
            layer,
            column,
            "FanInSum",
            format!(
                "input {} is not a mean-zero Gaussian (stax sums only those): end that branch with a Dense or Conv",
                i + 1
            ),
        ));
    }
    Ok(())
}

/// A fan-in or `parallel` with a single input.
pub(crate) fn needs_fan_out(
    layer: usize,
    column: Option<usize>,
    name: &'static str,
) -> FeatureError {
    err(
        layer,
        column,
        name,
        "it receives a single input: put a FanOut(n) (and a parallel of n branches) before it"
            .into(),
    )
}

/// A layer that takes one input receives the branches of a fan-out.
pub(crate) fn unjoined_at(
    layer: usize,
    column: Option<usize>,
    name: &'static str,
    inputs: usize,
) -> FeatureError {
    err(
        layer,
        column,
        name,
        format!(
            "it receives the {inputs} branches of a FanOut: join them first with FanInSum or FanInConcat (or act on them with parallel)"
        ),
    )
}

/// A branch of a `parallel` ends with several outputs.
pub(crate) fn unjoined(layer: usize, column: Option<usize>, name: &'static str) -> FeatureError {
    err(
        layer,
        column,
        name,
        "a branch ends with the outputs of a FanOut: join them inside the branch with FanInSum or FanInConcat".into(),
    )
}

/// The network ends with the branches of a fan-out.
pub(crate) fn unjoined_end(layer: usize, column: Option<usize>, open: usize) -> FeatureError {
    err(
        layer,
        column,
        "FanOut",
        format!(
            "the network ends with {open} unjoined branches: a FanOut needs its FanInSum or FanInConcat"
        ),
    )
}

/// Branch outputs of different shapes at a fan-in.
pub(crate) fn shape_mismatch(
    layer: usize,
    column: Option<usize>,
    name: &'static str,
    shapes: &[String],
) -> FeatureError {
    err(
        layer,
        column,
        name,
        format!(
            "its inputs disagree in shape ({}): every branch must keep the same spatial size (a strided shortcut for a strided branch)",
            shapes.join(", ")
        ),
    )
}
