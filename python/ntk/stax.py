"""neural-tangents' ``stax`` vocabulary, for scripts that change one import:

    >>> from ntk import stax          # instead of: from neural_tangents import stax
    >>> init_fn, apply_fn, kernel_fn = stax.serial(
    ...     stax.Dense(512, W_std=1.5, b_std=0.05), stax.Relu(),
    ...     stax.Dense(1, W_std=1.5, b_std=0.05))
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(3, 4))
    >>> kernel_fn(x, None, "ntk").shape
    (3, 3)

Every function returns a :class:`Layer`: a ``(init_fn, apply_fn,
kernel_fn)`` triple as in neural-tangents, whose ``kernel_fn`` is this
library's exact kernel (equal to neural-tangents' under the ``'ntk'``
parameterization) and whose ``str()`` is the architecture string the rest
of ``ntk`` takes (``ntk.FeatureMap(net, ...)``, ``ntk.KernelRidge(net)``
and the command line accept the layer itself too). ``init_fn`` and
``apply_fn`` (finite networks) are not provided: calling them raises
``NotImplementedError``. Arguments are checked by the library when the
network is first used (``Layer.arch`` checks at once) and errors raise
``ValueError`` naming the column of the string.

Widths (``out_dim``, ``out_chan``, ``num_classes``) are accepted and do not
change the kernels; ``parameterization`` must be ``'ntk'``.
"""

from __future__ import annotations

import numbers
import re
from typing import Any

__all__ = [
    "Layer",
    "serial", "parallel", "FanOut", "FanInSum", "FanInConcat", "Identity",
    "Dense", "Conv", "AvgPool", "SumPool", "GlobalAvgPool", "GlobalSumPool",
    "Flatten", "LayerNorm",
    "Relu", "LeakyRelu", "ABRelu", "Abs", "Sign", "Erf", "Sigmoid_like", "Gelu",
    "Sin", "Cos", "Rbf", "Exp", "Gaussian", "ExpNormalized", "Hermite",
    "Monomial", "RectifiedMonomial", "Polynomial", "Gabor", "ElementwiseNumerical",
]

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _value(v: Any) -> str:
    """One argument in the library's syntax."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_value(x) for x in v)
        return f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
    if isinstance(v, str):
        return v if _WORD.match(v) else repr(v)
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if callable(v) and hasattr(v, "__name__"):
        # ElementwiseNumerical(fn=jnp.tanh): the function by name.
        return v.__name__
    try:
        x = float(v)  # NumPy and JAX scalars, 0-d arrays
    except (TypeError, ValueError):
        raise ValueError(f"cannot use {v!r} as an argument of a stax layer") from None
    return repr(x)


class Layer(tuple):
    """A network in stax's form: ``(init_fn, apply_fn, kernel_fn)``, with
    its architecture string as ``str(layer)`` and ``layer.arch``."""

    def __new__(cls, text: str):
        from . import KernelFn

        def finite(*_args, **_kwargs):
            raise NotImplementedError(
                "ntk computes the kernels of infinitely wide networks only: "
                "kernel_fn is provided, init_fn and apply_fn (finite networks) are not"
            )

        self = super().__new__(cls, (finite, finite, _LazyKernelFn(text)))
        self._text = text
        return self

    @property
    def arch(self) -> str:
        """The architecture string, checked by the library."""
        from . import _ntk

        _ntk.check_arch(self._text)
        return self._text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"stax<{self._text}>"


class _LazyKernelFn:
    """``kernel_fn`` of a layer: the exact kernel, built on first use (so
    that building a network checks nothing until it is used, as stax)."""

    def __init__(self, text: str):
        self._text = text
        self._fn = None

    def __call__(self, x1, x2=None, get=None, **kwargs):
        from . import KernelFn

        if self._fn is None:
            self._fn = KernelFn(self._text)
        return self._fn(x1, x2, get, **kwargs)

    def __repr__(self) -> str:
        return f"kernel_fn<{self._text}>"


def _text(layer) -> str:
    if isinstance(layer, Layer):
        return str(layer)
    if isinstance(layer, str):
        return layer
    raise ValueError(
        f"expected a layer of ntk.stax (or an architecture string), got {type(layer).__name__}; "
        "neural_tangents.stax layers are functions the library cannot read: build the network "
        "with `from ntk import stax` instead"
    )


def _layer(name: str, *args, **kwargs) -> Layer:
    parts = [_value(a) for a in args]
    parts += [f"{k}={_value(v)}" for k, v in kwargs.items()]
    return Layer(f"{name}({', '.join(parts)})" if parts else name)


def serial(*layers) -> Layer:
    """Layers in sequence (flattened into the string)."""
    return Layer(f"serial({', '.join(_text(l) for l in layers)})")


def parallel(*layers) -> Layer:
    """Branch ``i`` acts on the ``i``-th input (after a ``FanOut``)."""
    return Layer(f"parallel({', '.join(_text(l) for l in layers)})")


def _simple(name: str):
    def make(*args, **kwargs) -> Layer:
        return _layer(name, *args, **kwargs)

    make.__name__ = name
    make.__qualname__ = name
    make.__doc__ = f"stax.{name}: the same arguments as neural-tangents'."
    return make


FanOut = _simple("FanOut")
FanInSum = _simple("FanInSum")
FanInConcat = _simple("FanInConcat")
Identity = _simple("Identity")
Dense = _simple("Dense")
Conv = _simple("Conv")
AvgPool = _simple("AvgPool")
SumPool = _simple("SumPool")
GlobalAvgPool = _simple("GlobalAvgPool")
GlobalSumPool = _simple("GlobalSumPool")
Flatten = _simple("Flatten")
LayerNorm = _simple("LayerNorm")
Relu = _simple("Relu")
LeakyRelu = _simple("LeakyRelu")
ABRelu = _simple("ABRelu")
Abs = _simple("Abs")
Sign = _simple("Sign")
Erf = _simple("Erf")
Sigmoid_like = _simple("Sigmoid_like")
Gelu = _simple("Gelu")
Sin = _simple("Sin")
Cos = _simple("Cos")
Rbf = _simple("Rbf")
Exp = _simple("Exp")
Gaussian = _simple("Gaussian")
ExpNormalized = _simple("ExpNormalized")
Hermite = _simple("Hermite")
Monomial = _simple("Monomial")
RectifiedMonomial = _simple("RectifiedMonomial")
Polynomial = _simple("Polynomial")
Gabor = _simple("Gabor")
ElementwiseNumerical = _simple("ElementwiseNumerical")
