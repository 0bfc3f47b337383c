//! MPI scale-out of `ntk fit|eval --features D` (cargo feature `mpi`):
//! under `mpirun -np P` (or `srun`), rank `r` featurises the `r`-th of `P`
//! contiguous ranges of chunks of the training set; the exact sums of the
//! fitting samples are reduced to rank 0 along a binomial tree in slabs of at
//! most 128 MiB; rank 0 computes the λ grid's weights, which every rank
//! scores on its own validation samples; the validation samples' sums are
//! reduced likewise, and rank 0 solves and writes. The sums are integers
//! (`ntk_solve::FixedGram`) and the scores are summed in chunk order, so the
//! model is the one `ntk fit` writes in one process, byte for byte, for any
//! `P` and thread count (docs/SCALING.md).
//!
//! A rank that fails prints its error and calls `MPI_Abort`, which ends
//! every rank of the job: no rank waits for a peer that is gone.

#[cfg(feature = "mpi")]
pub(crate) use imp::*;

/// Without the `mpi` feature there is never a cluster.
#[cfg(not(feature = "mpi"))]
#[derive(Debug)]
pub(crate) enum Cluster {}

#[cfg(not(feature = "mpi"))]
impl Cluster {
    pub(crate) fn rank(&self) -> usize {
        match *self {}
    }
    pub(crate) fn size(&self) -> usize {
        match *self {}
    }
    pub(crate) fn abort(&self, _msg: &str) -> ! {
        match *self {}
    }
}

/// Without the `mpi` feature there is no MPI to hold.
#[cfg(not(feature = "mpi"))]
#[derive(Debug)]
pub(crate) enum Mpi {}

#[cfg(not(feature = "mpi"))]
pub(crate) fn start(_slab: usize) -> crate::error::Result<Option<(Mpi, Cluster)>> {
    Ok(None)
}

#[cfg(not(feature = "mpi"))]
pub(crate) fn fit_features(
    c: &Cluster,
    _ctx: &crate::ctx::Ctx,
    _map: &ntk_pipeline::AnyMap,
    _data: &crate::train::Train,
    _ridge: &crate::train::Ridge<'_>,
) -> crate::error::Result<(faer::Mat<f64>, f64, serde_json::Value, f64)> {
    match *c {}
}

/// Whether a launcher started this process as one rank of several jobs
/// (Open MPI, MPICH/Hydra, PMIx, Slurm's PMI).
#[cfg(feature = "mpi")]
fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

#[cfg(feature = "mpi")]
mod imp {
    use super::launched;
    use crate::ctx::Ctx;
    use crate::error::{Result, usage};
    use crate::stream::{feature_lambda, feature_targets, featurise_shard, fingerprint};
    use crate::train::{Ridge, Train};
    use faer::Mat;
    use mpi::Threading;
    use mpi::environment::Universe;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use ntk_pipeline::{
        AnyMap, ChunkScore, FeatureRidge, Lambda, LambdaRecord, grid_weights, select_lambda,
        shard_chunks,
    };
    use ntk_solve::FixedGram;
    use serde_json::Value;

    /// MPI, initialised: finalised when dropped (keep it on the thread that
    /// started it, for the whole run).
    pub(crate) struct Mpi(#[allow(dead_code)] Universe);

    /// One rank of an MPI job (plain data: the world communicator's handle
    /// is taken afresh by each call, so the value crosses threads without
    /// unsafe code; every call is made by the thread running the command,
    /// one at a time, as `Threading::Serialized` allows).
    pub(crate) struct Cluster {
        rank: usize,
        size: usize,
        /// Bytes per message at most.
        slab: usize,
    }

    impl std::fmt::Debug for Cluster {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Cluster(rank {} of {})", self.rank, self.size)
        }
    }

