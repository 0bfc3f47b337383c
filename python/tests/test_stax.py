"""`ntk.stax`: neural-tangents scripts that change only their import give
neural-tangents' kernels (the committed fixtures of
tools/gen_nt_branching.py, at the fixture tolerance of docs/NUMERICS.md:
1e-10 of each matrix's largest entry), and the layers are accepted wherever
an architecture string is."""

import json

import numpy as np
import pytest

import ntk
from ntk import stax
from conftest import FIXTURES

BRANCHING = FIXTURES / "neural_tangents_branching"


def load(name):
    case = json.loads((BRANCHING / f"{name}.json").read_text())
    x1 = np.array(case["x1"]).reshape(case["x1_shape"])
    x2 = np.array(case["x2"]).reshape(case["x2_shape"])
    return case, x1, x2


def close(got, want):
    want = np.asarray(want)
    assert np.max(np.abs(got - want)) <= 1e-10 * np.max(np.abs(want))


# neural-tangents' README, verbatim but for the import.
def WideResnetBlock(channels, strides=(1, 1), channel_mismatch=False):
    Main = stax.serial(
        stax.Relu(), stax.Conv(channels, (3, 3), strides, padding='SAME'),
        stax.Relu(), stax.Conv(channels, (3, 3), padding='SAME'))
    Shortcut = stax.Identity() if not channel_mismatch else stax.Conv(
        channels, (3, 3), strides, padding='SAME')
    return stax.serial(stax.FanOut(2),
                       stax.parallel(Main, Shortcut),
                       stax.FanInSum())


def WideResnetGroup(n, channels, strides=(1, 1)):
    blocks = []
    blocks += [WideResnetBlock(channels, strides, channel_mismatch=True)]
    for _ in range(n - 1):
        blocks += [WideResnetBlock(channels, (1, 1))]
    return stax.serial(*blocks)


def WideResnet(block_size, k, num_classes, pool=8):
    return stax.serial(
        stax.Conv(16, (3, 3), padding='SAME'),
        WideResnetGroup(block_size, int(16 * k)),
        WideResnetGroup(block_size, int(32 * k), (2, 2)),
        WideResnetGroup(block_size, int(64 * k), (2, 2)),
        stax.AvgPool((pool, pool)),
        stax.Flatten(),
        stax.Dense(num_classes, 1., 0.))


@pytest.mark.parametrize("block_size", [1, 2])
def test_the_readme_wide_resnet_script_gives_neural_tangents_kernels(block_size):
    case, x1, x2 = load(f"wide_resnet_b{block_size}_k1_8x8x3")
    init_fn, apply_fn, kernel_fn = WideResnet(block_size=block_size, k=1, num_classes=1, pool=2)
    k = kernel_fn(x1, x2, ("nngp", "ntk"))
    close(k.nngp, case["nngp"])
    close(k.ntk, case["ntk"])
    close(kernel_fn(x1, x2, "ntk"), case["ntk"])
    # The preset is the same network.
    preset = ntk.kernel_fn(f"WideResnet({block_size}, 1, 1)")(x1, x2, "ntk")
    close(preset, case["ntk"])
    with pytest.raises(NotImplementedError, match="infinitely wide"):
        init_fn(None, x1.shape)
    with pytest.raises(NotImplementedError):
        apply_fn(None, x1)


def test_residual_and_concatenating_mlps():
    case, x1, x2 = load("res_mlp_relu")
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.1),
        stax.FanOut(2),
        stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(64, W_std=1.3, b_std=0.2))),
        stax.FanInSum(),
        stax.Relu(),
        stax.Dense(1, W_std=1.2, b_std=0.05))
    close(net[2](x1, x2, "ntk"), case["ntk"])
    close(ntk.kernel_fn(net)(x1, x2, "nngp"), case["nngp"])
    case, x1, x2 = load("concat_sumpool_8x8x3")
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME", W_std=1.2),
        stax.FanOut(2),
        stax.parallel(stax.serial(stax.Relu(), stax.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1)),
                      stax.serial(stax.Erf(), stax.Conv(8, (1, 1), W_std=1.1))),
        stax.FanInConcat(), stax.Conv(8, (3, 3), padding="SAME", W_std=1.0),
        stax.Relu(), stax.SumPool((2, 2), (2, 2)), stax.Conv(8, (3, 3), padding="SAME", W_std=np.float32(0.5)),
        stax.Relu(), stax.GlobalSumPool(), stax.Dense(1, W_std=0.2))
    close(net[2](x1, x2, "ntk"), case["ntk"])


def test_layers_are_architectures_everywhere():
    net = stax.serial(stax.Dense(16, W_std=1.2, b_std=0.1), stax.FanOut(2),
                      stax.parallel(stax.serial(stax.Gelu(), stax.Dense(16, W_std=1.4)), stax.Identity()),
                      stax.FanInSum(), stax.Gelu(), stax.Dense(1))
    text = str(net)
    assert net.arch == text
    x = np.random.default_rng(3).normal(size=(30, 5))
    y = x[:, 0] - 0.5 * x[:, 1]
    # The same features from the layer and from its string.
    z1 = ntk.features(net, x, dim=256, seed=2)
    z2 = ntk.features(text, x, dim=256, seed=2)
    assert np.array_equal(z1, z2)
    fm = ntk.FeatureMap(net, (5,), dim=4096, seed=1)
    k = ntk.kernel_fn(net)(x, None, "ntk")
    z = fm(x)
    # Features approximate the kernel (the Rust tests bound the error; a
    # dropped branch errs by more than 30 %).
    assert np.linalg.norm(z @ z.T - k) <= 0.1 * np.linalg.norm(k)
    assert ntk.KernelRidge(net, alpha=1e-3).fit(x, y).score(x, y) > 0.9
    assert ntk.FeatureRidge(net, dim=512, alpha=1e-3).fit(x, y).score(x, y) > 0.9


def test_mistakes_are_value_errors():
    with pytest.raises(ValueError, match="column"):
        stax.serial(stax.Dense(1), stax.FanOut(3), stax.parallel(stax.Identity(), stax.Dense(1)),
                    stax.FanInSum()).arch
    with pytest.raises(ValueError, match="W_std"):
        stax.serial(stax.Dense(1, W_std=-1.0))[2](np.ones((2, 3)))
    # neural_tangents' own layers are tuples of functions: refused with
    # what to do instead.
    fake_nt = (lambda *a: None, lambda *a: None, lambda *a: None)
    with pytest.raises(ValueError, match="from ntk import stax"):
        ntk.kernel_fn(fake_nt)
    with pytest.raises(ValueError, match="from ntk import stax"):
        stax.serial(stax.Dense(1), fake_nt)
    with pytest.raises(ValueError, match="argument"):
        stax.Dense(1, W_std=object())


def test_numerical_activations_take_functions_by_name():
    a = stax.serial(stax.Dense(1, 1.3, 0.1), stax.ElementwiseNumerical(fn=np.tanh, deg=25), stax.Dense(1))
    b = "Dense(1, 1.3, 0.1), ElementwiseNumerical(fn=tanh, deg=25), Dense(1)"
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert np.array_equal(a[2](x, None, "ntk"), ntk.kernel_fn(b)(x, None, "ntk"))
