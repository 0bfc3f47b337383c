"""neural-tangents fixtures for branching networks (FanOut, parallel,
FanInSum, FanInConcat, Identity, SumPool, GlobalSumPool, WideResnet), in the
shared oracle's JSON format plus `"stax"`: the same network in this project's
architecture syntax, which the test parses (so the parser is tested too).

Environment: as tools/gen_nt_fixtures.py (Python 3.11, neural-tangents 0.6.5,
JAX 0.4.23, float64).
Run: python tools/gen_nt_branching.py   (the tests read the committed JSON only)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from neural_tangents import stax

from gen_nt_fixtures import edge_inputs, parallel_pairs

OUT = "crates/ntk-features/tests/fixtures/neural_tangents_branching"
rng = np.random.default_rng(20261207)


def write(name, net, text, x1, x2, note):
    _, _, kernel_fn = net
    t0 = time.perf_counter()
    k = kernel_fn(x1, x2, ("nngp", "ntk", "cov1", "cov2"))
    k = [np.asarray(m) for m in k]
    secs = time.perf_counter() - t0
    for m in k[:2]:
        assert np.all(np.isfinite(m)), name
    case = {
        "name": name, "group": "branching", "description": note,
        "stax": text,
        "architecture": {"parameterization": "ntk", "layers": []}, "kernel_fn_kwargs": {},
        "x1": x1.tolist(), "x2": x2.tolist(), "x1_shape": list(x1.shape), "x2_shape": list(x2.shape),
        "nngp": k[0].tolist(), "ntk": k[1].tolist(), "cov1": k[2].tolist(), "cov2": k[3].tolist(),
        "parallel_pairs": parallel_pairs(x1, x2),
        "meta": {"neural_tangents": "0.6.5", "jax": jax.__version__, "dtype": "float64",
                 "generator": "tools/gen_nt_branching.py"},
    }
    with open(os.path.join(OUT, name + ".json"), "w") as fh:
        json.dump(case, fh)
    print(f"{name}: {secs:.2f} s", flush=True)


def img(n, h=8, w=8, c=3):
    x = rng.normal(size=(n, h, w, c)) * rng.uniform(0.5, 2.0, size=(n, 1, 1, 1))
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    # 1. A residual MLP with ReLU (the README's block on vectors).
    x1, x2 = edge_inputs(8, 5, 6)
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.1),
        stax.FanOut(2),
        stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(64, W_std=1.3, b_std=0.2))),
        stax.FanInSum(),
        stax.Relu(),
        stax.Dense(1, W_std=1.2, b_std=0.05))
    text = ("Dense(64, W_std=1.5, b_std=0.1), FanOut(2), "
            "parallel(Identity(), serial(Relu(), Dense(64, W_std=1.3, b_std=0.2))), "
            "FanInSum(), Relu(), Dense(1, W_std=1.2, b_std=0.05)")
    write("res_mlp_relu", net, text, x1, x2, "residual MLP, ReLU, identity shortcut")

    # 2. Depth-4 residual MLP with Gelu (the feature-map target's network).
    def block(act):
        return stax.serial(stax.FanOut(2),
                           stax.parallel(stax.serial(act(), stax.Dense(32, W_std=1.4, b_std=0.1)), stax.Identity()),
                           stax.FanInSum())
    net = stax.serial(stax.Dense(32, W_std=1.0, b_std=0.1), *[block(stax.Gelu) for _ in range(4)],
                      stax.Gelu(), stax.Dense(1, W_std=1.0))
    btext = "FanOut(2), parallel(serial(Gelu, Dense(W_std=1.4, b_std=0.1)), Identity), FanInSum"
    text = "Dense(W_std=1.0, b_std=0.1), " + ", ".join([btext] * 4) + ", Gelu, Dense(W_std=1.0)"
    x1, x2 = edge_inputs(8, 5, 6)
    write("res_mlp_gelu_d4", net, text, x1, x2, "depth-4 residual MLP, Gelu")

    # 3. Three branches joined by FanInConcat, and a nested residual branch.
    net = stax.serial(
        stax.Dense(16, W_std=1.2, b_std=0.2), stax.FanOut(3),
        stax.parallel(stax.Dense(16, W_std=0.9),
                      stax.serial(stax.Relu(), stax.Dense(16, W_std=1.5, b_std=0.3)),
                      stax.serial(stax.Erf(), stax.Dense(16, W_std=1.1))),
        stax.FanInConcat(), stax.Dense(16, W_std=1.3, b_std=0.1), stax.Relu(),
        stax.FanOut(2),
        stax.parallel(
            stax.serial(stax.Dense(16, W_std=1.4), stax.FanOut(2),
                        stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(16, W_std=1.2))),
                        stax.FanInSum()),
            stax.Dense(16, W_std=0.7, b_std=0.2)),
        stax.FanInSum(), stax.Abs(), stax.Dense(1, W_std=1.1, b_std=0.1))
    text = ("stax.Dense(16, W_std=1.2, b_std=0.2), stax.FanOut(3), "
            "stax.parallel(stax.Dense(16, W_std=0.9), stax.serial(stax.Relu(), stax.Dense(16, W_std=1.5, b_std=0.3)), "
            "stax.serial(stax.Erf(), stax.Dense(16, W_std=1.1))), stax.FanInConcat(), "
            "stax.Dense(16, W_std=1.3, b_std=0.1), stax.Relu(), stax.FanOut(2), "
            "stax.parallel(stax.serial(stax.Dense(16, W_std=1.4), stax.FanOut(2), "
            "stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(16, W_std=1.2))), stax.FanInSum()), "
            "stax.Dense(16, W_std=0.7, b_std=0.2)), stax.FanInSum(), stax.Abs(), stax.Dense(1, W_std=1.1, b_std=0.1)")
    x1, x2 = edge_inputs(8, 5, 6)
    write("concat_nested_mlp", net, text, x1, x2, "FanInConcat of 3 branches, nested residual branch")

    # 4. A residual CNN on 8x8x3 with a strided branch and a strided shortcut.
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME", W_std=1.3, b_std=0.1),
        stax.FanOut(2),
        stax.parallel(
            stax.serial(stax.Relu(), stax.Conv(8, (3, 3), (2, 2), padding="SAME", W_std=1.4),
                        stax.Relu(), stax.Conv(8, (3, 3), padding="SAME", W_std=1.2, b_std=0.2)),
            stax.Conv(8, (1, 1), (2, 2), padding="SAME", W_std=1.0)),
        stax.FanInSum(), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1, W_std=1.5))
    text = ("Conv(8, (3, 3), padding=SAME, W_std=1.3, b_std=0.1), FanOut(2), "
            "parallel(serial(Relu, Conv(8, (3, 3), (2, 2), padding=SAME, W_std=1.4), Relu, "
            "Conv(8, (3, 3), padding=SAME, W_std=1.2, b_std=0.2)), Conv(8, (1, 1), (2, 2), padding=SAME, W_std=1.0)), "
            "FanInSum, Relu, GlobalAvgPool, Dense(1, W_std=1.5)")
    write("res_cnn_strided_8x8x3", net, text, img(4), img(3), "residual CNN, strided branch and 1x1 strided shortcut")

    # 5. Channel concatenation of convolutions, then SumPool and GlobalSumPool.
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME", W_std=1.2),
        stax.FanOut(2),
        stax.parallel(stax.serial(stax.Relu(), stax.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1)),
                      stax.serial(stax.Erf(), stax.Conv(8, (1, 1), W_std=1.1))),
        stax.FanInConcat(), stax.Conv(8, (3, 3), padding="SAME", W_std=1.0),
        stax.Relu(), stax.SumPool((2, 2), (2, 2)), stax.Conv(8, (3, 3), padding="SAME", W_std=0.5),
        stax.Relu(), stax.GlobalSumPool(), stax.Dense(1, W_std=0.2))
    text = ("Conv(8, (3, 3), padding=SAME, W_std=1.2), FanOut(2), "
            "parallel(serial(Relu, Conv(8, (3, 3), padding=SAME, W_std=1.4, b_std=0.1)), serial(Erf, Conv(8, (1, 1), W_std=1.1))), "
            "FanInConcat, Conv(8, (3, 3), padding=SAME, W_std=1.0), Relu, SumPool((2, 2), (2, 2)), "
            "Conv(8, (3, 3), padding=SAME, W_std=0.5), Relu, GlobalSumPool, Dense(1, W_std=0.2)")
    write("concat_sumpool_8x8x3", net, text, img(4), img(3), "channel FanInConcat of convolutions, SumPool, GlobalSumPool")

    # 6. neural-tangents' README WideResnet(block_size=1, k=1, num_classes=1)
    #    on 8x8x3: its final AvgPool((8, 8)) (for 32x32) becomes (2, 2).
    def WideResnetBlock(channels, strides=(1, 1), channel_mismatch=False):
        Main = stax.serial(
            stax.Relu(), stax.Conv(channels, (3, 3), strides, padding='SAME'),
            stax.Relu(), stax.Conv(channels, (3, 3), padding='SAME'))
        Shortcut = stax.Identity() if not channel_mismatch else stax.Conv(
            channels, (3, 3), strides, padding='SAME')
        return stax.serial(stax.FanOut(2), stax.parallel(Main, Shortcut), stax.FanInSum())

    def WideResnetGroup(n, channels, strides=(1, 1)):
        blocks = [WideResnetBlock(channels, strides, channel_mismatch=True)]
        for _ in range(n - 1):
            blocks += [WideResnetBlock(channels, (1, 1))]
        return stax.serial(*blocks)

    def WideResnet(block_size, k, num_classes, size):
        return stax.serial(
            stax.Conv(16, (3, 3), padding='SAME'),
            WideResnetGroup(block_size, int(16 * k)),
            WideResnetGroup(block_size, int(32 * k), (2, 2)),
            WideResnetGroup(block_size, int(64 * k), (2, 2)),
            stax.AvgPool((size // 4, size // 4)),
            stax.Flatten(),
            stax.Dense(num_classes, 1., 0.))

    write("wide_resnet_b1_k1_8x8x3", WideResnet(1, 1, 1, 8), "WideResnet(block_size=1, k=1, num_classes=1)",
          img(4), img(3), "neural-tangents README WideResnet(1, 1, 1), AvgPool((2, 2)) at 8x8")
    write("wide_resnet_b2_k1_8x8x3", WideResnet(2, 1, 1, 8), "WideResnet(2, 1, 10)",
          img(3), img(2), "WideResnet(block_size=2): identity shortcuts too")


if __name__ == "__main__":
    main()
