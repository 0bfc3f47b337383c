"""Predictions of infinite ensembles of infinitely wide networks, in
neural-tangents' shape (``neural_tangents.predict``).

    >>> import numpy as np, ntk
    >>> kernel_fn = ntk.kernel_fn("Dense(W_std=1.5), Relu, Dense(W_std=1.5)")
    >>> rng = np.random.default_rng(0)
    >>> x, y, xt = rng.normal(size=(8, 3)), rng.normal(size=(8, 1)), rng.normal(size=(2, 3))
    >>> predict_fn = ntk.predict.gradient_descent_mse_ensemble(kernel_fn, x, y, diag_reg=1e-3)
    >>> predict_fn(t=10.0, x_test=xt, get="ntk").shape
    (2, 1)
"""

from __future__ import annotations

from collections import namedtuple
from typing import Optional

import numpy as np

from . import _ntk

__all__ = ["Gaussian", "gradient_descent_mse_ensemble"]

#: Mean and covariance of the ensemble's outputs, as neural-tangents' ``predict.Gaussian``.
Gaussian = namedtuple("Gaussian", ("mean", "covariance"))

_KINDS = ("nngp", "ntk")


def _kernels(kernel_fn, x1, x2, get):
    """``{kind: array}`` from ``kernel_fn(x1, x2, get)`` for a tuple ``get``."""
    out = kernel_fn(x1, x2, tuple(get))
    return {g: np.ascontiguousarray(getattr(out, g), dtype=np.float64) for g in get}


def gradient_descent_mse_ensemble(
    kernel_fn,
    x_train,
    y_train,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
):
    """The Gaussian of the outputs of an infinite ensemble of infinitely
    wide networks trained by gradient descent on the MSE
    ``0.5·||f(X) − Y||²/y_train.size`` with ``learning_rate``, at any time:
    neural-tangents' function of the same name and arguments.

    ``kernel_fn`` is :func:`ntk.kernel_fn`'s (or any function
    ``kernel_fn(x1, x2, get)`` returning a namedtuple with ``nngp``/``ntk``).
    ``diag_reg`` is added to the training kernel's diagonal, times the mean of
    that diagonal unless ``diag_reg_absolute_scale``.

    Returns ``predict_fn(t=None, x_test=None, get=None, compute_cov=False)``:
    ``t`` a time, a sequence of times (a leading axis in the result) or
    ``None`` (the end of training: kernel ridge, the NNGP posterior);
    ``get`` ``"nngp"``, ``"ntk"``, a tuple, or ``None`` for both; with
    ``compute_cov`` each regime gives a :data:`Gaussian` of the mean
    ``(n_test, k)`` and the covariance ``(n_test, n_test)`` (shared by the
    ``k`` outputs), else the mean. One eigendecomposition per regime serves
    every time.

    Differences from neural-tangents: ``x_test`` is required (pass
    ``x_test=x_train`` for the training set); at a zero eigenvalue and a
    finite time the flow's limit ``t·η/N`` is used where neural-tangents
    returns NaN.
    """
    x_train = np.asarray(x_train)
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"y_train must have shape (n,) or (n, k), got {y.shape}")
    if y.shape[0] != x_train.shape[0]:
        raise ValueError(f"y_train has {y.shape[0]} samples, x_train {x_train.shape[0]}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y_train holds a non-finite value")
    y = np.ascontiguousarray(y)
    reg = float(diag_reg)
    if not np.isfinite(reg) or reg < 0:
        raise ValueError(f"diag_reg must be finite and >= 0, got {diag_reg!r}")
    k_train = _kernels(kernel_fn, x_train, None, _KINDS)
    ensembles = {}

    def ensemble(g):
        if g not in ensembles:
            ensembles[g] = _ntk._MseEnsemble(k_train[g], y, reg, bool(diag_reg_absolute_scale),
                                              float(learning_rate))
        return ensembles[g]

    def predict_fn(t: Optional[object] = None, x_test=None, get=None, compute_cov: bool = False):
        if x_test is None:
            raise ValueError("x_test is required (pass x_test=x_train for the training set)")
        names = _KINDS if get is None else ((get,) if isinstance(get, str) else tuple(get))
        for g in names:
            if g not in _KINDS:
                raise ValueError(f"get must be 'nngp', 'ntk' or a tuple of them, got {g!r}")
        times = np.atleast_1d(np.asarray(np.inf if t is None else t, dtype=np.float64))
        if times.ndim != 1:
            raise ValueError("t must be None, a number or a sequence of numbers")
        k_cross = _kernels(kernel_fn, x_test, x_train, _KINDS)
        k_test = _kernels(kernel_fn, x_test, None, ("nngp",))["nngp"] if compute_cov else None
        out = {}
        for g in names:
            e = ensemble(g)
            means, covs = [], []
            for ti in times:
                means.append(e.mean(k_cross[g], float(ti)))
                if compute_cov:
                    if g == "nngp":
                        covs.append(e.nngp_covariance(k_cross["nngp"], k_test, float(ti)))
                    else:
                        covs.append(e.ntk_covariance(k_cross["ntk"], k_train["nngp"],
                                                     k_cross["nngp"], k_test, float(ti)))
            squeeze = np.ndim(t) == 0
            mean = means[0] if squeeze else np.stack(means)
            if compute_cov:
                cov = covs[0] if squeeze else np.stack(covs)
                out[g] = Gaussian(mean, cov)
            else:
                out[g] = mean
        if isinstance(get, str):
            return out[get]
        return namedtuple("Gaussians", names)(*(out[g] for g in names))

    return predict_fn
