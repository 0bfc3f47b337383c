//! Feature ridge across the ranks of an MPI job (cargo feature `mpi`):
//! rank `r` featurises the `r`-th of `P` contiguous ranges of chunks of the
//! training set; the exact sums of the fitting samples are reduced to rank
//! 0 (`cluster`); rank 0 computes the λ grid's weights, which every rank
//! scores on its own validation samples; the validation samples' sums are
//! reduced likewise, and rank 0 solves. The sums are integers
//! (`ntk_solve::FixedGram`) and the scores are summed in chunk order, so the
//! model is the one `ntk fit` writes in one process, byte for byte, for any
//! `P` and thread count (docs/SCALING.md).

#[cfg(feature = "mpi")]
pub(crate) use imp::{fit_features, predict};

/// Without the `mpi` feature there is never a cluster to fit on.
#[cfg(not(feature = "mpi"))]
pub(crate) fn fit_features(
    c: &crate::cluster::Cluster,
    _ctx: &crate::ctx::Ctx,
    _map: &ntk_pipeline::AnyMap,
    _data: &crate::train::Train,
    _ridge: &crate::train::Ridge<'_>,
    _problem: &str,
) -> crate::error::Result<(faer::Mat<f64>, f64, serde_json::Value, f64)> {
    match *c {}
}

/// Without the `mpi` feature there is never a cluster to predict on.
#[cfg(not(feature = "mpi"))]
pub(crate) fn predict(
    c: &crate::cluster::Cluster,
    _ctx: &crate::ctx::Ctx,
    _map: &ntk_pipeline::AnyMap,
    _w: faer::MatRef<'_, f64>,
    _x: &crate::arrays::Samples,
) -> crate::error::Result<faer::Mat<f64>> {
    match *c {}
}

#[cfg(feature = "mpi")]
mod imp {
    use crate::cluster::Cluster;
    use crate::ctx::Ctx;
    use crate::error::{Result, usage};
    use crate::stream::{
        data_fingerprint, feature_lambda, feature_targets, featurise_shard, fingerprint,
    };
    use crate::train::{Ridge, Train};
    use faer::Mat;
    use ntk_pipeline::{
        AnyMap, ChunkScore, FeatureRidge, Lambda, LambdaRecord, grid_weights, select_lambda,
        shard_chunks,
    };
    use serde_json::Value;

    fn weights_bytes(ws: &[Mat<f64>]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in ws {
            for j in 0..w.ncols() {
                for i in 0..w.nrows() {
                    out.extend_from_slice(&w[(i, j)].to_le_bytes());
                }
            }
        }
        out
    }

    fn weights_from(bytes: &[u8], count: usize, dim: usize, k: usize) -> Result<Vec<Mat<f64>>> {
        if bytes.len() != count * dim * k * 8 {
            return Err(usage("weights of the wrong size from rank 0"));
        }
        let f = |o: usize| f64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        Ok((0..count)
            .map(|l| Mat::from_fn(dim, k, |i, j| f(8 * (l * dim * k + j * dim + i))))
            .collect())
    }

