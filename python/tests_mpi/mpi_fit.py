"""``ntk.distributed.fit`` under ``mpiexec -n P`` (run by ``cargo xtask mpi``,
not collected by pytest): on every rank, the weights are the bits of
``FeatureRidge.fit`` on all rows in one process, for uneven splits of the
rows whose boundaries fall inside chunks (rows must move between ranks),
float64 and float32 maps, the primal side (5 000 samples: three chunks of
2 048; 2 100 samples: two chunks, so one of three ranks sums none) and the
dual side (100 samples, gathered); a rank given bad targets
makes every rank raise the same ValueError. Exits non-zero on a mismatch.
"""

import sys

import numpy as np
from mpi4py import MPI

import ntk
import ntk.distributed


def split(n, size, rank):
    """Uneven, rank-dependent row ranges: cuts at 1/5, then halfway, ...,
    and for 3 ranks a 100-row middle rank."""
    cuts = {1: [0, n], 2: [0, n // 5, n], 3: [0, (3 * n) // 5, (3 * n) // 5 + 100, n]}[size]
    return cuts[rank], cuts[rank + 1]


def main():
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(0)
    failures = []
    for n, dtype in [(5000, "float64"), (5000, "float32"), (2100, "float64"), (100, "float64")]:
        X = rng.standard_normal((n, 12))
        y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2], np.cos(X.sum(axis=1))], axis=1)
        params = dict(arch="Dense(W_std=1.4, b_std=0.1), Relu, Dense(W_std=1.4)", dim=256,
                      method="random", seed=3, alpha=0.01, dtype=dtype, threads=1)
        a, b = split(n, size, rank)
        got = ntk.distributed.fit(ntk.FeatureRidge(**params), X[a:b], y[a:b], comm).coef_
        want = ntk.FeatureRidge(**dict(params, threads=2)).fit(X, y).coef_
        if got.shape != want.shape or not np.array_equal(got.view(np.uint64), want.view(np.uint64)):
            diff = np.max(np.abs(got - want)) if got.shape == want.shape else got.shape
            failures.append(f"n={n} {dtype}: weights differ from one process ({diff})")
        # Predictions of the distributed model on this rank's rows.
        model = ntk.distributed.fit(ntk.FeatureRidge(**params), X[a:b], y[a:b], comm)
        if b > a and not np.all(np.isfinite(model.predict(X[a:b]))):
            failures.append(f"n={n} {dtype}: non-finite predictions")
    # One rank's bad targets: every rank raises the same error.
    X = rng.standard_normal((300, 12))
    y = X[:, 0].copy()
    a, b = split(300, size, rank)
    yl = y[a:b].copy()
    if rank == size - 1 and b > a:
        yl[0] = np.nan
    try:
        ntk.distributed.fit(ntk.FeatureRidge(dim=64, method="random"), X[a:b], yl, comm)
        failures.append("a rank's NaN target was not refused")
    except ValueError as e:
        if f"rank {size - 1} of {size}" not in str(e) or "non-finite" not in str(e):
            failures.append(f"unexpected message: {e}")
    # Ranks that disagree on the model.
    try:
        ntk.distributed.fit(ntk.FeatureRidge(dim=64 + 64 * (rank % 2), method="random"),
                            X[a:b], y[a:b], comm)
        if size > 1:
            failures.append("ranks with different models were not refused")
    except ValueError as e:
        if "same model" not in str(e):
            failures.append(f"unexpected message: {e}")
    everyone = comm.allgather(failures)
    if rank == 0:
        for r, fs in enumerate(everyone):
            for f in fs:
                print(f"rank {r}: {f}", file=sys.stderr)
        print(f"ntk.distributed on {size} ranks: "
              f"{'FAILED' if any(everyone) else 'the weights of one process, bit for bit'}")
    sys.exit(1 if any(everyone) else 0)


if __name__ == "__main__":
    main()
