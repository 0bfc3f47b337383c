//! `ntk fit`: kernel ridge (exact or on features) on the training set,
//! saved as a model file that `ntk predict` reads.

use std::path::Path;
use std::time::Instant;

use crate::arrays::row_major;
use crate::cli::Training;
use crate::cmd::gram;
use crate::cmd::training::{
    arch_text, cifar_of, load_train, pick_kernel, ridge, train_on_features,
};
use crate::ctx::{Ctx, build, compute, outputs_writable};
use crate::error::{Result, usage};
use crate::model::{FeatureModel, Model};
use crate::report::table;
use crate::train::fit_model;
use ntk_data::files;

/// `ntk fit`.
pub(crate) fn run(ctx: &Ctx, t: &Training, model_path: &Path) -> Result<()> {
    if ctx.is_root() {
        outputs_writable(&[Some(model_path)], ctx.common.force)?;
    }
    if t.k_train.is_some() {
        return Err(usage(
            "--k-train is for `ntk eval`: a saved model computes kernels against new inputs, \
             so `ntk fit` needs --arch and the training inputs",
        ));
    }
    let t0 = Instant::now();
    if !t.gram.is_empty() {
        let model = gram::fit(ctx, &t.gram)?;
        files::write_new(model_path, &model.to_bytes()?, ctx.common.force)?;
        ctx.say(&table(&[
            ("model", model_path.display().to_string()),
            ("lambda", format!("{:e}", model.lambda)),
            ("accumulators", t.gram.len().to_string()),
            ("seconds", format!("{:.3}", t0.elapsed().as_secs_f64())),
        ]));
        return Ok(());
    }
    let cifar = cifar_of(t)?;
    let (data, prep) = load_train(t, cifar.as_ref())?;
    drop(cifar);
    let arch = build(arch_text(t)?, data.x.shape)?;
    let lambda = match t.features {
        Some(dim) => {
            let (spec, _, fit) = train_on_features(ctx, t, &arch, &data, dim)?;
            let model = FeatureModel {
                architecture: arch.to_string(),
                task: data.task,
                lambda: fit.lambda,
                input_shape: data.x.shape,
                spec,
                dim: fit.dim,
                outputs: fit.weights.ncols(),
                weights: row_major(fit.weights.as_ref()),
                prep,
            };
            if ctx.is_root() {
                files::write_new(model_path, &model.to_bytes()?, ctx.common.force)?;
            }
            fit.lambda
        }
        None => {
            let k = compute(ctx, &arch, &data.x, None, "train kernel")?;
            let fitted = fit_model(ctx, &ridge(t), data.goal(), pick_kernel(&k, t.kernel))?;
            let lambda = fitted.lambda;
            let a = fitted.coefficients.as_ref();
            let model = Model {
                architecture: arch.to_string(),
                kernel: t.kernel,
                task: data.task,
                lambda,
                outputs: a.ncols(),
                coefficients: row_major(a),
                x_train: data.x,
                prep,
            };
            files::write_new(model_path, &model.to_bytes()?, ctx.common.force)?;
            lambda
        }
    };
    ctx.say(&table(&[
        ("model", model_path.display().to_string()),
        ("lambda", format!("{lambda:e}")),
        ("seconds", format!("{:.3}", t0.elapsed().as_secs_f64())),
    ]));
    Ok(())
}
