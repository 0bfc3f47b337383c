"""Fixtures for `ntk_solve::MseEnsemble` from neural-tangents 0.6.5's
`predict.gradient_descent_mse_ensemble` (float64, CPU).

Writes crates/ntk-solve/tests/fixtures/nt_predict.json: for two networks,
the training, cross and test kernels that neural-tangents computed, the
targets, and its means and covariances (both regimes) at several times,
with diag_reg relative and absolute and two learning rates.

    /work/ntvenv/bin/python tools/gen_nt_predict.py
"""

import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import predict, stax  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "crates/ntk-solve/tests/fixtures/nt_predict.json"

NETS = {
    "relu": (stax.serial(stax.Dense(512, W_std=1.5, b_std=0.1), stax.Relu(), stax.Dense(1, W_std=1.5)),
             "Dense(512, W_std=1.5, b_std=0.1), Relu, Dense(1, W_std=1.5)"),
    "erf": (stax.serial(stax.Dense(512, W_std=1.2), stax.Erf(), stax.Dense(512, W_std=1.2), stax.Erf(),
                        stax.Dense(1, W_std=1.2, b_std=0.2)),
            "Dense(512, W_std=1.2), Erf, Dense(512, W_std=1.2), Erf, Dense(1, W_std=1.2, b_std=0.2)"),
}
TIMES = [0.0, 0.5, 7.0, 300.0, None]
rng = np.random.default_rng(2026)
cases = []
for name, ((_, _, kernel_fn), arch) in NETS.items():
    x_train = rng.normal(size=(9, 4))
    x_test = rng.normal(size=(5, 4))
    y_train = rng.normal(size=(9, 2))
    k_dd = kernel_fn(x_train, None)
    k_td = kernel_fn(x_test, x_train)
    k_tt = kernel_fn(x_test, None, "nngp")
    for diag_reg, absolute, lr in [(1e-2, False, 1.0), (0.3, True, 2.5), (0.0, False, 1.0)]:
        fn = predict.gradient_descent_mse_ensemble(
            kernel_fn, x_train, y_train, learning_rate=lr, diag_reg=diag_reg,
            diag_reg_absolute_scale=absolute)
        results = []
        for t in TIMES:
            if t is None and diag_reg == 0.0:
                continue
            out = fn(t=t, x_test=x_test, get=("nngp", "ntk"), compute_cov=True)
            results.append({
                "t": t,
                "nngp_mean": np.asarray(out.nngp.mean).tolist(),
                "ntk_mean": np.asarray(out.ntk.mean).tolist(),
                "nngp_cov": np.asarray(out.nngp.covariance).tolist(),
                "ntk_cov": np.asarray(out.ntk.covariance).tolist(),
            })
        cases.append({
            "name": f"{name}_reg{diag_reg}_{'abs' if absolute else 'rel'}_lr{lr}",
            "architecture": arch,
            "x_train": x_train.tolist(),
            "x_test": x_test.tolist(),
            "diag_reg": diag_reg,
            "absolute": absolute,
            "learning_rate": lr,
            "k_train": {"nngp": np.asarray(k_dd.nngp).tolist(), "ntk": np.asarray(k_dd.ntk).tolist()},
            "k_cross": {"nngp": np.asarray(k_td.nngp).T.tolist(), "ntk": np.asarray(k_td.ntk).T.tolist()},
            "k_test_nngp": np.asarray(k_tt).tolist(),
            "y_train": y_train.tolist(),
            "results": results,
        })

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps({
    "source": "neural-tangents 0.6.5, jax 0.4.23, float64, predict.gradient_descent_mse_ensemble",
    "layout": "k_cross is K(X_train, X_test) (n_train x n_test); y_train and means are (n, k); t null is infinity",
    "cases": cases,
}, indent=1))
print(f"wrote {OUT} ({len(cases)} cases)")
