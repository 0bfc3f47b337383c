"""Exact kernels against neural-tangents 0.6.5 (float64): every committed
fixture, through the architecture strings of the CLI.

Tolerance rule (docs/NUMERICS.md, "Exact kernels"; the same as the Rust
fixture test): 1e-10 of each matrix's largest entry; 1e-6 on the pairs a
fixture lists as parallel, where theta = atan2(sqrt(det), c) carries
sqrt(eps) ~ 1.5e-8 of noise on either side.
"""

import json

import numpy as np
import pytest

import ntk
from conftest import FIXTURES

# neural-tangents' cases only: `golden/` holds ntk-features' recorded
# outputs (tests/golden.rs), which are not kernel cases.
CASES = sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name != "golden")


def num(v):
    # repr() of a float is the shortest string that reads back exactly.
    return repr(float(v))


def opt(v):
    return "None" if v is None else num(v)


def activation(l):
    name = l["name"]
    simple = {"relu": "Relu", "abs": "Abs", "sign": "Sign", "gelu": "Gelu",
              "sigmoid_like": "Sigmoid_like", "gabor": "Gabor"}
    if name in simple:
        return simple[name]
    if name == "leaky_relu":
        return f"LeakyRelu(alpha={num(l['alpha'])})"
    if name == "ab_relu":
        return f"ABRelu(a={num(l['a'])}, b={num(l['b'])})"
    if name in ("erf", "sin", "cos"):
        return f"{name.capitalize()}(a={num(l['a'])}, b={num(l['b'])}, c={num(l['c'])})"
    if name == "rbf":
        return f"Rbf(gamma={num(l['gamma'])})"
    if name in ("exp", "gaussian"):
        return f"{name.capitalize()}(a={num(l['a'])}, b={num(l['b'])})"
    if name == "exp_normalized":
        clip = "True" if l["do_clip"] else "False"
        return f"ExpNormalized(gamma={num(l['gamma'])}, shift={num(l['shift'])}, do_clip={clip})"
    if name == "hermite":
        return f"Hermite(degree={l['degree']})"
    if name == "monomial":
        return f"Monomial(degree={l['degree']})"
    if name == "rectified_monomial":
        return f"RectifiedMonomial(degree={l['degree']})"
    if name == "polynomial":
        return "Polynomial(coef=[" + ", ".join(num(c) for c in l["coef"]) + "])"
    if name == "numerical":
        return f"ElementwiseNumerical(fn={l['fn']}, deg={l['deg']})"
    raise AssertionError(f"unknown activation {name}")


def layer(l):
    t = l["type"]
    if t == "dense":
        return f"Dense(W_std={num(l['W_std'])}, b_std={opt(l['b_std'])})"
    if t == "conv":
        f, s = l["filter_shape"], l["strides"]
        return (f"Conv(filter_shape=({f[0]}, {f[1]}), strides=({s[0]}, {s[1]}), "
                f"padding={l['padding']}, W_std={num(l['W_std'])}, b_std={opt(l['b_std'])})")
    if t == "avg_pool":
        w, s = l["window_shape"], l["strides"]
        assert not l["normalize_edges"]
        return f"AvgPool(window_shape=({w[0]}, {w[1]}), strides=({s[0]}, {s[1]}), padding={l['padding']})"
    if t == "global_avg_pool":
        return "GlobalAvgPool"
    if t == "flatten":
        return "Flatten"
    if t == "layer_norm":
        return "LayerNorm"
    if t == "activation":
        return activation(l)
    raise AssertionError(f"unknown layer {t}")


def arch_string(case):
    # Branching cases (tools/gen_nt_branching.py) carry the network in the
    # library's syntax.
    if "stax" in case:
        return case["stax"]
    return ", ".join(layer(l) for l in case["architecture"]["layers"])


def test_every_fixture_is_collected():
    # 203 cases of the shared oracle, 63 of tools/gen_nt_fixtures.py and 7
    # branching networks of tools/gen_nt_branching.py.
    assert len(CASES) == 273


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture(path):
    case = json.loads(path.read_text())
    x1 = np.array(case["x1"], dtype=np.float64).reshape(case["x1_shape"])
    x2 = np.array(case["x2"], dtype=np.float64).reshape(case["x2_shape"])
    k = ntk.kernel_fn(arch_string(case))(x1, x2)
    want_nngp = np.array(case["nngp"])
    want_ntk = np.array(case["ntk"])
    assert k.nngp.shape == want_nngp.shape and k.ntk.shape == want_ntk.shape
    tol = np.full(want_nngp.shape, 1e-10)
    for i, j in case["parallel_pairs"]:
        tol[i, j] = 1e-6
    mn, mt = np.abs(want_nngp).max(), np.abs(want_ntk).max()
    np.testing.assert_array_less(np.abs(k.nngp - want_nngp), tol * mn + 1e-300)
    np.testing.assert_array_less(np.abs(k.ntk - want_ntk), tol * mt + 1e-300)
    # The diagonal K(x, x) of each side, from the symmetric call (its own
    # code path: one triangle computed, the diagonal from each sample alone).
    for x, key in ((x1, "cov1"), (x2, "cov2")):
        got = np.diag(ntk.kernel_fn(arch_string(case))(x, get="nngp"))
        want = np.array(case[key])
        assert np.all(np.abs(got - want) <= 1e-9 * np.maximum(mn, np.abs(want))), key
