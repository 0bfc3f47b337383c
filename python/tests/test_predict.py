"""`ntk.predict.gradient_descent_mse_ensemble` against neural-tangents
0.6.5's function of the same name (tools/gen_nt_predict.py: two networks,
relative and absolute diag_reg, learning rates 1 and 2.5, t = 0, 0.5, 7,
300 and infinity; means and covariances of both regimes)."""

import json

import numpy as np
import pytest

import ntk
from conftest import ROOT

CASES = json.loads((ROOT / "crates/ntk-solve/tests/fixtures/nt_predict.json").read_text())["cases"]
EPS = np.finfo(np.float64).eps


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_equals_neural_tangents(case):
    kfn = ntk.kernel_fn(case["architecture"])
    x, xt = np.array(case["x_train"]), np.array(case["x_test"])
    y = np.array(case["y_train"])
    # Our kernels are neural-tangents' (the fixture rule: 1e-10 of the scale).
    for g in ("nngp", "ntk"):
        want = np.array(case["k_train"][g])
        assert np.abs(kfn(x, None, g) - want).max() <= 1e-10 * np.abs(want).max()
    predict_fn = ntk.predict.gradient_descent_mse_ensemble(
        kfn, x, y, learning_rate=case["learning_rate"], diag_reg=case["diag_reg"],
        diag_reg_absolute_scale=case["absolute"])
    for res in case["results"]:
        got = predict_fn(t=res["t"], x_test=xt, get=("nngp", "ntk"), compute_cov=True)
        for g in ("nngp", "ntk"):
            k = np.array(case["k_train"][g])
            r = case["diag_reg"] * (1.0 if case["absolute"] else np.trace(k) / len(k))
            s = np.linalg.eigvalsh(k + r * np.eye(len(k)))
            cond = s[-1] / s[0]
            # Backward-stable solves on both sides: n·ε·cond of the scale, 64×.
            for field, key in (("mean", f"{g}_mean"), ("covariance", f"{g}_cov")):
                want = np.array(res[key])
                tol = 64 * len(k) * EPS * cond * max(np.abs(want).max(), 1.0)
                err = np.abs(getattr(getattr(got, g), field) - want).max()
                assert err <= tol, (case["name"], res["t"], g, field, err, tol)


def test_times_and_shapes():
    case = CASES[0]
    kfn = ntk.kernel_fn(case["architecture"])
    x, xt, y = np.array(case["x_train"]), np.array(case["x_test"]), np.array(case["y_train"])
    p = ntk.predict.gradient_descent_mse_ensemble(kfn, x, y, diag_reg=1e-2)
    many = p(t=[0.0, 1.0, 5.0], x_test=xt, get="ntk")
    assert many.shape == (3, len(xt), y.shape[1])
    np.testing.assert_array_equal(many[0], np.zeros_like(many[0]))
    np.testing.assert_array_equal(many[2], p(t=5.0, x_test=xt, get="ntk"))
    # t = None is kernel ridge with lambda = diag_reg times the mean diagonal.
    k = kfn(x, None, "ntk")
    lam = 1e-2 * np.trace(k) / len(k)
    ridge = ntk.KernelRidge(case["architecture"], alpha=lam).fit(x, y).predict(xt)
    np.testing.assert_allclose(p(x_test=xt, get="ntk"), ridge, rtol=1e-9, atol=1e-12)
    both = p(t=2.0, x_test=xt)
    assert both._fields == ("nngp", "ntk")
    with pytest.raises(ValueError, match="x_test"):
        p(t=1.0)
    with pytest.raises(ValueError, match="training time"):
        p(t=-1.0, x_test=xt, get="nngp")
    with pytest.raises(ValueError, match="get"):
        p(t=1.0, x_test=xt, get="gp")
    with pytest.raises(ValueError, match="diag_reg"):
        ntk.predict.gradient_descent_mse_ensemble(kfn, x, y, diag_reg=-1.0)
