//! The MPI transport of `ntk fit|eval --features D` (cargo feature `mpi`;
//! the distributed fit itself is `distributed`):
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
    pub(crate) fn barrier(&self) {
        match *self {}
    }
    pub(crate) fn same_everywhere(&self, _print: u64) -> crate::error::Result<()> {
        match *self {}
    }
    pub(crate) fn root_result(
        &self,
        _r: Option<crate::error::Result<Vec<u8>>>,
    ) -> crate::error::Result<Vec<u8>> {
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

#[cfg(feature = "mpi")]
mod imp {
    use crate::error::{Result, usage};
    use mpi::Threading;
    use mpi::environment::Universe;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use ntk_solve::FixedGram;

    /// Whether a launcher started this process as one rank of several jobs
    /// (Open MPI, MPICH/Hydra, PMIx, Slurm's PMI).
    fn launched() -> bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    }

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

        pub(crate) fn send(&self, to: usize, bytes: &[u8]) {
            let world = self.world();
            let p = world.process_at_rank(to as i32);
            p.send(&(bytes.len() as u64));
            for s in bytes.chunks(self.slab) {
                p.send(s);
            }
        }

        pub(crate) fn receive(&self, from: usize) -> Vec<u8> {
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
        pub(crate) fn root_result(&self, r: Option<Result<Vec<u8>>>) -> Result<Vec<u8>> {
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

        /// Waits for every rank.
        pub(crate) fn barrier(&self) {
            self.world().barrier();
        }

        /// The sum of every rank's `x`, on every rank.
        pub(crate) fn sum(&self, x: u64) -> u64 {
            let mut total = 0u64;
            self.world()
                .all_reduce_into(&x, &mut total, mpi::collective::SystemOperation::sum());
            total
        }

        /// Errors on every rank unless every rank computed the same `print`
        /// (the same arguments, data and feature map).
        pub(crate) fn same_everywhere(&self, print: u64) -> Result<()> {
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
        pub(crate) fn reduce(&self, mut sums: FixedGram) -> Result<Option<FixedGram>> {
            let per = self.slab / 16;
            let total = FixedGram::word_count(sums.dim(), sums.outputs());
            // One buffer per direction, reused for every slab (no
            // allocation or page faults per message).
            let mut bytes = vec![0u8; per.min(total) * 16];
            let mut step = 1;
            while step < self.size {
                if self.rank % (2 * step) == step {
                    let to = self.rank - step;
                    let world = self.world();
                    let p = world.process_at_rank(to as i32);
                    p.send(&(sums.samples() as u64));
                    let mut words = sums.words();
                    let mut left = total;
                    while left > 0 {
                        let k = per.min(left);
                        for (dst, w) in bytes[..16 * k].chunks_exact_mut(16).zip(&mut words) {
                            dst.copy_from_slice(&w.to_le_bytes());
                        }
                        p.send(&bytes[..16 * k]);
                        left -= k;
                    }
                    return Ok(None);
                }
                if self.rank.is_multiple_of(2 * step) && self.rank + step < self.size {
                    let world = self.world();
                    let p = world.process_at_rank((self.rank + step) as i32);
                    let (samples, _) = p.receive::<u64>();
                    let mut at = 0;
                    let mut words = vec![0i128; per.min(total)];
                    while at < total {
                        let k = per.min(total - at);
                        p.receive_into(&mut bytes[..16 * k]);
                        for (w, c) in words[..k].iter_mut().zip(bytes[..16 * k].chunks_exact(16)) {
                            *w = i128::from_le_bytes(c.try_into().expect("16 bytes"));
                        }
                        sums.add_words(at, &words[..k])?;
                        at += k;
                    }
                    sums.absorb(samples as usize)?;
                }
                step *= 2;
            }
            Ok(Some(sums))
        }
    }
}
