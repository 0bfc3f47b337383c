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
    # The finite network runs too (width 16·k channels).
    shape, params = init_fn(0, x1.shape)
    assert shape == (len(x1), 1) and apply_fn(params, x1).shape == (len(x1), 1)
    close(k.nngp, case["nngp"])
    close(k.ntk, case["ntk"])
    close(kernel_fn(x1, x2, "ntk"), case["ntk"])
    # The preset is the same network.
    preset = ntk.kernel_fn(f"WideResnet({block_size}, 1, 1)")(x1, x2, "ntk")
    close(preset, case["ntk"])


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
        stax.Dense(1, W_std=-1.0)
    with pytest.raises(ValueError, match="parameterization"):
        stax.Dense(1, parameterization="standard")
    with pytest.raises(ValueError, match="stax.Dense"):
        stax.Dense(1, 2.0, 0.1, 0, -1, "ntk", 7)
    with pytest.raises(ValueError, match="cannot be an argument"):
        stax.Dense(stax.Relu())
    with pytest.raises(ValueError, match="column 13"):
        ntk.kernel_fn("Dense(serial(Relu))")
    # Branches of different spatial sizes meet at a FanInSum: the kernel
    # and the finite network both refuse.
    bad = stax.serial(stax.Conv(4, (3, 3), padding="SAME"), stax.FanOut(2),
                      stax.parallel(stax.Identity(), stax.Conv(4, (3, 3), (2, 2), padding="SAME")),
                      stax.FanInSum(), stax.GlobalAvgPool(), stax.Dense(1))
    with pytest.raises(ValueError, match="disagree in shape"):
        bad[2](np.ones((2, 6, 6, 1)))
    with pytest.raises(ValueError, match="shape"):
        bad[0](0, (2, 6, 6, 1))
    # Layers neural-tangents has and this library does not.
    with pytest.raises(AttributeError):
        stax.GlobalSelfAttention
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


SCRIPTS = FIXTURES.parents[3] / "python" / "tests" / "scripts"
SCRIPT_FIXTURES = FIXTURES.parents[3] / "python" / "tests" / "fixtures" / "scripts"
EPS = np.finfo(np.float64).eps


