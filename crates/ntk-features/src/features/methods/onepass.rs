//! `onepass`: the 2021 code's one-polynomial shortcut. A homogeneous
//! network's kernel `(‖x‖‖y‖/d)·G(ρ)` is fitted by one nonnegative
//! polynomial `Σ c_j ρ^j` on the grid of the 2021 code and sketched as one
//! polynomial stage on the input with coefficients `r·√c_j`, `r = ‖x‖/√d`.

use super::homogeneous::{homogeneous, unit_kernel};
use super::poly::{ActShape, PolyStage, poly_act};
use super::interface::{FeatureMethod, WholeCx};
use crate::error::{FeatureError, Result};
use crate::features::map::{FeatureMap, WholeMap};
use crate::features::recipe::{HEAD_SHARE, SLACK, Seeds};
use crate::features::coeffs::Coeffs;
use crate::features::config::{DEFAULT_POLY_DEGREE, KernelKind};
use crate::plan::Plan;
use dual_activations::{Activation, DualActivation, polyfit};
use sketch_core::Real;

/// The `onepass` method.
pub(crate) struct OnePass;

impl FeatureMethod for OnePass {
    const NAME: &'static str = "onepass";
    const SUMMARY: &'static str =
        "homogeneous networks: one polynomial in the input cosine (the 2021 code)";
    // The sketch of one polynomial; the diagonal is the polynomial's.
    const CALIBRATES: bool = false;

    fn whole_network<T: Real>(cx: &WholeCx<'_>, plan: Plan<'_>) -> Option<Result<FeatureMap<T>>> {
        Some(build(cx, plan))
    }
}

fn build<T: Real>(cx: &WholeCx<'_>, plan: Plan<'_>) -> Result<FeatureMap<T>> {
    let config = cx.config;
    let h = homogeneous(cx, &plan)?;
    let (d, depth) = (h.d, h.depth);
    let mut seeds = Seeds::new(config.seed);
    let degree = config.degree.unwrap_or(DEFAULT_POLY_DEGREE);
    let (grid, weights) = polyfit::ntk_fit_grid(depth, degree);
    let g = unit_kernel(&plan, &grid, config.kernel)?;
    let fit = polyfit::nonnegative_monotone_fit(&grid, &g, &weights, degree, None)
        .map_err(|source| FeatureError::Activation { layer: 0, source })?;
    let a: Vec<f64> = fit
        .coeffs
        .coeffs()
        .iter()
        .map(|c| c.max(0.0).sqrt())
        .collect();
    let dual = match h.dual {
        Some(d) => d,
        None => DualActivation::new(Activation::Identity)
            .map_err(|source| FeatureError::Activation { layer: 0, source })?,
    };
    let coeffs = Coeffs::fixed(dual, 0, a, Vec::new());
    let input_head = d.min(config.dim / HEAD_SHARE);
    let shape = ActShape {
        d_in: d,
        inner: config.dim,
        node: config.node_dim.unwrap_or(config.dim),
        slack: SLACK,
        ntk: false,
        psi: 0,
        head: input_head,
    };
    let (act, phi) = poly_act::<T>(coeffs, shape, &mut seeds)?;
    let hphi = 1 + act.head;
    Ok(FeatureMap::whole(
        cx.arch,
        cx.input,
        config,
        plan,
        WholeMap {
            // The stage reads the input's variance (step 0) and builds the
            // NNGP-like feature whatever kernel the polynomial fits.
            stage: Box::new(PolyStage {
                act,
                step: 0,
                kernel: KernelKind::Nngp,
            }),
            phi,
            hphi,
            input_head,
            fit: (fit.coeffs.coeffs().to_vec(), fit.max_error),
        },
    ))
}
