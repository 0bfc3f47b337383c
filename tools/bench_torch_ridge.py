"""Same-machine peer for `ntk-solve`'s end-to-end benchmark, in the papers'
own framework: PyTorch float32 on CPU, as `run_cifar.py` / `solve_reg` of
Zandieh et al. 2021 do the ridge step (normal equations, dense solve).

n = 20 000 samples in blocks of 1000 (four distinct blocks cycled, as the Rust
benchmark), m = 8192 features, 10 outputs. Prints the median of 3 runs.

Run: python3 tools/bench_torch_ridge.py  (not part of the build or tests)
"""
import time
import torch

n, m, k, b = 20_000, 8192, 10, 1000
torch.manual_seed(0)
blocks = [(torch.rand(b, m) - 0.5, torch.rand(b, k) - 0.5) for _ in range(4)]
times = []
for rep in range(3):
    t0 = time.perf_counter()
    g = torch.zeros(m, m)
    bb = torch.zeros(m, k)
    for i in range(n // b):
        x, y = blocks[i % 4]
        g += x.T @ x
        bb += x.T @ y
    g += 1e-3 * torch.eye(m)
    w = torch.linalg.solve(g, bb)
    times.append(time.perf_counter() - t0)
    print(f"run {rep}: {times[-1]:.2f} s", flush=True)
print(f"torch {torch.__version__} float32 threads={torch.get_num_threads()} accumulate+solve n={n} m={m} k={k}: median {sorted(times)[1]:.2f} s")
