//! The commands of `ntk`, one module each (and `training`, the flags `eval`
//! and `fit` share). [`run`] dispatches the parsed command line to them
//! inside the thread pool. Every output path is checked before any work
//! starts, so a refused overwrite costs nothing.

mod arch;
mod demo;
mod download;
mod eval;
mod features;
mod fit;
mod gram;
mod kernel;
mod predict;
mod reproduce;
mod training;

use crate::cli::{Cli, Command, Reproduction};
use crate::ctx::Ctx;
use crate::error::Result;

pub(crate) fn run(cli: Cli) -> Result<()> {
    let (mut ctx, pool) = Ctx::start(cli.common.clone())?;
    let mut _mpi = None;
    if let Some((mpi, c)) = crate::cluster::start(cli.slab_bytes)? {
        _mpi = Some(mpi);
        let c = std::sync::Arc::new(c);
        let distributed = match &cli.command {
            Command::Fit { train, .. } | Command::Eval { train, .. } => {
                train.features.is_some() && train.gram.is_empty()
            }
            Command::Kernel(a) => a.merge.is_none() && a.tile.is_none(),
            _ => false,
        };
        if c.size() > 1 && !distributed {
            c.abort(
                "only `ntk kernel`, `ntk fit --features D` and `ntk eval --features D` run \
                 across MPI ranks",
            );
        }
        if c.rank() > 0 {
            ctx.common.quiet = true;
        }
        ctx.cluster = Some(c);
    }
    let cluster = ctx.cluster.clone();
    let r = pool.install(|| match cli.command {
        Command::Kernel(a) => kernel::run(&ctx, &a),
        Command::Features(a) => features::run(&ctx, &a),
        Command::Eval {
            train,
            x_test,
            y_test,
            n_test,
            k_test,
            json,
        } => eval::run(
            &ctx,
            &train,
            &eval::TestArgs {
                x: x_test.as_deref(),
                y: y_test.as_deref(),
                n: n_test,
                k: k_test.as_deref(),
            },
            json.as_deref(),
        ),
        Command::Gram(a) => gram::run(&ctx, &a),
        Command::Fit { train, model } => fit::run(&ctx, &train, &model),
        Command::Predict {
            model,
            x,
            out,
            scores,
        } => predict::run(&ctx, &model, &x, &out, scores.as_deref()),
        Command::Arch { arch, input_shape } => arch::run(&arch, input_shape.as_deref()),
        Command::Download {
            dataset,
            name,
            data_dir,
            url,
        } => download::run(&ctx, &dataset, name.as_deref(), data_dir, url.as_deref()),
        Command::Reproduce { which } => match which {
            Reproduction::Mnist(a) => reproduce::mnist::run(&ctx, &a),
            Reproduction::Uci(a) => reproduce::uci::run(&ctx, &a),
            Reproduction::Cifar(a) => reproduce::cifar::run(&ctx, &a),
        },
        Command::Demo { out_dir } => demo::run(&ctx, out_dir.as_deref()),
    });
    // A failed rank ends the whole job: its peers would otherwise wait for it.
    if let (Err(e), Some(c)) = (&r, cluster.as_deref())
        && c.size() > 1
    {
        c.abort(&e.to_string());
    }
    r
}
