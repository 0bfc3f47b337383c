//! `ntk predict`: a saved model (exact or on features) applied to new
//! inputs: labels or values, and optionally the raw scores.

use std::path::Path;

use crate::arrays::{read_samples, row_major, same_shape};
use crate::cmd::training::pick_kernel;
use crate::ctx::{Ctx, build, compute, outputs_writable};
use crate::error::{Result, usage};
use crate::model::{AnyModel, Task};
use crate::report::table;
use crate::stream::predict_features;
use faer::MatRef;
use ntk_data::files;
use ntk_pipeline::AnyMap;
use ntk_solve::metrics::argmax;

/// `ntk predict`.
pub(crate) fn run(
    ctx: &Ctx,
    model_path: &Path,
    x: &Path,
    out: &Path,
    scores: Option<&Path>,
) -> Result<()> {
    outputs_writable(&[Some(out), scores], ctx.common.force)?;
    let bytes = files::read(model_path)?;
    let mut xs = read_samples(x)?;
    let (pred, task, outputs) =
        match AnyModel::from_bytes(&bytes, &model_path.display().to_string())? {
            AnyModel::Exact(model) => {
                same_shape(&model.x_train, &xs, &x.display().to_string())?;
                model.prep.apply(&mut xs, &x.display().to_string())?;
                let arch = build(&model.architecture, model.input_shape())?;
                let k = compute(ctx, &arch, &model.x_train, Some(&xs), "kernel")?;
                let kc = pick_kernel(&k, model.kernel);
                let a = MatRef::from_row_major_slice(
                    &model.coefficients,
                    model.x_train.n,
                    model.outputs,
                );
                (a.transpose() * kc, model.task, model.outputs) // (k, n_new)
            }
            AnyModel::Features(model) => {
                if xs.shape != model.input_shape {
                    return Err(usage(format!(
                        "{} has samples of shape {}, the model was fitted on {}",
                        x.display(),
                        xs.shape,
                        model.input_shape
                    )));
                }
                model.prep.apply(&mut xs, &x.display().to_string())?;
                let arch = build(&model.architecture, model.input_shape)?;
                let map = AnyMap::new(&arch, model.input_shape, &model.spec)?;
                if map.dim() != model.dim {
                    return Err(usage(format!(
                        "{}: the regenerated feature map has {} features, the model {}",
                        model_path.display(),
                        map.dim(),
                        model.dim
                    )));
                }
                let w = MatRef::from_row_major_slice(&model.weights, model.dim, model.outputs);
                (
                    predict_features(ctx, &map, w, &xs)?,
                    model.task,
                    model.outputs,
                )
            }
        };
    let n = xs.n;
    if pred.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(usage(format!(
            "predictions for {} are not finite (the model's coefficients or the kernel overflow)",
            x.display()
        )));
    }
    // (n, k) row-major = the transpose of the (k, n) predictions.
    let raw = row_major(pred.transpose());
    match task {
        Task::Classify => {
            let labels: Vec<i64> = argmax(pred.as_ref())?
                .into_iter()
                .map(|l| l as i64)
                .collect();
            files::write_npy(out, &[n], &labels, ctx.common.force)?;
        }
        Task::Regress => {
            let shape: Vec<usize> = if outputs == 1 {
                vec![n]
            } else {
                vec![n, outputs]
            };
            files::write_npy(out, &shape, &raw, ctx.common.force)?;
        }
    }
    if let Some(p) = scores {
        files::write_npy(p, &[n, outputs], &raw, ctx.common.force)?;
    }
    ctx.say(&table(&[(
        "predictions",
        format!("{n} -> {}", out.display()),
    )]));
    Ok(())
}
