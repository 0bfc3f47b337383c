"""Which side is right where `ntk kernel` and neural-tangents disagree on
README's FC workload (tools/bench_nt_exact.py, workload 1): the three NTK
entries with the largest difference, against the same recursion evaluated
with mpmath at 50 digits (neural-tangents' conventions, docs/NUMERICS.md).

`python tools/nt_fc_precision.py` (needs neural-tangents, jax and mpmath;
NTK_BIN names the binary, default target/release/ntk). On 2026-12-07 the
largest differences were diagonal entries, where neural-tangents is 3e-8
off (it evaluates the angle of a pair whose correlation rounds below 1) and
`ntk kernel` within 3e-15.
"""
import os
import subprocess

import jax
jax.config.update("jax_enable_x64", True)
import mpmath as mp
import numpy as np
from neural_tangents import stax

mp.mp.dps = 50
S2 = float(np.sqrt(2.0))
NTK = os.environ.get("NTK_BIN", "target/release/ntk")


def fc_data(n, d):
    """The benchmark's deterministic inputs (tools/bench_nt_exact.py)."""
    i, j = np.meshgrid(np.arange(d), np.arange(n))
    return np.sin((i * 7 + j * 13) * 0.61) * (1.0 + (j % 10) * 0.1)


def exact(x, a, b):
    """NTK(x_a, x_b) of 3 × [Dense(√2, 0.1), Relu] + Dense(√2, 0.1) in
    neural-tangents' units, at 50 digits (W_std² as the float √2 squared,
    as both implementations use it)."""
    xa = [mp.mpf(float(v)) for v in x[a]]
    xb = [mp.mpf(float(v)) for v in x[b]]
    d = len(xa)
    w2, b2 = mp.mpf(S2) ** 2, mp.mpf(0.1) ** 2
    qa = w2 * sum(v * v for v in xa) / d + b2
    qb = w2 * sum(v * v for v in xb) / d + b2
    qab = w2 * sum(u * v for u, v in zip(xa, xb)) / d + b2
    theta = qab
    for _ in range(3):
        t = mp.acos(min(qab / mp.sqrt(qa * qb), mp.mpf(1)))
        k = mp.sqrt(qa * qb) * (mp.sin(t) + (mp.pi - t) * mp.cos(t)) / (2 * mp.pi)
        theta *= (mp.pi - t) / (2 * mp.pi)
        # Relu's own variance is q/2; then the next Dense.
        qa, qb, qab = w2 * qa / 2 + b2, w2 * qb / 2 + b2, w2 * k + b2
        theta = w2 * theta + qab
    return theta


x = fc_data(2000, 784)
layers = []
for _ in range(3):
    layers += [stax.Dense(1, W_std=S2, b_std=0.1), stax.Relu()]
layers.append(stax.Dense(1, W_std=S2, b_std=0.1))
_, _, kernel_fn = stax.serial(*layers)
k_nt = np.asarray(kernel_fn(x, None, "ntk"))

arch = ", ".join([f"Dense(W_std={S2!r}, b_std=0.1), Relu"] * 3 + [f"Dense(W_std={S2!r}, b_std=0.1)"])
os.makedirs("target/bench", exist_ok=True)
np.save("target/bench/fc_precision_x.npy", x)
subprocess.run([NTK, "kernel", "-q", "--force", "--arch", arch, "--x1",
                "target/bench/fc_precision_x.npy", "--ntk", "target/bench/fc_precision_k.npy"],
               check=True)
k_ntk = np.load("target/bench/fc_precision_k.npy")

diff = np.abs(k_ntk - k_nt)
for a, b in zip(*np.unravel_index(np.argsort(diff, axis=None)[-3:], diff.shape)):
    e = exact(x, a, b)
    print(f"({a}, {b}): neural-tangents {k_nt[a, b]!r}, ntk {k_ntk[a, b]!r}, "
          f"50 digits {mp.nstr(e, 20)}; relative error: neural-tangents "
          f"{float(abs(k_nt[a, b] - e) / e):.1e}, ntk {float(abs(k_ntk[a, b] - e) / e):.1e}")
print(f"largest difference, relative to the largest entry: {diff.max() / np.abs(k_nt).max():.1e}")
