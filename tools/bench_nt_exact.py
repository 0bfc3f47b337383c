"""Exact-kernel timings of neural-tangents (JAX, CPU, float64) and, with
`--ntk PATH`, of the `ntk kernel` binary on the same inputs, same session:
the headline ratios of README.md. `cargo xtask bench-peers` builds the
binary and runs this script with it (or says why it cannot).

Workloads (the first three are also criterion benchmarks in
`benches/benches/benchmarks/exact.rs`, on the same deterministic inputs):

1. FC NTK, depth 3 (3 × [Dense(W=√2, b=0.1), Relu] + Dense), X: 2000 × 784, K(X, X);
2. CNTK, 5 × [Conv(3×3, SAME, W=√2, b=0), Relu] + GlobalAvgPool + Dense,
   X: 20 × 32 × 32 × 3, K(X, X);
3. CNTK of small images, Conv(3×3, SAME, W=√2, b=0.1), Relu, GlobalAvgPool,
   Dense(W=√2), X: 500 × 8 × 8 × 1 (the size of the embedded digits), K(X, X);
4. the README's WideResnet(block_size=1, k=1, num_classes=1) with its final
   AvgPool sized to 8×8 inputs (this project's `WideResnet(1, 1, 1)` preset),
   X: 100 × 8 × 8 × 3, K(X, X) (docs/NUMERICS.md, "Branching networks");
5. the same small-image CNTK without bias, Conv(3×3, SAME, W=1.414), Relu,
   GlobalAvgPool, Dense(W=1.414), on the first 500 embedded 8×8 digits
   (crates/ntk-data/data, pixel values / 16: real images, half of their
   pixels zero), K(X, X).

`python tools/bench_nt_exact.py [--ntk target/release/ntk] [1 2 3 4 5]`
runs the listed workloads (all by default). Each input is written to
target/bench/<name>_x.npy. neural-tangents runs each workload once to
compile, then 3 timed times; `ntk kernel` runs once to warm the file cache,
then 3 timed whole processes (start-up, reading the input and writing the
float64 kernel included); the time ntk reports for reading and computing
(its --json "seconds", without start-up and writing) is given too, the
figure closest to neural-tangents' in-memory call. Medians are reported, with the largest relative
difference between the two NTK matrices, in a table and in
target/bench/peers.json. Environment: see tools/gen_nt_fixtures.py
(neural-tangents 0.6.5, jax 0.4.23).
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
    """Median of `reps` timed calls after one untimed call."""
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


import argparse
import json
import os
import platform
import subprocess
import tempfile

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("workloads", nargs="*", type=int, help="1 to 5 (default: all)")
ap.add_argument("--ntk", help="the ntk binary to time beside neural-tangents")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--json", default="target/bench/peers.json")
ARGS = ap.parse_args()
WANT = set(ARGS.workloads) or {1, 2, 3, 4, 5}
if not WANT <= {1, 2, 3, 4, 5}:
    ap.error(f"workloads are 1 to 5, not {sorted(WANT - {1, 2, 3, 4, 5})}")
RESULTS = []
os.makedirs("target/bench", exist_ok=True)


def measure(name, arch, x, run_nt):
    """Times neural-tangents (`run_nt() -> NTK`) and, with --ntk, `ntk
    kernel --arch ARCH` on the same input; prints and records the row."""
    path = f"target/bench/{name}_x.npy"
    np.save(path, x)
    k_nt = run_nt()
    t_nt = timed(run_nt, reps=ARGS.reps)
    row = {"workload": name, "arch": arch, "input_shape": list(x.shape),
           "neural_tangents_s": t_nt}
    if ARGS.ntk:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "k.npy")
            summary = os.path.join(tmp, "k.json")
            cmd = [ARGS.ntk, "kernel", "-q", "--force", "--arch", arch, "--x1", path,
                   "--ntk", out, "--json", summary]
            inner = []

            def run_ntk():
                subprocess.run(cmd, check=True)
                with open(summary) as f:
                    inner.append(json.load(f)["seconds"])
            t_ntk = timed(run_ntk, reps=ARGS.reps)
            t_in = sorted(inner[1:])[len(inner[1:]) // 2]
            k = np.load(out)
        diff = float(np.max(np.abs(k - k_nt)) / np.max(np.abs(k_nt)))
        row.update(ntk_s=t_ntk, ratio=t_nt / t_ntk, ntk_read_and_compute_s=t_in,
                   ratio_read_and_compute=t_nt / t_in, max_rel_diff=diff)
        print(f"{name}: neural-tangents {t_nt:.3f} s; ntk {t_ntk:.3f} s whole process "
              f"({t_nt / t_ntk:.1f}x), {t_in:.3f} s reading and computing "
              f"({t_nt / t_in:.1f}x); kernels agree to {diff:.1e}", flush=True)
    else:
        print(f"nt {name}: {t_nt:.3f} s", flush=True)
    RESULTS.append(row)


S2 = "1.4142135623730951"
fc = []
for _ in range(3):
    fc += [stax.Dense(1, W_std=s2, b_std=0.1), stax.Relu()]
fc.append(stax.Dense(1, W_std=s2, b_std=0.1))
_, _, kfc = stax.serial(*fc)
kfc = jax.jit(kfc, static_argnames="get")
if 1 in WANT:
    x = fc_data(2000, 784)
    measure("fc_ntk_depth3_n2000_d784",
            ", ".join([f"Dense(W_std={S2}, b_std=0.1), Relu"] * 3 + [f"Dense(W_std={S2}, b_std=0.1)"]),
            x, lambda: np.asarray(kfc(x, None, get="ntk").block_until_ready()))

conv = []
for _ in range(5):
    conv += [stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=s2, b_std=0.0), stax.Relu()]
conv += [stax.GlobalAvgPool(), stax.Dense(1, W_std=s2, b_std=0.0)]
_, _, kc = stax.serial(*conv)
kc = nt.batch(kc, batch_size=5, store_on_device=False)
if 2 in WANT:
    xi = img_data(20, 32, 32, 3)
    layer = f"Conv(filter_shape=(3, 3), padding=SAME, W_std={S2}, b_std=0.0), Relu"
    measure("cntk_depth5_gap_n20_32x32x3",
            ", ".join([layer] * 5 + ["GlobalAvgPool", f"Dense(W_std={S2}, b_std=0.0)"]),
            xi, lambda: np.asarray(kc(xi, None, "ntk")))

small = [stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=s2, b_std=0.1), stax.Relu(),
         stax.GlobalAvgPool(), stax.Dense(1, W_std=s2)]
_, _, ks = stax.serial(*small)
ks = nt.batch(ks, batch_size=100, store_on_device=False)
if 3 in WANT:
    xs = img_data(500, 8, 8, 1)
    measure("cntk_small_n500_8x8x1",
            f"Conv(filter_shape=(3, 3), padding=SAME, W_std={S2}, b_std=0.1), Relu, "
            f"GlobalAvgPool, Dense(W_std={S2})",
            xs, lambda: np.asarray(ks(xs, None, "ntk")))


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
    measure("wide_resnet_b1_n100_8x8x3", "WideResnet(1, 1, 1)", xw,
            lambda: np.asarray(kw(xw, None, "ntk")))


if 5 in WANT:
    _, _, kd = stax.serial(stax.Conv(1, (3, 3), (1, 1), "SAME", W_std=1.414), stax.Relu(),
                           stax.GlobalAvgPool(), stax.Dense(1, W_std=1.414))
    kd = nt.batch(kd, batch_size=100, store_on_device=False)
    raw = np.fromfile("crates/ntk-data/data/digits_images.u8", dtype=np.uint8)
    xd = raw.reshape(-1, 8, 8, 1)[:500].astype(np.float64) / 16.0
    measure("cntk_digits_n500_8x8x1_nobias",
            "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.414), Relu, GlobalAvgPool, "
            "Dense(W_std=1.414)",
            xd, lambda: np.asarray(kd(xd, None, "ntk")))

with open(ARGS.json, "w") as f:
    json.dump({"machine": platform.platform(), "processor": platform.processor(),
               "cpus": os.cpu_count(), "neural_tangents": nt.__version__,
               "jax": jax.__version__, "reps": ARGS.reps,
               "time": time.strftime("%Y-%m-%d %H:%M:%S"), "workloads": RESULTS}, f, indent=1)
print(f"wrote {ARGS.json}")
