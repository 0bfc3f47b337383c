"""Feature ridge across the ranks of an MPI job, on an mpi4py communicator.

``fit(model, X_local, y_local, comm)`` fits a :class:`ntk.FeatureRidge` on the
union of every rank's rows, in rank order (rank 0's rows first), and sets
``coef_`` on every rank: **the same bits as ``model.fit`` on all rows in one
process**, for any number of ranks and any split of the rows.

How (docs/SCALING.md, "Python"): the training set is cut into chunks of
``ntk._ntk.CHUNK`` samples at fixed indices; rank ``r`` receives the rows of
its contiguous range of chunks (rows near a boundary move to the rank that
owns their chunk) and the first 256 rows (they set the grid of the sums),
sums its chunks exactly (integers), and the sums are added along a binomial
tree to rank 0, which solves and broadcasts the weights. Problems on the
dual side (``2n <= D'``, few samples) are gathered to rank 0 and fitted
there. Every rank holds the targets of every sample (``8·k·n`` bytes).

mpi4py is imported only when ``fit`` runs; importing this module or the
package never needs MPI. Every message is at most 64 MiB (rows, targets,
sums and weights are sent in slabs).
"""

from __future__ import annotations

import numpy as np

from . import FeatureRidge, _check_alpha, _ntk, _targets, _threads

__all__ = ["fit"]

#: Bytes per message at most (Open MPI's counts are 32-bit integers).
_SLAB = 64 << 20


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError(
            "ntk.distributed needs mpi4py (pip install mpi4py) and an MPI library"
        ) from e
    return MPI


def _agree(comm, error):
    """Raises the same ValueError on every rank if any rank failed."""
    errors = comm.allgather(error)
    bad = [(r, e) for r, e in enumerate(errors) if e is not None]
    if bad:
        r, e = bad[0]
        raise ValueError(f"rank {r} of {comm.Get_size()}: {e}")


def _exchange(comm, x, offsets, counts, wants):
    """Rows ``wants[rank]`` of the whole set (rank-ordered local rows)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    lo, hi = wants[rank]
    out = np.empty((hi - lo,) + x.shape[1:], dtype=x.dtype)
    row = max(1, x[:1].nbytes) if len(x) else max(1, out[:1].nbytes)
    per = max(1, _SLAB // row)
    mine = (offsets[rank], offsets[rank] + counts[rank])
    requests, keep = [], []
    for dest, (dlo, dhi) in enumerate(wants):
        s, e = max(dlo, mine[0]), min(dhi, mine[1])
        if s >= e:
            continue
        if dest == rank:
            out[s - lo:e - lo] = x[s - mine[0]:e - mine[0]]
            continue
        for a in range(s, e, per):
            b = min(a + per, e)
            buf = np.ascontiguousarray(x[a - mine[0]:b - mine[0]])
            keep.append(buf)
            requests.append(comm.Isend(buf, dest=dest, tag=7))
    for src in range(size):
        s, e = max(lo, offsets[src]), min(hi, offsets[src] + counts[src])
        if src == rank or s >= e:
            continue
        for a in range(s, e, per):
            b = min(a + per, e)
            comm.Recv(out[a - lo:b - lo], source=src, tag=7)
    _mpi().Request.Waitall(requests)
    return out


def _send_bytes(comm, data, dest):
    """``data``, or ``None`` for a failure below this rank (its message
    then travels instead)."""
    if isinstance(data, str):
        comm.send(("error", data), dest=dest, tag=8)
        return
    comm.send(("bytes", len(data)), dest=dest, tag=8)
    view = memoryview(data)
    for a in range(0, len(data), _SLAB):
        comm.Send(view[a:a + _SLAB], dest=dest, tag=9)


def _recv_bytes(comm, source):
    """The bytes ``_send_bytes`` sent, or the failure's message (a str)."""
    kind, n = comm.recv(source=source, tag=8)
    if kind == "error":
        return n
    buf = bytearray(n)
    view = memoryview(buf)
    for a in range(0, n, _SLAB):
        comm.Recv(view[a:a + _SLAB], source=source, tag=9)
    return bytes(buf)


