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

use crate::arch::{Architecture, Layer, Padding, Shape};
use crate::error::{FeatureError, Result};
use dual_activations::{Activation, HermiteConvention, NumericalMethod};
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

fn parse_err(column: usize, expected: impl Into<String>, found: impl Into<String>) -> FeatureError {
    FeatureError::Parse {
        column,
        expected: expected.into(),
        found: found.into(),
    }
}

#[derive(Debug, Clone)]
enum Value {
    Num(f64),
    Word(String),
    Seq(Vec<(Value, usize)>),
}

fn describe(v: &Value) -> String {
    match v {
        Value::Num(x) => format!("number {x}"),
        Value::Word(w) => format!("'{w}'"),
        Value::Seq(_) => "a tuple or list".into(),
    }
}

/// `(keyword, value, column of the argument, column of the value)`.
type Arg = (Option<String>, Value, usize, usize);

/// Deepest nesting of tuples and lists accepted (stax arguments nest two
/// levels at most); deeper input is an error, never a stack overflow.
const MAX_NESTING: usize = 16;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }
    fn col(&self) -> usize {
        self.pos + 1
    }
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }
    fn found(&mut self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(c) => format!("'{c}'"),
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|&c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += 1;
        }
        (self.pos > start && !self.chars[start].is_ascii_digit())
            .then(|| self.chars[start..self.pos].iter().collect())
            .or_else(|| {
                self.pos = start;
                None
            })
    }

    fn architecture(mut self) -> Result<Vec<(String, Vec<Arg>, usize)>> {
        let mut out = Vec::new();
        loop {
            let col = {
                self.skip_ws();
                self.col()
            };
            let Some(name) = self.ident() else {
                let found = self.found();
                return Err(parse_err(col, "a layer name", found));
            };
            let args = if self.peek() == Some('(') {
                self.pos += 1;
                self.args()?
            } else {
                Vec::new()
            };
            out.push((name, args, col));
            match self.peek() {
                None => return Ok(out),
                Some(',') => {
                    self.pos += 1;
                    if self.peek().is_none() {
                        return Ok(out);
                    }
                }
                Some(_) => {
                    let found = self.found();
                    return Err(parse_err(self.col(), "',' between layers", found));
                }
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Arg>> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(')') {
                self.pos += 1;
                return Ok(out);
            }
            self.skip_ws();
            let col = self.col();
            let save = self.pos;
            let key = match self.ident() {
                Some(k) if self.peek() == Some('=') => {
                    self.pos += 1;
                    Some(k)
                }
                _ => {
                    self.pos = save;
                    None
                }
            };
            let vcol = {
                self.skip_ws();
                self.col()
            };
            let value = self.value()?;
            out.push((key, value, col, vcol));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {}
                _ => {
                    let found = self.found();
                    return Err(parse_err(self.col(), "',' or ')'", found));
                }
            }
        }
    }

    fn value(&mut self) -> Result<Value> {
        let col = self.col();
        match self.peek() {
            Some(open @ ('(' | '[')) => {
                let close = if open == '(' { ')' } else { ']' };
                if self.depth >= MAX_NESTING {
                    return Err(parse_err(
                        col,
                        format!("at most {MAX_NESTING} nested brackets"),
                        format!("'{open}'"),
                    ));
                }
                self.pos += 1;
                self.depth += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        self.depth -= 1;
                        return Ok(Value::Seq(items));
                    }
                    self.skip_ws();
                    let c = self.col();
                    items.push((self.value()?, c));
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(c) if c == close => {}
                        _ => {
                            let found = self.found();
                            return Err(parse_err(self.col(), format!("',' or '{close}'"), found));
                        }
                    }
                }
            }
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.chars.get(self.pos).is_some_and(|&c| c != q) {
                    self.pos += 1;
                }
                if self.pos >= self.chars.len() {
                    return Err(parse_err(col, "a closing quote", "end of input"));
                }
                let s: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                Ok(Value::Word(s))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = self.pos;
                while self.chars.get(self.pos).is_some_and(|&c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')
                }) {
                    self.pos += 1;
                }
                let s: String = self.chars[start..self.pos].iter().collect();
                s.replace('_', "")
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Value::Num)
                    .ok_or_else(|| parse_err(col, "a finite number", format!("'{s}'")))
            }
            _ => match self.ident() {
                Some(w) => Ok(Value::Word(w)),
                None => {
                    let found = self.found();
                    Err(parse_err(col, "a value", found))
                }
            },
        }
    }
}

