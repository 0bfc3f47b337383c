//! Activations: every elementwise nonlinearity of stax (`Relu`, `Erf`,
//! `Gelu`, …, `ElementwiseNumerical`) with its syntax, the rule that an
//! activation needs a Gaussian input, and its kernel update `q' = K(q_x,
//! q_y, c)`, `Θ' = Θ·K̇` through its dual (`dual_activations`). What a
//! feature method does with an activation is the method's
//! (`features::methods`).

use super::Layer;
use crate::error::{FeatureError, Result};
use crate::parse::{Args, Value, describe, parse_err};
use crate::plan::PairScratch;
use dual_activations::{Activation, DualActivation, HermiteConvention, NumericalMethod};
use std::fmt;

/// The activation called `name` (at column `col`), its arguments bound by
/// `bind`; `Ok(None)` when `name` is not an activation.
pub(crate) fn parse<'a>(
    name: &'a str,
    col: usize,
    bind: &dyn Fn(&[&'static str]) -> Result<Args<'a>>,
) -> Result<Option<Layer>> {
    let act = |a: Activation| Ok(Some(Layer::Activation(a)));
    match name {
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
        _ => Ok(None),
    }
}

/// The canonical string of an activation.
pub(crate) fn fmt(act: &Activation, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// Compiles an activation's dual, refusing one whose input is not Gaussian
/// (stax requires a Dense or Conv before it, possibly followed by pooling
/// or Flatten).
pub(crate) fn compile(
    layer: usize,
    name: &'static str,
    a: &Activation,
    gaussian_input: bool,
) -> Result<DualActivation> {
    if !gaussian_input {
        return Err(super::invalid(
            layer,
            name,
            "an activation needs a Gaussian input: put a Dense or Conv before it",
        ));
    }
    DualActivation::new(a.clone()).map_err(|source| FeatureError::Activation { layer, source })
}

/// The kernel update of a batch of pair states whose points have variances
/// `qa`, `qb` entering the layer (`layer`: its index, for errors).
pub(crate) fn kernel(
    dual: &DualActivation,
    layer: usize,
    q: &mut [f64],
    t: &mut [f64],
    qa: &[f64],
    qb: &[f64],
    scratch: &mut PairScratch,
) -> Result<()> {
    let n = q.len();
    scratch.k.resize(n, 0.0);
    scratch.kd.resize(n, 0.0);
    dual.eval_many(qa, qb, q, &mut scratch.k, &mut scratch.kd)
        .map_err(|source| FeatureError::Activation { layer, source })?;
    q.copy_from_slice(&scratch.k);
    t.iter_mut().zip(&scratch.kd).for_each(|(ti, d)| *ti *= d);
    Ok(())
}
