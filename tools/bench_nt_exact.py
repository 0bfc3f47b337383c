"""neural-tangents (JAX, CPU, float64) timings of the two exact-kernel
workloads of `benches/benches/benchmarks/exact.rs`:

1. FC NTK, depth 3 (3 × [Dense(W=√2, b=0.1), Relu] + Dense), X: 2000 × 784, K(X, X);
2. CNTK, 5 × [Conv(3×3, SAME, W=√2, b=0), Relu] + GlobalAvgPool + Dense,
   X: 20 × 32 × 32 × 3, K(X, X);
3. CNTK of small images, Conv(3×3, SAME, W=√2, b=0.1), Relu, GlobalAvgPool,
   Dense(W=√2), X: 500 × 8 × 8 × 1 (the size of the embedded digits), K(X, X);
4. the README's WideResnet(block_size=1, k=1, num_classes=1) with its final
   AvgPool sized to 8×8 inputs (this project's `WideResnet(1, 1, 1)` preset),
   X: 100 × 8 × 8 × 3, K(X, X); the same input is written to
   target/bench/wrn_x.npy for `ntk kernel` (docs/NUMERICS.md, "Branching
   networks").

5. the same small-image CNTK without bias, Conv(3×3, SAME, W=1.414), Relu,
   GlobalAvgPool, Dense(W=1.414), on the first 500 embedded 8×8 digits
   (crates/ntk-data/data, pixel values / 16: real images, half of their
   pixels zero), K(X, X); written to target/bench/digits500.npy for
   `ntk kernel`.

`python tools/bench_nt_exact.py [1 2 3 4 5]` runs the listed workloads (all
by default).

Inputs are the same deterministic formulas as the Rust benchmark. Each
workload is run once to compile, then timed (median of 3). Environment: see
tools/gen_nt_fixtures.py.
"""
import time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import neural_tangents as nt
from neural_tangents import stax

s2 = float(np.sqrt(2.0))


def fc_data(n, d):
    i, j = np.meshgrid(np.arange(d), np.arange(n))
    return np.sin((i * 7 + j * 13) * 0.61) * (1.0 + (j % 10) * 0.1)


def img_data(n, h, w, c):
    k = np.arange(n * h * w * c, dtype=np.float64)
    return np.cos(k * 0.37).reshape(n, h, w, c)


def timed(f, reps=3):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


import os
import sys

WANT = {int(a) for a in sys.argv[1:]} or {1, 2, 3, 4, 5}

fc = []
for _ in range(3):
    fc += [stax.Dense(1, W_std=s2, b_std=0.1), stax.Relu()]
fc.append(stax.Dense(1, W_std=s2, b_std=0.1))
_, _, kfc = stax.serial(*fc)
kfc = jax.jit(kfc, static_argnames="get")
if 1 in WANT:
    x = fc_data(2000, 784)
    t = timed(lambda: kfc(x, None, get="ntk").block_until_ready())
    print(f"nt fc_ntk_depth3_n2000_d784: {t:.3f} s", flush=True)

conv = []
for _ in range(5):
    conv += [stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=s2, b_std=0.0), stax.Relu()]
conv += [stax.GlobalAvgPool(), stax.Dense(1, W_std=s2, b_std=0.0)]
_, _, kc = stax.serial(*conv)
kc = nt.batch(kc, batch_size=5, store_on_device=False)
if 2 in WANT:
    xi = img_data(20, 32, 32, 3)
    t = timed(lambda: np.asarray(kc(xi, None, "ntk")), reps=3)
    print(f"nt cntk_depth5_gap_n20_32x32x3: {t:.3f} s", flush=True)

small = [stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=s2, b_std=0.1), stax.Relu(),
         stax.GlobalAvgPool(), stax.Dense(1, W_std=s2)]
_, _, ks = stax.serial(*small)
ks = nt.batch(ks, batch_size=100, store_on_device=False)
if 3 in WANT:
    xs = img_data(500, 8, 8, 1)
    t = timed(lambda: np.asarray(ks(xs, None, "ntk")), reps=3)
    print(f"nt cntk_small_n500_8x8x1: {t:.3f} s", flush=True)


def wrn_block(channels, strides=(1, 1), channel_mismatch=False):
    main = stax.serial(
        stax.Relu(), stax.Conv(channels, (3, 3), strides, padding="SAME"),
        stax.Relu(), stax.Conv(channels, (3, 3), padding="SAME"))
    shortcut = stax.Identity() if not channel_mismatch else stax.Conv(
        channels, (3, 3), strides, padding="SAME")
    return stax.serial(stax.FanOut(2), stax.parallel(main, shortcut), stax.FanInSum())


if 4 in WANT:
    _, _, kw = stax.serial(
        stax.Conv(16, (3, 3), padding="SAME"),
        wrn_block(16, (1, 1), True), wrn_block(32, (2, 2), True), wrn_block(64, (2, 2), True),
        stax.AvgPool((2, 2)), stax.Flatten(), stax.Dense(1, 1.0, 0.0))
    kw = nt.batch(kw, batch_size=25, store_on_device=False)
    xw = img_data(100, 8, 8, 3)
    os.makedirs("target/bench", exist_ok=True)
    np.save("target/bench/wrn_x.npy", xw)
    t = timed(lambda: np.asarray(kw(xw, None, "ntk")), reps=3)
    print(f"nt wide_resnet_b1_n100_8x8x3: {t:.3f} s", flush=True)


if 5 in WANT:
    _, _, kd = stax.serial(stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=1.414), stax.Relu(),
                           stax.GlobalAvgPool(), stax.Dense(1, W_std=1.414))
    kd = nt.batch(kd, batch_size=100, store_on_device=False)
    raw = np.fromfile("crates/ntk-data/data/digits_images.u8", dtype=np.uint8)
    xd = raw.reshape(-1, 8, 8, 1)[:500].astype(np.float64) / 16.0
    os.makedirs("target/bench", exist_ok=True)
    np.save("target/bench/digits500.npy", xd)
    t = timed(lambda: np.asarray(kd(xd, None, "ntk")), reps=3)
    print(f"nt cntk_digits_n500_8x8x1_nobias: {t:.3f} s", flush=True)