/// Arguments of one layer bound to stax's parameter names.
struct Args<'a> {
    layer: &'a str,
    col: usize,
    values: Vec<(&'static str, Value, usize)>,
}

impl<'a> Args<'a> {
    fn bind(layer: &'a str, args: &[Arg], col: usize, names: &[&'static str]) -> Result<Self> {
        let mut values: Vec<(&'static str, Value, usize)> = Vec::new();
        let mut positional = 0;
        for (key, value, c, vc) in args {
            let name = match key {
                None => {
                    if values.len() > positional {
                        return Err(parse_err(
                            *c,
                            "a keyword argument after keyword arguments",
                            describe(value),
                        ));
                    }
                    let Some(&n) = names.get(positional) else {
                        return Err(parse_err(
                            *c,
                            format!("at most {} positional argument(s) for {layer}", names.len()),
                            describe(value),
                        ));
                    };
                    positional += 1;
                    n
                }
                Some(k) => *names.iter().find(|n| *n == k).ok_or_else(|| {
                    parse_err(
                        *c,
                        if names.is_empty() {
                            format!("no arguments for {layer}")
                        } else {
                            format!("one of {} for {layer}", names.join(", "))
                        },
                        format!("'{k}'"),
                    )
                })?,
            };
            if values.iter().any(|(n, ..)| *n == name) {
                return Err(parse_err(
                    *c,
                    format!("'{name}' once"),
                    format!("'{name}' again"),
                ));
            }
            values.push((name, value.clone(), *vc));
        }
        Ok(Self { layer, col, values })
    }

    fn take(&mut self, key: &str) -> Option<(Value, usize)> {
        let i = self.values.iter().position(|(n, ..)| *n == key)?;
        let (_, v, c) = self.values.remove(i);
        Some((v, c))
    }

    fn num(&mut self, key: &str, default: Option<f64>) -> Result<f64> {
        match self.take(key) {
            Some((Value::Num(x), _)) => Ok(x),
            Some((v, c)) => Err(parse_err(c, format!("a number for {key}"), describe(&v))),
            None => default.ok_or_else(|| {
                parse_err(
                    self.col,
                    format!("{}({key}=…): {key} is required", self.layer),
                    "no value",
                )
            }),
        }
    }

    fn opt_num(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some((Value::Word(w), _)) if w == "None" => Ok(None),
            Some((Value::Num(x), _)) => Ok(Some(x)),
            Some((v, c)) => Err(parse_err(
                c,
                format!("a number or None for {key}"),
                describe(&v),
            )),
        }
    }

    fn int(&mut self, key: &str, default: Option<usize>) -> Result<usize> {
        let d = default.map(|d| d as f64);
        let col = self
            .values
            .iter()
            .find(|(n, ..)| *n == key)
            .map_or(self.col, |v| v.2);
        let x = self.num(key, d)?;
        if x < 0.0 || x.fract() != 0.0 || x > 1e9 {
            return Err(parse_err(
                col,
                format!("a non-negative integer for {key}"),
                format!("{x}"),
            ));
        }
        Ok(x as usize)
    }

    fn boolean(&mut self, key: &str, default: bool) -> Result<bool> {
        match self.take(key) {
            None => Ok(default),
            Some((Value::Word(w), _)) if w == "True" || w == "true" => Ok(true),
            Some((Value::Word(w), _)) if w == "False" || w == "false" => Ok(false),
            Some((v, c)) => Err(parse_err(
                c,
                format!("True or False for {key}"),
                describe(&v),
            )),
        }
    }

    fn word(&mut self, key: &str) -> Result<Option<(String, usize)>> {
        match self.take(key) {
            None => Ok(None),
            Some((Value::Word(w), c)) => Ok(Some((w, c))),
            Some((v, c)) => Err(parse_err(c, format!("a name for {key}"), describe(&v))),
        }
    }

    /// A pair of positive integers: `(a, b)`, `[a, b]`, or `None` → default.
    fn pair(&mut self, key: &str, default: Option<(usize, usize)>) -> Result<(usize, usize)> {
        let bad = |c: usize, found: String| {
            parse_err(
                c,
                format!("a pair of positive integers (a, b) for {key}"),
                found,
            )
        };
        match self.take(key) {
            None => default.ok_or_else(|| {
                parse_err(
                    self.col,
                    format!("{}({key}=(a, b)): {key} is required", self.layer),
                    "no value",
                )
            }),
            Some((Value::Word(w), c)) if w == "None" => {
                default.ok_or_else(|| bad(c, "None".into()))
            }
            Some((Value::Seq(items), c)) => {
                let ints: Vec<usize> = items
                    .iter()
                    .map(|(v, ic)| match v {
                        Value::Num(x) if *x >= 1.0 && x.fract() == 0.0 && *x <= 1e9 => {
                            Ok(*x as usize)
                        }
                        other => Err(bad(*ic, describe(other))),
                    })
                    .collect::<Result<_>>()?;
                match ints.as_slice() {
                    [a, b] => Ok((*a, *b)),
                    _ => Err(bad(
                        c,
                        format!("{} entries (2-D layers need exactly 2)", ints.len()),
                    )),
                }
            }
            Some((v, c)) => Err(bad(c, describe(&v))),
        }
    }

    fn padding(&mut self) -> Result<Padding> {
        match self.word("padding")? {
            None => Ok(Padding::Valid),
            Some((w, c)) => match w.to_ascii_uppercase().as_str() {
                "SAME" => Ok(Padding::Same),
                "VALID" => Ok(Padding::Valid),
                "CIRCULAR" => Ok(Padding::Circular),
                _ => Err(parse_err(
                    c,
                    "padding SAME, VALID or CIRCULAR",
                    format!("'{w}'"),
                )),
            },
        }
    }

    /// Options kept for stax compatibility whose only supported value is
    /// the default.
    fn only(&mut self, key: &str, allowed: &[&str]) -> Result<()> {
        if let Some((v, c)) = self.take(key) {
            let text = match &v {
                Value::Num(x) => format!("{x}"),
                Value::Word(w) => w.clone(),
                Value::Seq(_) => String::new(),
            };
            if !allowed.contains(&text.as_str()) {
                return Err(parse_err(
                    c,
                    format!("{key} = {} (the only supported value)", allowed[0]),
                    describe(&v),
                ));
            }
        }
        Ok(())
    }
}