    fn scores_bytes(scores: &[ChunkScore]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in scores {
            out.extend_from_slice(&(s.chunk as u64).to_le_bytes());
            for v in &s.sse {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for c in &s.correct {
                out.extend_from_slice(&(*c as u64).to_le_bytes());
            }
        }
        out
    }

    fn scores_from(bytes: &[u8], grid: usize) -> Vec<ChunkScore> {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
        bytes
            .chunks_exact(8 * (1 + 2 * grid))
            .map(|r| ChunkScore {
                chunk: word(&r[..8]) as usize,
                sse: (0..grid)
                    .map(|l| f64::from_bits(word(&r[8 * (1 + l)..8 * (2 + l)])))
                    .collect(),
                correct: (0..grid)
                    .map(|l| word(&r[8 * (1 + grid + l)..8 * (2 + grid + l)]) as usize)
                    .collect(),
            })
            .collect()
    }

    /// Feature ridge across the ranks: the weights `(D, k)`, λ, the JSON
    /// record of its choice and the seconds of this rank's features, on
    /// every rank.
    pub(crate) fn fit_features(
        c: &Cluster,
        ctx: &Ctx,
        map: &AnyMap,
        data: &Train,
        ridge: &Ridge<'_>,
        problem: &str,
    ) -> Result<(Mat<f64>, f64, Value, f64)> {
        let lambda = feature_lambda(ridge, ctx.common.seed)?;
        let n = data.inputs().n();
        let chunks = n.div_ceil(ridge.chunk);
        // The same problem everywhere: architecture and map options
        // (`problem`), data, rule.
        let print = fingerprint(
            format!(
                "{problem}|{:?}|{}|{}|{}|{:?}|{:016x}",
                map.dim(),
                n,
                ridge.chunk,
                ctx.common.seed,
                (
                    ridge.lambda.map(f64::to_bits),
                    ridge
                        .grid
                        .map(|g| g.iter().map(|l| l.to_bits()).collect::<Vec<_>>()),
                    ridge.val_fraction.to_bits()
                ),
                data_fingerprint(data)?,
            )
            .into_bytes(),
        );
        c.same_everywhere(print)?;
        let range = shard_chunks(chunks, c.rank(), c.size());
        let t = std::time::Instant::now();
        let fr = FeatureRidge::for_chunks(
            map,
            feature_targets(data),
            lambda,
            ridge.chunk,
            range.clone(),
        )?;
        let mut shard = featurise_shard(ctx, map, data, fr, range, ridge.chunk)?;
        let seconds = t.elapsed().as_secs_f64();
        // Time in messages and reductions (including waiting for slower
        // ranks), and rank 0's solves, for the report.
        let mut t_comm = 0.0;
        let mut t_solve = 0.0;
        let layout = shard.layout();
        let split = matches!(lambda, Lambda::Split { .. });
        // Waiting for slower ranks (their features) is load imbalance, not
        // communication: timed apart.
        let tw = std::time::Instant::now();
        c.barrier();
        let t_wait = tw.elapsed().as_secs_f64();
        let tc = std::time::Instant::now();
        let fit_sums = c.reduce(shard.take_sums())?;
        t_comm += tc.elapsed().as_secs_f64();
        let (lambda, record) = match lambda {
            Lambda::Given(l) => (l, LambdaRecord::Given),
            Lambda::Split {
                grid,
                val_fraction,
                seed,
            } => {
                let ts = std::time::Instant::now();
                let ws = fit_sums
                    .as_ref()
                    .map(|s| Ok(weights_bytes(&grid_weights(&s.to_accumulator()?, grid)?)));
                t_solve += ts.elapsed().as_secs_f64();
                let tc = std::time::Instant::now();
                let ws = c.root_result(ws)?;
                t_comm += tc.elapsed().as_secs_f64();
                let ws = weights_from(&ws, grid.len(), layout.dim, layout.outputs)?;
                let mine = scores_bytes(&shard.score(&ws)?);

                let n_val = c.sum(shard.val_indices().len() as u64);
                let chosen = if c.rank() == 0 {
                    let mut parts = scores_from(&mine, grid.len());
                    for r in 1..c.size() {
                        parts.extend(scores_from(&c.receive(r), grid.len()));
                    }
                    Some(
                        select_lambda(
                            layout,
                            data.task == crate::model::Task::Classify,
                            n_val as usize,
                            (grid, val_fraction, seed),
                            parts,
                        )
                        .map_err(crate::error::CliError::from),
                    )
                } else {
                    c.send(0, &mine);
                    None
                };
                let record = chosen.transpose()?;
                // λ travels as bits; the record stays on rank 0, which writes.
                let l = c.root_result(
                    record
                        .as_ref()
                        .map(|r| Ok(r.selection.lambda.to_bits().to_le_bytes().to_vec())),
                )?;
                let l = f64::from_bits(u64::from_le_bytes(
                    l.as_slice()
                        .try_into()
                        .map_err(|_| usage("a malformed λ from rank 0"))?,
                ));
                (l, record.map_or(LambdaRecord::Given, LambdaRecord::Split))
            }
        };
        let total = match split {
            true => {
                let v = shard.val_sums(ctx.par)?;
                let tc = std::time::Instant::now();
                let val = c.reduce(v)?;
                t_comm += tc.elapsed().as_secs_f64();
                match (fit_sums, val) {
                    (Some(mut f), Some(v)) => {
                        f.merge(&v)?;
                        Some(f)
                    }
                    _ => None,
                }
            }
            false => fit_sums,
        };
        let ts = std::time::Instant::now();
        let w = total.map(|t| {
            let (w, _) = t.to_accumulator()?.solve(lambda)?;
            Ok(weights_bytes(&[w]))
        });
        t_solve += ts.elapsed().as_secs_f64();
        let tc = std::time::Instant::now();
        let w = c.root_result(w)?;
        t_comm += tc.elapsed().as_secs_f64();
        ctx.say(&crate::report::table(&[
            ("ranks", c.size().to_string()),
            ("rank 0 features and sums s", format!("{seconds:.3}")),
            (
                "rank 0 waiting for the other ranks s",
                format!("{t_wait:.3}"),
            ),
            ("rank 0 messages and reductions s", format!("{t_comm:.3}")),
            ("rank 0 solves s", format!("{t_solve:.3}")),
        ]));
        let w = weights_from(&w, 1, layout.dim, layout.outputs)?
            .pop()
            .expect("one matrix");
        Ok((w, lambda, record.to_json(), seconds))
    }

    /// Predictions `(k, n)` of the weights `w` on the test inputs `x`,
    /// each rank featurising a contiguous range of whole stream blocks
    /// (so every block, and so every prediction, is the one a single
    /// process computes), gathered on rank 0 and shared with every rank.
    pub(crate) fn predict(
        c: &Cluster,
        ctx: &Ctx,
        map: &AnyMap,
        w: faer::MatRef<'_, f64>,
        x: &crate::arrays::Samples,
    ) -> Result<Mat<f64>> {
        let (n, k) = (x.n, w.ncols());
        let blocks = n.div_ceil(ntk_pipeline::BLOCK);
        let range = shard_chunks(blocks, c.rank(), c.size());
        let (a, b) = (
            (range.start * ntk_pipeline::BLOCK).min(n),
            (range.end * ntk_pipeline::BLOCK).min(n),
        );
        let size = x.data.len() / n.max(1);
        let mine = if b > a {
            let part = crate::arrays::Samples {
                data: x.data[a * size..b * size].to_vec(),
                n: b - a,
                shape: x.shape,
            };
            crate::stream::predict_features(ctx, map, w, &part)?
        } else {
            Mat::zeros(k, 0)
        };
        let bytes: Vec<u8> = (0..mine.ncols())
            .flat_map(|j| (0..k).map(move |t| (t, j)))
            .flat_map(|(t, j)| mine[(t, j)].to_le_bytes())
            .collect();
        let all = if c.rank() == 0 {
            let mut out = bytes;
            for r in 1..c.size() {
                out.extend(c.receive(r));
            }
            Some(Ok(out))
        } else {
            c.send(0, &bytes);
            None
        };
        let all = c.root_result(all)?;
        if all.len() != 8 * k * n {
            return Err(usage("predictions of the wrong size from the ranks"));
        }
        Ok(Mat::from_fn(k, n, |t, j| {
            let o = 8 * (j * k + t);
            f64::from_le_bytes(all[o..o + 8].try_into().expect("8 bytes"))
        }))
    }
}
