"""Same-machine peer for `ntk-solve`'s end-to-end benchmark: the 2021 paper's
ridge step (normal equations in float32, dense solve) in NumPy/OpenBLAS.

n = 20 000 samples in blocks of 1000 (four distinct blocks cycled, as the Rust
benchmark), m = 8192 features, 10 outputs; G += XᵀX, B += XᵀY, then
solve (G + λI) W = B. Prints the median of 3 runs.

Run: python3 tools/bench_numpy_ridge.py  (not part of the build or tests)
"""
import time
import numpy as np

n, m, k, b = 20_000, 8192, 10, 1000
rng = np.random.default_rng(0)
blocks = [(rng.random((b, m), dtype=np.float32) - 0.5, rng.random((b, k), dtype=np.float32) - 0.5) for _ in range(4)]
times = []
for rep in range(3):
    t0 = time.perf_counter()
    g = np.zeros((m, m), dtype=np.float32)
    bb = np.zeros((m, k), dtype=np.float32)
    for i in range(n // b):
        x, y = blocks[i % 4]
        g += x.T @ x
        bb += x.T @ y
    g[np.diag_indices(m)] += 1e-3
    w = np.linalg.solve(g, bb)
    times.append(time.perf_counter() - t0)
    print(f"run {rep}: {times[-1]:.2f} s", flush=True)
print(f"numpy {np.__version__} float32 accumulate+solve n={n} m={m} k={k}: median {sorted(times)[1]:.2f} s")
