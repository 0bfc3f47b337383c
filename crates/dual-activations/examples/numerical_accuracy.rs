//! Measures the accuracy of the numerical routes against closed forms or the
//! adaptive reference, for the table in docs/NUMERICS.md.
//!
//! Run: `cargo run --release -p dual-activations --example numerical_accuracy`
#![allow(clippy::print_stdout)]

use dual_activations::{Activation, DualActivation, NumericalMethod, registry};

fn main() -> Result<(), dual_activations::DualError> {
    let points = [
        (1.0, 1.0, 0.3),
        (0.7, 1.6, -0.5),
        (2.0, 0.5, 0.99),
        (1.0, 1.0, 1.0),
        (4.0, 4.0, -3.9),
    ];
    println!(
        "max relative error (to sqrt(K(x,x)K(y,y))) over {} covariances",
        points.len()
    );
    println!(
        "{:<12} {:>24} {:>10} {:>10}",
        "function", "method", "K", "K_dot"
    );
    let names = [
        "relu",
        "abs",
        "elu",
        "selu",
        "relu6",
        "hard_tanh",
        "softsign",
        "tanh",
        "erf",
        "gelu",
        "silu",
        "mish",
    ];
    let methods = [
        NumericalMethod::GaussHermite { deg: 25 },
        NumericalMethod::GaussHermite { deg: 150 },
        NumericalMethod::HermiteSeries { degree: 16 },
        NumericalMethod::HermiteSeries { degree: 64 },
        NumericalMethod::HermiteSeries { degree: 256 },
    ];
    for name in names {
        let reference = DualActivation::new(Activation::Numerical {
            function: registry::by_name(name)?,
            method: NumericalMethod::Adaptive { abs_tol: 1e-12 },
        })?;
        for method in methods {
            let d = DualActivation::new(Activation::Numerical {
                function: registry::by_name(name)?,
                method,
            })?;
            let (mut ek, mut ed) = (0.0f64, 0.0f64);
            for &(qx, qy, c) in &points {
                let r = reference.eval(qx, qy, c)?;
                let g = d.eval(qx, qy, c)?;
                let (dx, dy) = (reference.eval_diag(qx)?, reference.eval_diag(qy)?);
                ek = ek.max((g.k - r.k).abs() / (dx.k * dy.k).sqrt());
                ed = ed.max((g.k_dot - r.k_dot).abs() / (dx.k_dot * dy.k_dot).sqrt().max(1e-300));
            }
            println!(
                "{:<12} {:>24} {:>10.1e} {:>10.1e}",
                name,
                format!("{method:?}").replace(['{', '}'], ""),
                ek,
                ed
            );
        }
    }
    Ok(())
}
