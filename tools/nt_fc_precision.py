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
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np, subprocess, mpmath as mp
from neural_tangents import stax
s2 = float(np.sqrt(2.0))
mp.mp.dps = 50
def fc_data(n, d):
    i, j = np.meshgrid(np.arange(d), np.arange(n))
    return np.sin((i * 7 + j * 13) * 0.61) * (1.0 + (j % 10) * 0.1)
x = fc_data(2000, 784)
fc = []
for _ in range(3):
    fc += [stax.Dense(1, W_std=s2, b_std=0.1), stax.Relu()]
fc.append(stax.Dense(1, W_std=s2, b_std=0.1))
_, _, k = stax.serial(*fc)
knt = np.asarray(k(x, None, "ntk"))
S2 = "1.4142135623730951"
arch = ", ".join([f"Dense(W_std={S2}, b_std=0.1), Relu"] * 3 + [f"Dense(W_std={S2}, b_std=0.1)"])
os.makedirs("target/bench", exist_ok=True)
np.save("target/bench/fc_precision_x.npy", x)
subprocess.run([os.environ.get("NTK_BIN", "target/release/ntk"), "kernel", "-q", "--force", "--arch", arch, "--x1", "target/bench/fc_precision_x.npy", "--ntk", "target/bench/fc_precision_k.npy"], check=True)
kn = np.load("target/bench/fc_precision_k.npy")
d = np.abs(kn - knt)
idx = np.unravel_index(np.argsort(d, axis=None)[-3:], d.shape)
def exact(a, b):
    xa = [mp.mpf(float(v)) for v in x[a]]; xb = [mp.mpf(float(v)) for v in x[b]]
    dd = len(xa)
    qa = sum(v*v for v in xa)/dd; qb = sum(v*v for v in xb)/dd; qab = sum(u*v for u, v in zip(xa, xb))/dd
    W2 = mp.mpf(s2)**2; b2 = mp.mpf('0.1')**2
    # first dense
    qa, qb, qab = W2*qa+b2, W2*qb+b2, W2*qab+b2
    th = qab
    for _ in range(3):
        rho = qab/mp.sqrt(qa*qb)
        if rho > 1: rho = mp.mpf(1)
        t = mp.acos(rho)
        k1 = mp.sqrt(qa*qb)*(mp.sin(t)+(mp.pi-t)*mp.cos(t))/(2*mp.pi)
        kd = (mp.pi-t)/(2*mp.pi)
        th = th*kd
        qa, qb, qab = qa/2, qb/2, k1  # relu self: q/2
        qa, qb, qab = W2*qa+b2, W2*qb+b2, W2*qab+b2
        th = W2*th + qab
    return th
for a, b in zip(*idx):
    e = exact(a, b)
    print(a, b, "nt", knt[a, b], "ntk", kn[a, b], "exact", mp.nstr(e, 20),
          "rel nt", float(abs(knt[a, b]-e)/e), "rel ntk", float(abs(kn[a, b]-e)/e))
print("max rel diff", d.max()/np.abs(knt).max())