fn layer(name: &str, args: &[Arg], col: usize) -> Result<Layer> {
    let bind = |names: &[&'static str]| Args::bind(name, args, col, names);
    let act = |a: Activation| Ok(Layer::Activation(a));
    match name {
        "Dense" => {
            let mut a = bind(&[
                "out_dim",
                "W_std",
                "b_std",
                "batch_axis",
                "channel_axis",
                "parameterization",
            ])?;
            a.take("out_dim");
            a.only("batch_axis", &["0"])?;
            a.only("channel_axis", &["-1"])?;
            a.only("parameterization", &["ntk"])?;
            Ok(Layer::Dense {
                w_std: a.num("W_std", Some(1.0))?,
                b_std: a.opt_num("b_std")?,
            })
        }
        "Conv" => {
            let mut a = bind(&[
                "out_chan",
                "filter_shape",
                "strides",
                "padding",
                "W_std",
                "b_std",
                "dimension_numbers",
                "parameterization",
            ])?;
            a.take("out_chan");
            a.only("dimension_numbers", &["None", "NHWC"])?;
            a.only("parameterization", &["ntk"])?;
            Ok(Layer::Conv {
                filter: a.pair("filter_shape", None)?,
                strides: a.pair("strides", Some((1, 1)))?,
                padding: a.padding()?,
                w_std: a.num("W_std", Some(1.0))?,
                b_std: a.opt_num("b_std")?,
            })
        }
        "AvgPool" => {
            let mut a = bind(&[
                "window_shape",
                "strides",
                "padding",
                "normalize_edges",
                "batch_axis",
                "channel_axis",
            ])?;
            a.only("normalize_edges", &["False"])?;
            a.only("batch_axis", &["0"])?;
            a.only("channel_axis", &["-1"])?;
            Ok(Layer::AvgPool {
                window: a.pair("window_shape", None)?,
                strides: a.pair("strides", Some((1, 1)))?,
                padding: a.padding()?,
            })
        }
        "GlobalAvgPool" => {
            let mut a = bind(&["batch_axis", "channel_axis"])?;
            a.only("batch_axis", &["0"])?;
            a.only("channel_axis", &["-1"])?;
            Ok(Layer::GlobalAvgPool)
        }
        "Flatten" => {
            let mut a = bind(&["batch_axis", "batch_axis_out"])?;
            a.only("batch_axis", &["0"])?;
            a.only("batch_axis_out", &["0"])?;
            Ok(Layer::Flatten)
        }
        "LayerNorm" => {
            let mut a = bind(&["axis", "eps", "batch_axis", "channel_axis"])?;
            a.only("axis", &["-1"])?;
            a.only("eps", &["0.000000000001"])?;
            a.only("batch_axis", &["0"])?;
            a.only("channel_axis", &["-1"])?;
            Ok(Layer::LayerNorm)
        }
        "Identity" => bind(&[]).and_then(|_| act(Activation::Identity)),
        "Relu" => {
            let mut a = bind(&["do_stabilize"])?;
            a.boolean("do_stabilize", false)?;
            act(Activation::Relu)
        }
        "LeakyRelu" => {
            let mut a = bind(&["alpha", "do_stabilize"])?;
            a.boolean("do_stabilize", false)?;
            act(Activation::LeakyRelu {
                alpha: a.num("alpha", None)?,
            })
        }
        "ABRelu" => {
            let mut a = bind(&["a", "b", "do_stabilize"])?;
            a.boolean("do_stabilize", false)?;
            act(Activation::AbRelu {
                a: a.num("a", None)?,
                b: a.num("b", None)?,
            })
        }
        "Abs" => {
            let mut a = bind(&["do_stabilize"])?;
            a.boolean("do_stabilize", false)?;
            act(Activation::Abs)
        }
        "Sign" => bind(&[]).and_then(|_| act(Activation::Sign)),
        "Sigmoid_like" => bind(&[]).and_then(|_| act(Activation::SigmoidLike)),
        "Gabor" => bind(&[]).and_then(|_| act(Activation::Gabor)),
        "Gelu" => {
            let mut a = bind(&["approximate"])?;
            a.only("approximate", &["False"])?;
            act(Activation::Gelu)
        }
        "Erf" | "Sin" | "Cos" => {
            let mut a = bind(&["a", "b", "c"])?;
            let (x, y, z) = (
                a.num("a", Some(1.0))?,
                a.num("b", Some(1.0))?,
                a.num("c", Some(0.0))?,
            );
            act(match name {
                "Erf" => Activation::Erf { a: x, b: y, c: z },
                "Sin" => Activation::Sin { a: x, b: y, c: z },
                _ => Activation::Cos { a: x, b: y, c: z },
            })
        }
        "Rbf" => {
            let mut a = bind(&["gamma"])?;
            act(Activation::Rbf {
                gamma: a.num("gamma", Some(1.0))?,
            })
        }
        "Exp" => {
            let mut a = bind(&["a", "b"])?;
            act(Activation::Exp {
                a: a.num("a", Some(1.0))?,
                b: a.num("b", Some(1.0))?,
            })
        }
        "Gaussian" => {
            let mut a = bind(&["a", "b"])?;
            act(Activation::Gaussian {
                a: a.num("a", Some(1.0))?,
                b: a.num("b", Some(-1.0))?,
            })
        }
        "ExpNormalized" => {
            let mut a = bind(&["gamma", "shift", "do_clip"])?;
            act(Activation::ExpNormalized {
                gamma: a.num("gamma", Some(1.0))?,
                shift: a.num("shift", Some(-1.0))?,
                do_clip: a.boolean("do_clip", false)?,
            })
        }
        "Hermite" => {
            let mut a = bind(&["degree", "convention"])?;
            let degree = a.int("degree", None)?;
            // stax's `Hermite(degree)` is neural-tangents' unit-variance
            // formula; `convention=exact` (ours) the true expectation.
            let convention = match a.word("convention")? {
                None => HermiteConvention::NeuralTangents,
                Some((w, c)) => match w.as_str() {
                    "neural_tangents" => HermiteConvention::NeuralTangents,
                    "exact" => HermiteConvention::Exact,
                    _ => {
                        return Err(parse_err(
                            c,
                            "convention neural_tangents or exact",
                            format!("'{w}'"),
                        ));
                    }
                },
            };
            act(Activation::Hermite { degree, convention })
        }
        "Monomial" | "RectifiedMonomial" => {
            let mut a = bind(&["degree"])?;
            let degree = a.int("degree", None)?;
            act(if name == "Monomial" {
                Activation::Monomial { degree }
            } else {
                Activation::RectifiedMonomial { degree }
            })
        }
        "Polynomial" => {
            let mut a = bind(&["coef"])?;
            let coef = match a.take("coef") {
                Some((Value::Seq(items), _)) => items
                    .iter()
                    .map(|(v, c)| match v {
                        Value::Num(x) => Ok(*x),
                        other => Err(parse_err(*c, "a number in coef", describe(other))),
                    })
                    .collect::<Result<Vec<_>>>()?,
                Some((v, c)) => {
                    return Err(parse_err(
                        c,
                        "a list of coefficients [c0, c1, …]",
                        describe(&v),
                    ));
                }
                None => {
                    return Err(parse_err(
                        col,
                        "Polynomial(coef=[…]): coef is required",
                        "no value",
                    ));
                }
            };
            act(Activation::Polynomial { coef })
        }
        "ElementwiseNumerical" => {
            let mut a = bind(&["fn", "deg", "df", "method", "degree", "tol"])?;
            a.only("df", &["None"])?;
            let (fname, fcol) = a.word("fn")?.ok_or_else(|| {
                parse_err(
                    col,
                    "ElementwiseNumerical(fn=NAME, deg=N): fn is required",
                    "no value",
                )
            })?;
            let function = dual_activations::registry::by_name(&fname).map_err(|_| {
                parse_err(
                    fcol,
                    format!(
                        "a function name ({})",
                        dual_activations::registry::names()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("'{fname}'"),
                )
            })?;
            let method = match a.word("method")? {
                None => NumericalMethod::GaussHermite {
                    deg: a.int("deg", Some(25))?,
                },
                Some((m, mcol)) => match m.as_str() {
                    "gauss_hermite" => NumericalMethod::GaussHermite {
                        deg: a.int("deg", Some(25))?,
                    },
                    "hermite_series" => NumericalMethod::HermiteSeries {
                        degree: a.int("degree", Some(32))?,
                    },
                    "adaptive" => NumericalMethod::Adaptive {
                        abs_tol: a.num("tol", Some(1e-10))?,
                    },
                    _ => {
                        return Err(parse_err(
                            mcol,
                            "method gauss_hermite, hermite_series or adaptive",
                            format!("'{m}'"),
                        ));
                    }
                },
            };
            if let Some((key, _, c)) = a.values.first() {
                return Err(parse_err(
                    *c,
                    "only the arguments of the chosen method",
                    format!("'{key}'"),
                ));
            }
            act(Activation::Numerical { function, method })
        }
        _ => Err(parse_err(
            col,
            "a stax layer (Dense, Conv, AvgPool, GlobalAvgPool, Flatten, LayerNorm, an activation) or a preset (Myrtle5, Myrtle7, Myrtle10)",
            format!("'{name}'"),
        )),
    }
}

fn fmt_opt(b: Option<f64>) -> String {
    b.map_or_else(|| "None".into(), |x| format!("{x:?}"))
}

fn fmt_padding(p: Padding) -> &'static str {
    match p {
        Padding::Same => "SAME",
        Padding::Valid => "VALID",
        Padding::Circular => "CIRCULAR",
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dense { w_std, b_std } => {
                write!(f, "Dense(W_std={w_std:?}, b_std={})", fmt_opt(*b_std))
            }
            Self::Conv {
                filter,
                strides,
                padding,
                w_std,
                b_std,
            } => write!(
                f,
                "Conv(filter_shape=({}, {}), strides=({}, {}), padding={}, W_std={w_std:?}, b_std={})",
                filter.0,
                filter.1,
                strides.0,
                strides.1,
                fmt_padding(*padding),
                fmt_opt(*b_std)
            ),
            Self::AvgPool {
                window,
                strides,
                padding,
            } => write!(
                f,
                "AvgPool(window_shape=({}, {}), strides=({}, {}), padding={})",
                window.0,
                window.1,
                strides.0,
                strides.1,
                fmt_padding(*padding)
            ),
            Self::GlobalAvgPool | Self::Flatten | Self::LayerNorm => f.write_str(self.stax_name()),
            Self::Activation(a) => fmt_activation(a, f),
        }
    }
}

