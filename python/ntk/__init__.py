"""Neural-network kernels without JAX: exact NNGP/NTK/CNTK equal to
neural-tangents (stax, 'ntk' parameterization), and feature maps whose
inner products approximate them, on every CPU core.

    >>> import numpy as np, ntk
    >>> kernel_fn = ntk.kernel_fn("Dense(W_std=1.5), Relu, Dense(W_std=1.5)")
    >>> x = np.random.default_rng(0).normal(size=(4, 3))
    >>> kernel_fn(x, None, "ntk").shape
    (4, 4)

Architectures are the strings of the ``ntk`` command line (``ntk arch
--help``): ``Dense``, ``Conv``, ``AvgPool``, ``GlobalAvgPool``, ``Flatten``,
``LayerNorm``, ``SumPool``, ``GlobalSumPool``, every activation of
neural-tangents' stax, the branching combinators (``FanOut``, ``parallel``,
``FanInSum``, ``FanInConcat``, ``Identity``, ``serial``) and the presets
``Myrtle5``/``Myrtle7``/``Myrtle10`` and ``WideResnet(block_size, k,
num_classes)``; or the same network built with :mod:`ntk.stax`, whose
functions are neural-tangents' (``from ntk import stax``), wherever an
architecture is taken. Inputs are ``(n, d)`` vectors or
``(n, H, W, C)`` images (NHWC, as neural-tangents), of any real dtype; the
results are float64 NumPy arrays. Errors raise ``ValueError`` with the
library's message; Ctrl-C interrupts long computations.
"""

from __future__ import annotations

import inspect
from collections import namedtuple
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _ntk
from . import predict
from . import stax

__version__ = _ntk.__version__

__all__ = [
    "Kernel",
    "KernelFn",
    "kernel_fn",
    "methods",
    "FeatureMap",
    "features",
    "KernelRidge",
    "FeatureRidge",
    "predict",
    "stax",
    "batch",
]

#: The kernels a ``get=(...)`` tuple asks for, in the order asked.
_KINDS = ("nngp", "ntk")

#: The result of ``kernel_fn(x1, x2)`` for ``get=None``: both kernels.
Kernel = namedtuple("Kernel", _KINDS)


def methods() -> list:
    """The feature methods as ``[(name, summary), ...]``, from the
    library's registry (the values ``method=`` takes, in the order the
    documentation lists them); ``hermite`` comes first and is the default.
    """
    return [(str(name), str(summary)) for name, summary in _ntk.methods()]


def batch(kernel_fn, batch_size: int = 0, device_count: int = -1, store_on_device: bool = True):
    """neural-tangents' ``nt.batch``: accepted so that scripts run as they
    are, and returns ``kernel_fn`` itself — the exact kernels stream their
    work internally (memory bounded by the output), so there is nothing to
    batch. The arguments are checked as neural-tangents would."""
    if not callable(kernel_fn):
        raise ValueError(f"batch takes a kernel_fn, got {type(kernel_fn).__name__}")
    if int(batch_size) != batch_size or batch_size < 0:
        raise ValueError(f"batch_size must be a whole number >= 0, got {batch_size!r}")
    if int(device_count) != device_count or device_count < -1:
        raise ValueError(f"device_count must be a whole number >= -1, got {device_count!r}")
    return kernel_fn


def _arch(arch) -> str:
    """An architecture string, from a string or an :mod:`ntk.stax` layer."""
    if isinstance(arch, stax.Layer):
        return str(arch)
    if isinstance(arch, str):
        return arch
    raise ValueError(
        f"arch must be an architecture string or an ntk.stax layer, got {type(arch).__name__}"
        + (
            "; neural_tangents.stax layers are functions the library cannot read: build the "
            "network with `from ntk import stax` instead"
            if isinstance(arch, tuple)
            else ""
        )
    )