def _bcast_rows(comm, a, root):
    """Broadcasts the C-contiguous array ``a`` from ``root``, in slabs of rows."""
    if len(a) == 0:
        return
    flat = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(len(a), 1)
    per = max(1, _SLAB // max(1, flat[:1].nbytes))
    for s in range(0, len(flat), per):
        comm.Bcast(flat[s:s + per], root=root)


def fit(model: FeatureRidge, X, y, comm=None) -> FeatureRidge:
    """Fits ``model`` on every rank's rows ``X`` (``(n_r, *sample_shape)``)
    and targets ``y`` (``(n_r,)`` or ``(n_r, k)``), the ranks' rows taken in
    rank order; sets ``coef_`` on every rank and returns ``model``. Every
    rank must call it with the same model parameters. A rank whose
    arguments are invalid makes every rank raise the same ``ValueError``.
    """
    MPI = _mpi()
    if comm is None:
        comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    error, x, t, fmap, flat, alpha = None, None, None, None, False, 0.0
    try:
        if not isinstance(model, FeatureRidge):
            raise ValueError(f"model must be an ntk.FeatureRidge, got {type(model).__name__}")
        if model.polynomial == "data":
            raise ValueError(
                "polynomial='data' fits its polynomials to the samples of one process; "
                "use 'fit' or 'taylor' across ranks"
            )
        alpha = _check_alpha(model.alpha)
        a = np.asarray(X)
        if a.ndim not in (2, 4):
            raise ValueError(
                f"X must have shape (n, d) for vectors or (n, H, W, C) for images (NHWC), got {a.shape}"
            )
        fmap = model._feature_map(a.shape[1:])
        x = fmap._samples(a, "X")
        t, flat = _targets(y, x.shape[0])
    except Exception as e:  # every rank must learn of it, whatever it is
        error = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
    _agree(comm, error)
    # The same problem on every rank (threads may differ: they do not
    # change the bits).
    params = (model.arch, model.dim, model.method, model.kernel, int(model.seed), alpha,
              model.degree, model.dtype, model.polynomial)
    mine = (params, x.shape[1:], t.shape[1], flat)
    everyone = comm.allgather(mine)
    for r, other in enumerate(everyone):
        if other != everyone[0]:
            raise ValueError(
                f"rank {r} of {size} was given other parameters, sample shape or target "
                "columns than rank 0 (every rank must fit the same model)"
            )
    counts = comm.allgather(int(x.shape[0]))
    offsets = [sum(counts[:r]) for r in range(size)]
    n, k = sum(counts), t.shape[1]
    if n == 0:
        raise ValueError("no rank holds a sample")
    threads = _threads(model.threads)
    # Every sample's targets, each rank's rows broadcast by it in slabs.
    y_all = np.empty((n, k), dtype=np.float64)
    for r in range(size):
        block = y_all[offsets[r]:offsets[r] + counts[r]]
        if r == rank:
            block[...] = t
        _bcast_rows(comm, block, r)
    dim = fmap.dim
    coef = np.empty((dim, k), dtype=np.float64)
    if 2 * n <= dim:
        # The dual side: few samples, fitted where they all are.
        whole = _exchange(comm, x, offsets, counts, [(0, n) if r == 0 else (0, 0) for r in range(size)])
        error = None
        if rank == 0:
            try:
                coef = np.ascontiguousarray(fmap._map.ridge_fit(whole, y_all, alpha, threads))
            except Exception as e:
                error = str(e)
        _agree(comm, error)
    else:
        chunk, first = _ntk.CHUNK, min(_ntk.SCALE_SAMPLES, n)
        chunks = -(-n // chunk)
        ranges = [(r * chunks // size, (r + 1) * chunks // size) for r in range(size)]
        rows = [(min(c0 * chunk, n), min(c1 * chunk, n)) for c0, c1 in ranges]
        head = _exchange(comm, x, offsets, counts, [(0, first)] * size)
        part = _exchange(comm, x, offsets, counts, rows)
        shard, error = None, None
        try:
            shard = fmap._map.shard(head, part, rows[rank][0], y_all, alpha, ranges[rank], threads)
        except Exception as e:
            error = str(e)
        _agree(comm, error)
        # Exact sums along a binomial tree to rank 0. A failure on the way
        # travels up the tree in place of the sums, so no rank waits for
        # one that failed.
        step = 1
        while step < size:
            if rank % (2 * step) == step:
                if error is None:
                    try:
                        payload = shard.to_bytes()
                    except Exception as e:
                        payload = f"rank {rank}: {e}"
                else:
                    payload = error
                _send_bytes(comm, payload, rank - step)
                shard = None
                break
            if rank % (2 * step) == 0 and rank + step < size:
                got = _recv_bytes(comm, rank + step)
                if error is None:
                    try:
                        if isinstance(got, str):
                            error = got
                        else:
                            shard.merge(_ntk._Shard.from_bytes(got))
                    except Exception as e:
                        error = f"rank {rank}: {e}"
            step *= 2
        if rank == 0 and error is None:
            try:
                coef = np.ascontiguousarray(shard.finish(alpha, threads))
            except Exception as e:
                error = str(e)
        _agree(comm, error if rank == 0 else None)
    _bcast_rows(comm, coef, 0)
    model.coef_ = coef
    model.feature_map_ = fmap
    model._flat = flat
    return model