def run_script(name, data):
    """A neural-tangents script with only its imports changed."""
    text = (SCRIPTS / f"{name}.py").read_text()
    for old, new in (("import neural_tangents as nt", "import ntk as nt"),
                     ("from neural_tangents import stax", "from ntk import stax")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    assert "neural_tangents" not in text.replace('"""', "").split("import numpy")[1]
    ns = {"DATA": data, "__name__": "__script__"}
    exec(compile(text, name, "exec"), ns)
    return ns["RESULT"]


def solve_tol(k, reg, want):
    # Backward-stable solves on both sides (tests/test_predict.py's rule,
    # 64·n·ε·cond of the scale), plus the kernels' own difference from
    # neural-tangents' (the fixture rule, 1e-10 of the scale), which a
    # solve amplifies by at most cond.
    s = np.linalg.eigvalsh(k + reg * np.eye(len(k)))
    cond = s[-1] / s[0]
    return cond * (64 * len(k) * EPS + 1e-10) * max(np.abs(want).max(), 1.0)


def test_infinite_fcn_script_runs_with_only_its_imports_changed():
    f = np.load(SCRIPT_FIXTURES / "infinite_fcn.npz")
    r = run_script("infinite_fcn", (f["x_train"], f["y_train"], f["x_test"], f["y_test"]))
    k = ntk.kernel_fn("Dense(1, 2., 0.05), Relu, Dense(1, 2., 0.05)")(f["x_train"])
    for g in ("nngp", "ntk"):
        # diag_reg=1e-3 relative to the mean diagonal (neural-tangents' default scale).
        tol = solve_tol(k[["nngp", "ntk"].index(g)], 1e-3 * np.trace(k[["nngp", "ntk"].index(g)]) / len(k[0]),
                        f[g])
        assert np.abs(r[g] - f[g]).max() <= tol, (g, np.abs(r[g] - f[g]).max(), tol)
        assert r[f"{g}_accuracy"] == f[f"{g}_accuracy"]
        # |Δ loss| <= mean |fx − y| · max |Δ fx| + max |Δ fx|²/2.
        resid = np.abs(f[g] - f["y_test"]).mean()
        assert abs(r[f"{g}_loss"] - f[f"{g}_loss"]) <= resid * tol + tol * tol
    assert f["ntk_accuracy"] >= 0.9  # a real classifier, not a degenerate fixture


def test_wide_resnet_script_runs_with_only_its_imports_changed():
    f = np.load(SCRIPT_FIXTURES / "wide_resnet.npz")
    r = run_script("wide_resnet", (f["x_train"], f["y_train"], f["x_test"]))
    close(r["nngp"], f["nngp"])
    close(r["ntk"], f["ntk"])
    # The finite-time mean goes through an eigendecomposition of K_train:
    # the solve rule above with the regulariser 1e-4 (relative).
    kt = ntk.kernel_fn("WideResnet(2, 1, 2)")(f["x_train"], None, "ntk")
    tol = solve_tol(kt, 1e-4 * np.trace(kt) / len(kt), f["fx_ntk_t10"])
    assert np.abs(r["fx_ntk_t10"] - f["fx_ntk_t10"]).max() <= tol


def test_parse_gives_back_the_layer():
    net = stax.serial(stax.Dense(32, W_std=1.2, b_std=0.1), stax.FanOut(2),
                      stax.parallel(stax.serial(stax.Erf(), stax.Dense(32, W_std=1.4)), stax.Identity()),
                      stax.FanInSum(), stax.Gelu(), stax.Dense(1))
    back = stax.parse(str(net))
    x = np.random.default_rng(4).normal(size=(5, 3))
    assert np.array_equal(back[2](x, None, "ntk"), net[2](x, None, "ntk"))
    # The finite networks are the same too (same key, same parameters).
    _, p1 = net[0](7, x.shape)
    _, p2 = back[0](7, x.shape)
    assert np.array_equal(net[1](p1, x), back[1](p2, x))
    # The canonical string of the library parses as well.
    canonical = ntk.FeatureMap(net, (3,), dim=64).arch
    assert np.array_equal(stax.parse(canonical)[2](x, None, "nngp"), net[2](x, None, "nngp"))
    for bad in ("Dense, __import__('os')", "Dense, FanOut(3), parallel(Dense, Dense), FanInSum"):
        with pytest.raises(ValueError):
            stax.parse(bad)


def test_batch_returns_an_equivalent_function():
    kfn = stax.serial(stax.Dense(1), stax.Relu(), stax.Dense(1))[2]
    x = np.random.default_rng(5).normal(size=(6, 3))
    assert np.array_equal(ntk.batch(kfn, batch_size=2, device_count=0, store_on_device=False)(x, None, "ntk"),
                          kfn(x, None, "ntk"))
    with pytest.raises(ValueError):
        ntk.batch(kfn, batch_size=-1)


def empirical(phi, w_std, b_std):
    """The last layer's empirical NNGP from features phi (n, width):
    W²/width · φφᵀ + b², a mean over `width` terms, with the standard error
    of each entry from the terms themselves."""
    n, m = phi.shape
    terms = w_std ** 2 * phi[:, None, :] * phi[None, :, :]
    return terms.mean(axis=2) + b_std ** 2, terms.std(axis=2) / np.sqrt(m)


@pytest.mark.parametrize("seed", [0, 1])
def test_wide_finite_networks_have_the_kernel_as_their_covariance(seed):
    # One hidden layer: given x, the width's units are i.i.d., so the
    # last layer's empirical NNGP is a mean of i.i.d. terms whose standard
    # error the terms estimate; 5 standard errors both ways (fails by
    # chance with probability < 1e-5 per entry, 36 entries). A finite
    # network with the wrong scale (W_std/sqrt(fan_in) dropped) or the
    # wrong activation is off by many standard errors.
    x = np.random.default_rng(10 + seed).normal(size=(6, 4)) * np.array([[0.5], [1], [1.5], [1], [2], [0.3]])
    width = 4096
    hidden = stax.serial(stax.Dense(width, W_std=1.3, b_std=0.2), stax.Erf())
    _, params = hidden[0](seed, x.shape)
    k_hat, se = empirical(hidden[1](params, x), 1.1, 0.1)
    want = stax.serial(stax.Dense(1, W_std=1.3, b_std=0.2), stax.Erf(), stax.Dense(1, W_std=1.1, b_std=0.1))[2](x, None, "nngp")
    assert np.all(np.abs(k_hat - want) <= 5 * se + 1e-12), (k_hat - want) / se
    # Images: a Conv's channels are i.i.d. too; the same check after a
    # residual block of convolutions sums (GlobalAvgPool, then the head).
    xi = np.random.default_rng(20 + seed).normal(size=(4, 6, 6, 2))
    hidden = stax.serial(stax.Conv(width, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
                         stax.GlobalAvgPool())
    _, params = hidden[0](np.random.default_rng(seed), xi.shape)
    k_hat, se = empirical(hidden[1](params, xi), 1.2, 0.0)
    want = stax.serial(stax.Conv(1, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
                       stax.GlobalAvgPool(), stax.Dense(1, W_std=1.2))[2](xi, None, "nngp")
    assert np.all(np.abs(k_hat - want) <= 5 * se + 1e-12), (k_hat - want) / se


def test_finite_residual_network_is_the_composition():
    # apply_fn of a residual block equals the same arithmetic written out
    # (the 'ntk' parameterization: W_std/sqrt(fan_in) · x W + b_std · b).
    x = np.random.default_rng(6).normal(size=(3, 5))
    net = stax.serial(stax.Dense(7, W_std=1.5, b_std=0.1), stax.FanOut(2),
                      stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(7, W_std=1.3))),
                      stax.FanInSum(), stax.FanOut(2),
                      stax.parallel(stax.Dense(4), stax.serial(stax.Gelu(), stax.Dense(3))),
                      stax.FanInConcat(), stax.Dense(1))
    shape, p = net[0](np.random.default_rng(1), (-1, 5))
    assert shape == (-1, 1)
    (W1, b1), _, (_, (_, (W2, _))), _, _, ((W3, _), (_, (W4, _))), _, (W5, _) = p
    h = 1.5 / np.sqrt(5) * x @ W1 + 0.1 * b1
    h = h + 1.3 / np.sqrt(7) * np.maximum(h, 0) @ W2
    from ntk._finite import REGISTRY
    c = np.concatenate([h @ W3 / np.sqrt(7), REGISTRY["gelu"](h) @ W4 / np.sqrt(7)], axis=1)
    want = c @ W5 / np.sqrt(7)
    assert np.allclose(net[1](p, x), want, rtol=1e-13, atol=1e-13)
    # A layer without a pointwise function has no finite network.
    with pytest.raises(NotImplementedError, match="pointwise"):
        e = stax.serial(stax.Dense(3), stax.ExpNormalized(), stax.Dense(1))
        e[1](e[0](0, (2, 4))[1], np.ones((2, 4)))