def _real_array(x, what: str, dtype=np.float64) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype``; refuses what is not real numbers."""
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold real numbers, got dtype {a.dtype}")
    if a.ndim not in (2, 4):
        raise ValueError(
            f"{what} must have shape (n, d) for vectors or (n, H, W, C) for images "
            f"(NHWC), got {a.shape}"
        )
    return np.ascontiguousarray(a, dtype=dtype)


def _targets(y, n: int) -> Tuple[np.ndarray, bool]:
    """Targets as a C-contiguous float64 ``(n, k)`` array, and whether ``y`` was 1-D."""
    a = np.asarray(y)
    if a.dtype == object or a.dtype.kind not in "fiub":
        raise ValueError(f"y must hold real numbers, got dtype {a.dtype}")
    if a.ndim == 1:
        a, flat = a[:, None], True
    elif a.ndim == 2:
        flat = False
    else:
        raise ValueError(f"y must have shape (n,) or (n, k), got {a.shape}")
    if a.shape[0] != n:
        raise ValueError(f"y has {a.shape[0]} samples, X has {n}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("y holds a non-finite value")
    return a, flat


def _threads(threads) -> Optional[int]:
    if threads is None:
        return None
    t = int(threads)
    if t != threads or t < 1:
        raise ValueError(f"threads must be a whole number >= 1 (or None: every core), got {threads!r}")
    return t


class KernelFn:
    """The exact kernel function of one architecture, called like
    neural-tangents' ``kernel_fn``: ``kernel_fn(x1, x2=None, get=None)``.

    ``get`` is ``"nngp"``, ``"ntk"``, a tuple of those (a namedtuple comes
    back, fields in the order asked), or ``None`` (a :data:`Kernel` with
    both). ``x2=None`` means ``x1`` with itself. ``threads``: worker
    threads (``None``: every core); the result does not depend on it.
    """

    def __init__(self, arch, threads: Optional[int] = None):
        arch = _arch(arch)
        _ntk.check_arch(arch)
        self.arch = arch
        self.threads = _threads(threads)

    def __repr__(self) -> str:
        return f"ntk.kernel_fn({self.arch!r})"

    def describe(self, sample_shape: Sequence[int]) -> str:
        """The layers for samples of ``sample_shape`` (``(d,)`` or ``(H, W, C)``)."""
        return _ntk.describe(self.arch, [int(s) for s in sample_shape])

    def __call__(self, x1, x2=None, get: Union[None, str, Sequence[str]] = None, *, threads=None):
        names, single = _parse_get(get)
        a = _real_array(x1, "x1")
        b = None if x2 is None else _real_array(x2, "x2")
        t = self.threads if threads is None else _threads(threads)
        nngp, ntk_ = _ntk.kernels(self.arch, a, b, t)
        values = {"nngp": nngp, "ntk": ntk_}
        if single:
            return values[names[0]]
        if get is None:
            return Kernel(nngp, ntk_)
        return namedtuple("Kernel", names)(*(values[k] for k in names))


def _parse_get(get) -> Tuple[Tuple[str, ...], bool]:
    if get is None:
        return _KINDS, False
    if isinstance(get, str):
        names, single = (get,), True
    else:
        names, single = tuple(get), False
    if not names:
        raise ValueError("get must name at least one of 'nngp', 'ntk'")
    for k in names:
        if k not in _KINDS:
            raise ValueError(f"get must be 'nngp', 'ntk' or a tuple of them, got {k!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"get names a kernel twice: {names}")
    return names, single


def kernel_fn(arch: str, threads: Optional[int] = None) -> KernelFn:
    """The exact kernel function of ``arch`` (neural-tangents' ``kernel_fn``).

    >>> import numpy as np, ntk
    >>> k = ntk.kernel_fn("Dense(W_std=1.5, b_std=0.1), Erf, Dense(W_std=1.5)")
    >>> x = np.ones((2, 3))
    >>> bool(np.allclose(k(x, get="nngp"), k(x, x, get="nngp")))
    True
    """
    return KernelFn(arch, threads)


class FeatureMap:
    """Seeded explicit features ``Z(x)`` with ``Z(x) @ Z(y).T ≈ K(x, y)``,
    for samples of one shape. The same object (or the same arguments and
    seed) maps training and test samples with the same random maps.

    ``method``: ``hermite`` (default) or another name of ``ntk.methods()``,
    which says what each covers (``docs/NUMERICS.md``, "Feature maps"). ``kernel``: ``"ntk"`` or
    ``"nngp"``. ``dtype``: ``"float64"`` or ``"float32"`` (half the memory;
    the same random maps). ``calibrate``: scale each sample's features to
    the exact kernel diagonal ``K(x, x)`` (``None``: on for ``hermite``,
    ``ntkrf`` and ``cntksketch``). ``polynomial`` (``ntksketch``,
    ``cntksketch``): ``"fit"`` (the 2021 fits), ``"taylor"``, or ``"data"``
    (``ntksketch``: the 2021 fits reweighted to the correlations of
    ``fit_sample``, an ``(s, d)`` array of training samples, of which at most
    256 evenly spaced are used, as ``ntk features --polynomial data``).
    """

    def __init__(
        self,
        arch: str,
        sample_shape: Union[int, Sequence[int]],
        dim: int = 4096,
        method: str = "hermite",
        kernel: str = "ntk",
        seed: int = 0,
        degree: Optional[int] = None,
        tolerance: Optional[float] = None,
        max_degree: Optional[int] = None,
        inner_dim: Optional[int] = None,
        node_dim: Optional[int] = None,
        polynomial: str = "fit",
        match_tails: Optional[bool] = None,
        calibrate: Optional[bool] = None,
        dtype: str = "float64",
        fit_sample=None,
    ):
        shape = [int(sample_shape)] if np.isscalar(sample_shape) else [int(s) for s in sample_shape]
        sample = None
        if fit_sample is not None:
            sample = _real_array(fit_sample, "fit_sample", np.dtype(np.float64))
            if sample.ndim != 2 or [sample.shape[1]] != shape:
                raise ValueError(
                    f"fit_sample must have shape (s, {shape[0] if len(shape) == 1 else 'd'}) "
                    f"for samples of shape {tuple(shape)}, got {sample.shape}"
                )
            # The pipeline fits on at most 256 evenly spaced samples, as
            # `ntk features --polynomial data`.
        self._dtype = np.dtype(dtype)
        if self._dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
        spec = {
            "dim": int(dim),
            "method": method,
            "kernel": kernel,
            "seed": int(seed),
            "dtype": self._dtype.name,
            "degree": degree,
            "tolerance": tolerance,
            "max_degree": max_degree,
            "inner_dim": inner_dim,
            "node_dim": node_dim,
            "polynomial": polynomial,
            "match_tails": match_tails,
            "calibrate": calibrate,
        }
        self._map = _ntk._FeatureMap(_arch(arch), shape, spec, sample)
        self.sample_shape = tuple(shape)
        self.method, self.kernel, self.seed, self.requested_dim = method, kernel, int(seed), int(dim)

    @property
    def dim(self) -> int:
        """Output dimension ``D'`` (at most the requested ``dim``)."""
        return self._map.dim

    @property
    def degrees(self) -> list:
        """Truncation degree of each activation layer."""
        return self._map.degrees

    @property
    def arch(self) -> str:
        """The canonical architecture string."""
        return self._map.arch

    def __repr__(self) -> str:
        return (
            f"ntk.FeatureMap({self.arch!r}, {self.sample_shape}, dim={self.dim}, "
            f"method={self.method!r}, kernel={self.kernel!r}, seed={self.seed})"
        )

    def _samples(self, x, what="x") -> np.ndarray:
        return _real_array(x, what, self._dtype)

    def __call__(self, x, *, threads=None) -> np.ndarray:
        """Features ``(n, D')`` of the samples ``x`` (``(n, *sample_shape)``)."""
        a = self._samples(x)
        t = _threads(threads)
        if self._dtype == np.float64:
            return self._map.apply_f64(a, t)
        return self._map.apply_f32(a, t)


def features(
    arch: str,
    x,
    dim: int = 4096,
    method: str = "hermite",
    seed: int = 0,
    kernel: str = "ntk",
    threads: Optional[int] = None,
    **options,
) -> np.ndarray:
    """Features ``(n, D')`` of ``x`` under the seeded map of ``arch``;
    ``options`` are :class:`FeatureMap`'s (``degree``, ``inner_dim``, ``dtype``, ...).

    >>> import numpy as np, ntk
    >>> x = np.random.default_rng(1).normal(size=(5, 8))
    >>> z = ntk.features("Dense(), Relu, Dense()", x, dim=256, method="ntksketch")
    >>> z.shape
    (5, 256)
    """
    a = np.asarray(x)
    if a.ndim not in (2, 4):
        raise ValueError(
            f"x must have shape (n, d) for vectors or (n, H, W, C) for images (NHWC), got {a.shape}"
        )
    if options.get("polynomial") == "data":
        options.setdefault("fit_sample", a)
    m = FeatureMap(arch, a.shape[1:], dim=dim, method=method, kernel=kernel, seed=seed, **options)
    return m(a, threads=threads)


class _Params:
    """scikit-learn's parameter protocol: ``get_params`` / ``set_params``
    from the constructor's signature (``sklearn.base.clone`` works)."""

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        names = self._param_names()
        for k, v in params.items():
            if k not in names:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; valid: {names}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def score(self, X, y) -> float:
        """The coefficient of determination R² of ``predict(X)`` (scikit-learn's
        regressor score, averaged uniformly over outputs)."""
        pred = np.asarray(self.predict(X), dtype=np.float64)
        t = np.asarray(y, dtype=np.float64)
        if t.shape != pred.shape:
            raise ValueError(f"y has shape {t.shape}, the predictions {pred.shape}")
        if t.ndim == 1:
            t, pred = t[:, None], pred[:, None]
        if t.shape[0] < 2:
            raise ValueError("R² needs at least two samples")
        ss_res = ((t - pred) ** 2).sum(axis=0)
        ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
        # scikit-learn's convention: a constant target scores 1 if predicted
        # exactly, else 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
        return float(r2.mean())


def _check_alpha(alpha) -> float:
    a = float(alpha)
    if not np.isfinite(a) or a < 0:
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    return a


def _check_fitted(model, attr: str):
    if not hasattr(model, attr):
        raise ValueError(f"this {type(model).__name__} is not fitted yet; call fit(X, y) first")


class KernelRidge(_Params):
    """Kernel ridge regression with the exact NNGP or NTK of ``arch``:
    ``(K(X, X) + alpha·I) A = y``, predictions ``K(X_new, X) A``: for the
    NNGP the posterior mean, for the NTK the infinitely wide network trained
    by gradient descent on the MSE to convergence (neural-tangents'
    ``predict.gradient_descent_mse_ensemble`` at ``t=None``, with ``alpha``
    its ``diag_reg`` under ``diag_reg_absolute_scale=True``: added to the
    diagonal exactly as given). scikit-learn's ``fit``/``predict``/``score``.
    """

    def __init__(self, arch: str = "Dense(), Relu, Dense()", kernel: str = "ntk",
                 alpha: float = 1.0, threads: Optional[int] = None):
        self.arch = arch
        self.kernel = kernel
        self.alpha = alpha
        self.threads = threads

    def _kind(self) -> str:
        if self.kernel not in _KINDS:
            raise ValueError(f"kernel must be 'nngp' or 'ntk', got {self.kernel!r}")
        return self.kernel

    def fit(self, X, y):
        kind = self._kind()
        alpha = _check_alpha(self.alpha)
        kfn = KernelFn(self.arch, self.threads)
        x = _real_array(X, "X")
        t, flat = _targets(y, x.shape[0])
        k = kfn(x, None, kind)
        self.dual_coef_ = _ntk.kernel_ridge(k, t, alpha, _threads(self.threads))
        self.X_fit_ = x
        self._flat = flat
        return self

    def predict(self, X) -> np.ndarray:
        _check_fitted(self, "dual_coef_")
        x = _real_array(X, "X")
        k = KernelFn(self.arch, self.threads)(x, self.X_fit_, self._kind())
        p = k @ self.dual_coef_
        return p[:, 0] if self._flat else p


class FeatureRidge(_Params):
    """Ridge regression on the feature map of ``arch``: ``(ZᵀZ + alpha·I) W
    = Zᵀ y``, predictions ``Z(X_new) W``: kernel ridge with the approximate
    kernel ``Z Zᵀ``, at a cost linear in the number of samples. Features
    are streamed in blocks, so memory is ``D'²`` plus one block, never
    ``n × D'``. scikit-learn's ``fit``/``predict``/``score``.
    """

    def __init__(self, arch: str = "Dense(), Relu, Dense()", dim: int = 4096,
                 method: str = "hermite", kernel: str = "ntk", seed: int = 0,
                 alpha: float = 1.0, degree: Optional[int] = None,
                 dtype: str = "float64", threads: Optional[int] = None,
                 polynomial: str = "fit"):
        self.arch = arch
        self.dim = dim
        self.method = method
        self.kernel = kernel
        self.seed = seed
        self.alpha = alpha
        self.degree = degree
        self.dtype = dtype
        self.threads = threads
        self.polynomial = polynomial

    def _feature_map(self, sample_shape, fit_sample=None) -> "FeatureMap":
        """The feature map these parameters describe, for samples of ``sample_shape``."""
        return FeatureMap(self.arch, sample_shape, dim=self.dim, method=self.method,
                          kernel=self.kernel, seed=self.seed, degree=self.degree,
                          dtype=self.dtype, polynomial=self.polynomial, fit_sample=fit_sample)

    def fit(self, X, y):
        alpha = _check_alpha(self.alpha)
        a = np.asarray(X)
        if a.ndim not in (2, 4):
            raise ValueError(
                f"X must have shape (n, d) for vectors or (n, H, W, C) for images (NHWC), got {a.shape}"
            )
        fmap = self._feature_map(a.shape[1:], a if self.polynomial == "data" else None)
        x = fmap._samples(a, "X")
        t, flat = _targets(y, x.shape[0])
        self.coef_ = fmap._map.ridge_fit(x, t, alpha, _threads(self.threads))
        self.feature_map_ = fmap
        self._flat = flat
        return self

    def predict(self, X) -> np.ndarray:
        _check_fitted(self, "coef_")
        x = self.feature_map_._samples(X, "X")
        p = self.feature_map_._map.ridge_predict(x, self.coef_, _threads(self.threads))
        return p[:, 0] if self._flat else p