fn fmt_activation(act: &Activation, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match act {
        Activation::LeakyRelu { alpha } => write!(f, "LeakyRelu(alpha={alpha:?})"),
        Activation::AbRelu { a, b } => write!(f, "ABRelu(a={a:?}, b={b:?})"),
        Activation::Erf { a, b, c } | Activation::Sin { a, b, c } | Activation::Cos { a, b, c } => {
            write!(f, "{}(a={a:?}, b={b:?}, c={c:?})", act.stax_name())
        }
        Activation::Rbf { gamma } => write!(f, "Rbf(gamma={gamma:?})"),
        Activation::Exp { a, b } => write!(f, "Exp(a={a:?}, b={b:?})"),
        Activation::Gaussian { a, b } => write!(f, "Gaussian(a={a:?}, b={b:?})"),
        Activation::ExpNormalized {
            gamma,
            shift,
            do_clip,
        } => write!(
            f,
            "ExpNormalized(gamma={gamma:?}, shift={shift:?}, do_clip={})",
            if *do_clip { "True" } else { "False" }
        ),
        Activation::Hermite {
            degree,
            convention: HermiteConvention::NeuralTangents,
        } => write!(f, "Hermite(degree={degree})"),
        Activation::Hermite {
            degree,
            convention: HermiteConvention::Exact,
        } => write!(f, "Hermite(degree={degree}, convention=exact)"),
        Activation::Monomial { degree } => write!(f, "Monomial(degree={degree})"),
        Activation::RectifiedMonomial { degree } => write!(f, "RectifiedMonomial(degree={degree})"),
        Activation::Polynomial { coef } => {
            let c: Vec<String> = coef.iter().map(|x| format!("{x:?}")).collect();
            write!(f, "Polynomial(coef=[{}])", c.join(", "))
        }
        Activation::Numerical { function, method } => {
            let name = function.inner().name();
            match method {
                NumericalMethod::GaussHermite { deg } => {
                    write!(f, "ElementwiseNumerical(fn={name}, deg={deg})")
                }
                NumericalMethod::HermiteSeries { degree } => {
                    write!(
                        f,
                        "ElementwiseNumerical(fn={name}, method=hermite_series, degree={degree})"
                    )
                }
                NumericalMethod::Adaptive { abs_tol } => {
                    write!(
                        f,
                        "ElementwiseNumerical(fn={name}, method=adaptive, tol={abs_tol:?})"
                    )
                }
            }
        }
        other => f.write_str(other.stax_name()),
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
