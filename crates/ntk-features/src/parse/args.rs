//! The pieces of the architecture language below the layers: the tokenizer
//! ([`Parser`]), argument values ([`Value`]), arguments bound to a layer's
//! stax parameter names with their defaults ([`Args`]), the column-precise
//! error, and the formatting of values that `Display` writes back.

use crate::error::{FeatureError, Result};
use crate::layers::Padding;

pub(crate) fn parse_err(
    column: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> FeatureError {
    FeatureError::Parse {
        column,
        expected: expected.into(),
        found: found.into(),
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Num(f64),
    Word(String),
    Seq(Vec<(Value, usize)>),
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Num(x) => format!("number {x}"),
        Value::Word(w) => format!("'{w}'"),
        Value::Seq(_) => "a tuple or list".into(),
    }
}

/// One item of an architecture string: a layer with its arguments and
/// column, or a `serial(…)`/`parallel(…)` group.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Layer(String, Vec<Arg>, usize),
    Group {
        parallel: bool,
        items: Vec<Item>,
        col: usize,
    },
}

/// `(keyword, value, column of the argument, column of the value)`.
pub(crate) type Arg = (Option<String>, Value, usize, usize);

/// Deepest nesting of tuples and lists accepted (stax arguments nest two
/// levels at most); deeper input is an error, never a stack overflow.
const MAX_NESTING: usize = 16;

pub(crate) struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }
    pub(crate) fn col(&self) -> usize {
        self.pos + 1
    }
    pub(crate) fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }
    pub(crate) fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }
    pub(crate) fn found(&mut self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(c) => format!("'{c}'"),
        }
    }
    pub(crate) fn ident(&mut self) -> Option<String> {
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

    /// The whole string: layers and groups separated by commas.
    pub(crate) fn architecture(mut self) -> Result<Vec<Item>> {
        let items = self.items(None)?;
        match self.peek() {
            None => Ok(items),
            Some(_) => {
                let found = self.found();
                Err(parse_err(self.col(), "',' between layers", found))
            }
        }
    }

    /// Items up to the end of input (`close = None`) or up to and including
    /// the `)` of a group opened at column `close`.
    fn items(&mut self, close: Option<usize>) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        loop {
            if close.is_some() && self.peek() == Some(')') {
                self.pos += 1;
                return Ok(out);
            }
            let col = {
                self.skip_ws();
                self.col()
            };
            let Some(name) = self.ident() else {
                let found = self.found();
                return Err(parse_err(col, "a layer name", found));
            };
            // Python's spelling pasted as is: `stax.Dense(…)`.
            let name = name.strip_prefix("stax.").unwrap_or(&name).to_owned();
            let group = matches!(name.as_str(), "serial" | "parallel");
            let item = if group {
                if self.peek() != Some('(') {
                    let found = self.found();
                    return Err(parse_err(self.col(), format!("'(' after {name}"), found));
                }
                if self.depth >= MAX_NESTING {
                    return Err(parse_err(
                        col,
                        format!("at most {MAX_NESTING} nested groups"),
                        name,
                    ));
                }
                self.pos += 1;
                self.depth += 1;
                let items = self.items(Some(col))?;
                self.depth -= 1;
                Item::Group {
                    parallel: name == "parallel",
                    items,
                    col,
                }
            } else {
                let args = if self.peek() == Some('(') {
                    self.pos += 1;
                    self.args()?
                } else {
                    Vec::new()
                };
                Item::Layer(name, args, col)
            };
            out.push(item);
            match (self.peek(), close) {
                (None, None) => return Ok(out),
                (None, Some(open)) => {
                    return Err(parse_err(
                        self.col(),
                        format!("')' closing the group at column {open}"),
                        "end of input",
                    ));
                }
                (Some(','), _) => {
                    self.pos += 1;
                    if close.is_none() && self.peek().is_none() {
                        return Ok(out);
                    }
                }
                (Some(')'), Some(_)) => {}
                (Some(_), None) => return Ok(out),
                (Some(_), Some(_)) => {
                    let found = self.found();
                    return Err(parse_err(self.col(), "',' or ')'", found));
                }
            }
        }
    }

    pub(crate) fn args(&mut self) -> Result<Vec<Arg>> {
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

    pub(crate) fn value(&mut self) -> Result<Value> {
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
pub(crate) struct Args<'a> {
    layer: &'a str,
    col: usize,
    pub(crate) values: Vec<(&'static str, Value, usize)>,
}

impl<'a> Args<'a> {
    pub(crate) fn bind(
        layer: &'a str,
        args: &[Arg],
        col: usize,
        names: &[&'static str],
    ) -> Result<Self> {
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

    /// The column of the layer's name.
    pub(crate) fn col(&self) -> usize {
        self.col
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<(Value, usize)> {
        let i = self.values.iter().position(|(n, ..)| *n == key)?;
        let (_, v, c) = self.values.remove(i);
        Some((v, c))
    }

    pub(crate) fn num(&mut self, key: &str, default: Option<f64>) -> Result<f64> {
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

    pub(crate) fn opt_num(&mut self, key: &str) -> Result<Option<f64>> {
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

    pub(crate) fn int(&mut self, key: &str, default: Option<usize>) -> Result<usize> {
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

    pub(crate) fn boolean(&mut self, key: &str, default: bool) -> Result<bool> {
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

    pub(crate) fn word(&mut self, key: &str) -> Result<Option<(String, usize)>> {
        match self.take(key) {
            None => Ok(None),
            Some((Value::Word(w), c)) => Ok(Some((w, c))),
            Some((v, c)) => Err(parse_err(c, format!("a name for {key}"), describe(&v))),
        }
    }

    /// A pair of positive integers: `(a, b)`, `[a, b]`, or `None` → default.
    pub(crate) fn pair(
        &mut self,
        key: &str,
        default: Option<(usize, usize)>,
    ) -> Result<(usize, usize)> {
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

    pub(crate) fn padding(&mut self) -> Result<Padding> {
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
    pub(crate) fn only(&mut self, key: &str, allowed: &[&str]) -> Result<()> {
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

pub(crate) fn fmt_opt(b: Option<f64>) -> String {
    b.map_or_else(|| "None".into(), |x| format!("{x:?}"))
}

pub(crate) fn fmt_padding(p: Padding) -> &'static str {
    match p {
        Padding::Same => "SAME",
        Padding::Valid => "VALID",
        Padding::Circular => "CIRCULAR",
    }
}