    /// MPI, when a launcher started this process; `slab` bounds every
    /// message (at most 128 MiB: larger ones fail or corrupt in the field).
    pub(crate) fn start(slab: usize) -> Result<Option<(Mpi, Cluster)>> {
        if !launched() {
            return Ok(None);
        }
        let (universe, _) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| usage("MPI was already initialised"))?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Some((
            Mpi(universe),
            Cluster {
                rank,
                size,
                slab: slab.clamp(16, 128 << 20) / 16 * 16,
            },
        )))
    }

    impl Cluster {
        fn world(&self) -> SimpleCommunicator {
            SimpleCommunicator::world()
        }

        pub(crate) fn rank(&self) -> usize {
            self.rank
        }
        pub(crate) fn size(&self) -> usize {
            self.size
        }

        /// Prints `msg` as this rank's error and ends the whole job.
        pub(crate) fn abort(&self, msg: &str) -> ! {
            eprintln!("ntk: error: rank {} of {}: {msg}", self.rank, self.size);
            self.world().abort(1)
        }

        fn send(&self, to: usize, bytes: &[u8]) {
            let world = self.world();
            let p = world.process_at_rank(to as i32);
            p.send(&(bytes.len() as u64));
            for s in bytes.chunks(self.slab) {
                p.send(s);
            }
        }

        fn receive(&self, from: usize) -> Vec<u8> {
            let world = self.world();
            let p = world.process_at_rank(from as i32);
            let (len, _) = p.receive::<u64>();
            let mut out = Vec::with_capacity(len as usize);
            while out.len() < len as usize {
                let (s, _) = p.receive_vec::<u8>();
                out.extend_from_slice(&s);
            }
            out
        }

        /// Rank 0's bytes on every rank.
        fn broadcast(&self, bytes: Option<Vec<u8>>) -> Vec<u8> {
            let world = self.world();
            let root = world.process_at_rank(0);
            let mut len = bytes.as_ref().map_or(0, |b| b.len() as u64);
            root.broadcast_into(&mut len);
            let mut buf = bytes.unwrap_or_else(|| vec![0u8; len as usize]);
            for s in buf.chunks_mut(self.slab) {
                root.broadcast_into(s);
            }
            buf
        }

        /// Rank 0's result on every rank: its value's bytes, or its error
        /// (every rank then fails with it).
        fn root_result(&self, r: Option<Result<Vec<u8>>>) -> Result<Vec<u8>> {
            let msg = match r {
                Some(Ok(b)) => {
                    let mut m = vec![0u8];
                    m.extend(b);
                    m
                }
                Some(Err(e)) => {
                    let mut m = vec![1u8];
                    m.extend(e.to_string().into_bytes());
                    m
                }
                None => Vec::new(),
            };
            let got = self.broadcast((self.rank == 0).then_some(msg));
            match got.split_first() {
                Some((0, rest)) => Ok(rest.to_vec()),
                Some((_, rest)) => Err(usage(String::from_utf8_lossy(rest).into_owned())),
                None => Err(usage("an empty message from rank 0")),
            }
        }

        /// Errors on every rank unless every rank computed the same `print`
        /// (the same arguments, data and feature map).
        fn same_everywhere(&self, print: u64) -> Result<()> {
            let mut all = vec![0u64; self.size];
            self.world().all_gather_into(&print, &mut all[..]);
            if let Some(r) = all.iter().position(|p| *p != all[0]) {
                return Err(usage(format!(
                    "rank {r} was given other arguments, data or options than rank 0 \
                     (every rank of an MPI job must run the same command)"
                )));
            }
            Ok(())
        }

        /// The sum of every rank's `sums` on rank 0 (`None` elsewhere),
        /// along a binomial tree, in slabs: no rank holds more than its own
        /// sum and one slab.
        fn reduce(&self, mut sums: FixedGram) -> Result<Option<FixedGram>> {
            let per = self.slab / 16;
            let mut step = 1;
            while step < self.size {
                if self.rank % (2 * step) == step {
                    let to = self.rank - step;
                    let world = self.world();
                    let p = world.process_at_rank(to as i32);
                    p.send(&(sums.samples() as u64));
                    let mut slab: Vec<u8> = Vec::with_capacity(per * 16);
                    for w in sums.words() {
                        slab.extend_from_slice(&w.to_le_bytes());
                        if slab.len() == per * 16 {
                            p.send(&slab[..]);
                            slab.clear();
                        }
                    }
                    if !slab.is_empty() {
                        p.send(&slab[..]);
                    }
                    return Ok(None);
                }
                if self.rank.is_multiple_of(2 * step) && self.rank + step < self.size {
                    let world = self.world();
                    let p = world.process_at_rank((self.rank + step) as i32);
                    let (samples, _) = p.receive::<u64>();
                    let total = FixedGram::word_count(sums.dim(), sums.outputs());
                    let mut at = 0;
                    let mut words = Vec::with_capacity(per);
                    while at < total {
                        let (s, _) = p.receive_vec::<u8>();
                        words.clear();
                        words.extend(
                            s.chunks_exact(16)
                                .map(|c| i128::from_le_bytes(c.try_into().expect("16 bytes"))),
                        );
                        sums.add_words(at, &words)?;
                        at += words.len();
                    }
                    sums.absorb(samples as usize)?;
                }
                step *= 2;
            }
            Ok(Some(sums))
        }
    }

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
    ) -> Result<(Mat<f64>, f64, Value, f64)> {
        let lambda = feature_lambda(ridge, ctx.common.seed)?;
        let n = data.x.n;
        let chunks = n.div_ceil(ridge.chunk);
        // The same problem everywhere: map, data, rule.
        let print = fingerprint(
            format!(
                "{:?}|{}|{}|{}|{:?}",
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
            )
            .into_bytes()
            .into_iter()
            .chain(data.x.data.iter().flat_map(|v| v.to_le_bytes()))
            .chain(
                data.y
                    .col_iter()
                    .flat_map(|col| col.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
            ),
        );
        c.same_everywhere(print)?;
        let range = shard_chunks(chunks, c.rank, c.size);
        let t = std::time::Instant::now();
        let fr = FeatureRidge::for_chunks(
            map,
            feature_targets(data),
            lambda,
            ridge.chunk,
            range.clone(),
        )?;
        let shard = featurise_shard(ctx, map, data, fr, range, ridge.chunk)?;
        let seconds = t.elapsed().as_secs_f64();
        let layout = shard.layout();
        let split = matches!(lambda, Lambda::Split { .. });
        let fit_sums = c.reduce(shard.sums().clone())?;
        let (lambda, record) = match lambda {
            Lambda::Given(l) => (l, LambdaRecord::Given),
            Lambda::Split {
                grid,
                val_fraction,
                seed,
            } => {
                let ws = c.root_result(
                    fit_sums
                        .as_ref()
                        .map(|s| Ok(weights_bytes(&grid_weights(&s.to_accumulator()?, grid)?))),
                )?;
                let ws = weights_from(&ws, grid.len(), layout.dim, layout.outputs)?;
                let mine = scores_bytes(&shard.score(&ws)?);
                let mut n_val = [shard.val_indices().len() as u64];
                let mut total_val = [0u64];
                c.world().all_reduce_into(
                    &n_val[..],
                    &mut total_val[..],
                    mpi::collective::SystemOperation::sum(),
                );
                n_val[0] = total_val[0];
                let chosen = if c.rank == 0 {
                    let mut parts = scores_from(&mine, grid.len());
                    for r in 1..c.size {
                        parts.extend(scores_from(&c.receive(r), grid.len()));
                    }
                    Some(
                        select_lambda(
                            layout,
                            data.task == crate::model::Task::Classify,
                            n_val[0] as usize,
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
                let val = c.reduce(shard.val_sums(ctx.par)?)?;
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
        let w = c.root_result(total.map(|t| {
            let (w, _) = t.to_accumulator()?.solve(lambda)?;
            Ok(weights_bytes(&[w]))
        }))?;
        let w = weights_from(&w, 1, layout.dim, layout.outputs)?
            .pop()
            .expect("one matrix");
        Ok((w, lambda, record.to_json(), seconds))
    }
}
