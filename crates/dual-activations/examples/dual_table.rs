//! Prints a table of dual kernels `K` and `K̇` of every closed-form activation
//! of neural-tangents' stax at a few covariances, next to an independent
//! numerical evaluation (nested adaptive quadrature) of the same expectation.
//!
//! Run: `cargo run --release -p dual-activations --example dual_table [-- --json]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use dual_activations::{
    Activation, DualActivation, HermiteConvention, NumericalFn, NumericalMethod, ScalarFn,
};
use std::fmt::Write as _;

/// Wraps a closed-form activation's pointwise σ so the adaptive integrator
/// can evaluate it independently of the closed form.
#[derive(Debug)]
struct Pointwise(Activation, String);

impl ScalarFn for Pointwise {
    fn name(&self) -> &str {
        &self.1
    }
    fn value(&self, t: f64) -> f64 {
        self.0.value(t).unwrap_or(f64::NAN)
    }
    fn derivative(&self, t: f64) -> f64 {
        self.0.derivative(t).unwrap_or(f64::NAN)
    }
    fn kinks(&self) -> &[f64] {
        if self.0.kinks().is_empty() {
            &[]
        } else {
            &[0.0]
        }
    }
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let acts = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::AbRelu { a: -0.3, b: 1.1 },
        Activation::Abs,
        Activation::Sign,
        Activation::Erf {
            a: 1.3,
            b: 0.7,
            c: 0.2,
        },
        Activation::SigmoidLike,
        Activation::Gelu,
        Activation::Sin {
            a: 1.2,
            b: 0.8,
            c: 0.3,
        },
        Activation::COS,
        Activation::Rbf { gamma: 0.7 },
        Activation::Exp { a: 0.5, b: 0.6 },
        Activation::Gaussian { a: 1.5, b: -0.4 },
        Activation::EXP_NORMALIZED,
        Activation::Hermite {
            degree: 3,
            convention: HermiteConvention::Exact,
        },
        Activation::Monomial { degree: 3 },
        Activation::RectifiedMonomial { degree: 2 },
        Activation::Polynomial {
            coef: vec![-0.1, 2.1, 0.0, 0.3, -1.2, -0.5],
        },
        Activation::Gabor,
    ];
    let points = [(1.0, 1.0, 0.3), (0.7, 1.6, -0.5), (4.0, 0.25, 0.9)];
    let mut table = String::new();
    let mut rows = Vec::new();
    let _ = writeln!(
        table,
        "{:<18} {:>22} {:>14} {:>14} {:>10} {:>10}",
        "activation", "(q_x, q_y, c)", "K", "K_dot", "|dK| quad", "|dK'| quad"
    );
    for act in acts {
        let name = act.stax_name();
        let closed = match DualActivation::new(act.clone()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
        };
        let reference = act.value(0.0).map(|_| {
            DualActivation::new(Activation::Numerical {
                function: NumericalFn::new(Pointwise(act.clone(), name.to_owned())),
                method: NumericalMethod::Adaptive { abs_tol: 1e-12 },
            })
            .expect("valid tolerance")
        });
        for &(qx, qy, c) in &points {
            let d = match closed.eval(qx, qy, c) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{name} at ({qx}, {qy}, {c}): {e}");
                    std::process::exit(1);
                }
            };
            let diff = reference
                .as_ref()
                .and_then(|r| {
                    r.eval(qx, qy, c)
                        .map_err(|e| eprintln!("  adaptive {name}: {e}"))
                        .ok()
                })
                .map(|q| {
                    // Sign's NTK multiplier is 0 by stax's convention, not an expectation.
                    ((d.k - q.k).abs(), (d.k_dot - q.k_dot).abs())
                });
            let (dk, dkd) = diff.map_or(("-".into(), "-".into()), |(a, b)| {
                (format!("{a:.1e}"), format!("{b:.1e}"))
            });
            let _ = writeln!(
                table,
                "{:<18} {:>22} {:>14.10} {:>14.10} {:>10} {:>10}",
                name,
                format!("({qx}, {qy}, {c})"),
                d.k,
                d.k_dot,
                dk,
                dkd
            );
            rows.push(format!(
                "{{\"activation\":\"{name}\",\"q_x\":{qx},\"q_y\":{qy},\"c\":{c},\"k\":{:e},\"k_dot\":{:e}}}",
                d.k, d.k_dot
            ));
        }
    }
    if json {
        println!("[{}]", rows.join(",\n"));
    } else {
        print!("{table}");
        println!(
            "\n|dK| quad: difference to nested adaptive quadrature of E[σ(u)σ(v)] (Sign's K_dot is 0 by stax's convention)."
        );
    }
}
