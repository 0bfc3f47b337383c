"""neural-tangents' ``stax``, for scripts that change one import:

    >>> from ntk import stax          # instead of: from neural_tangents import stax
    >>> init_fn, apply_fn, kernel_fn = stax.serial(
    ...     stax.Dense(512, W_std=1.5, b_std=0.05), stax.Relu(),
    ...     stax.Dense(1, W_std=1.5, b_std=0.05))
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(3, 4))
    >>> kernel_fn(x, None, "ntk").shape
    (3, 3)
    >>> out_shape, params = init_fn(0, x.shape)
    >>> apply_fn(params, x).shape
    (3, 1)

Every function returns a :class:`Layer`: an ``(init_fn, apply_fn,
kernel_fn)`` triple with neural-tangents' call forms. ``kernel_fn`` is this
library's exact kernel (equal to neural-tangents' under the ``'ntk'``
parameterization); ``init_fn(key, input_shape)`` draws the finite network's
parameters with NumPy (``key``: an integer, a ``numpy.random.Generator`` or
a key array such as JAX's ``PRNGKey``; the same key, the same parameters)
and ``apply_fn(params, x)`` evaluates it, so finite-width networks can be
compared with their kernels. ``str(layer)`` is the architecture string the
rest of ``ntk`` and the command line take, and :func:`parse` turns such a
string back into a layer; a layer is accepted wherever an architecture is.
Arguments are checked by the library when a layer is built; errors raise
``ValueError`` naming the column of the string.
"""

from __future__ import annotations

import ast
import inspect
import math
import numbers
import re
from typing import Any, Callable

import numpy as np

from . import _finite as F

__all__ = [
    "Layer", "parse",
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
    if isinstance(v, Layer):
        raise ValueError(
            f"a layer cannot be an argument of another layer (got {v}): combine layers with "
            "serial(...) and parallel(...)"
        )
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

    def __new__(cls, text: str, node: F.Node):
        def init_fn(key, input_shape):
            return node.init(F.rng_of(key), tuple(input_shape))

        def apply_fn(params, inputs, **_kwargs):
            return node.apply(params, inputs)

        self = super().__new__(cls, (init_fn, apply_fn, _LazyKernelFn(text)))
        self._text = text
        self._node = node
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
    """``kernel_fn`` of a layer: the exact kernel, built on first use."""

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


def _as_layer(layer) -> Layer:
    if isinstance(layer, Layer):
        return layer
    raise ValueError(
        f"expected a layer of ntk.stax, got {type(layer).__name__}; "
        "neural_tangents.stax layers are functions the library cannot read: build the network "
        "with `from ntk import stax` instead"
    )


def _text(name: str, args, kwargs) -> str:
    parts = [_value(a) for a in args]
    parts += [f"{k}={_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})" if parts else name


def _constructor(name: str, signature: Callable, node: Callable[..., F.Node]):
    """A stax function: binds neural-tangents' signature, writes the
    string the library parses (and checks), and builds the finite node."""
    sig = inspect.signature(signature)

    def make(*args, **kwargs) -> Layer:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise ValueError(f"stax.{name}: {e}") from None
        bound.apply_defaults()
        text = _text(name, args, kwargs)
        from . import _ntk

        # Checked at once, so a mistake names this layer (inside the
        # smallest network that makes it valid on its own).
        _ntk.check_arch(_probe(name, text))
        return Layer(text, node(**bound.arguments))

    make.__name__ = name
    make.__qualname__ = name
    make.__signature__ = sig
    make.__doc__ = f"stax.{name}{sig}: neural-tangents' layer; returns a Layer."
    return make


_STRUCTURAL = ("Dense", "Conv", "AvgPool", "SumPool", "GlobalAvgPool", "GlobalSumPool",
               "Flatten", "LayerNorm", "Identity")


def _probe(name: str, text: str) -> str:
    """A layer in the smallest network that is valid on its own: a fan-out
    needs its fan-in, a fan-in its fan-out, an activation a Gaussian input."""
    if name == "FanOut":
        return f"Dense, {text}, FanInSum"
    if name in ("FanInSum", "FanInConcat"):
        return f"Dense, FanOut(2), {text}"
    if name in _STRUCTURAL:
        return text
    return f"Dense, {text}"


def _act(name, fn):
    return lambda **_: F.Elementwise(fn, name)


# Signatures (neural-tangents 0.6.5) and finite nodes.

def _s_dense(out_dim, W_std=1.0, b_std=None, batch_axis=0, channel_axis=-1, parameterization="ntk"): ...
def _s_conv(out_chan, filter_shape, strides=None, padding="VALID", W_std=1.0, b_std=None,
            dimension_numbers=None, parameterization="ntk"): ...
def _s_avg(window_shape, strides=None, padding="VALID", normalize_edges=False, batch_axis=0, channel_axis=-1): ...
def _s_sum(window_shape, strides=None, padding="VALID", batch_axis=0, channel_axis=-1): ...
def _s_global(batch_axis=0, channel_axis=-1): ...
def _s_layer_norm(axis=-1, eps=1e-12, batch_axis=0, channel_axis=-1): ...
def _s_none(): ...
def _s_fan_out(num): ...
def _s_concat(axis=-1): ...
def _s_stab(do_stabilize=False): ...
def _s_leaky(alpha, do_stabilize=False): ...
def _s_abrelu(a, b, do_stabilize=False): ...
def _s_abc(a=1.0, b=1.0, c=0.0): ...
def _s_gelu(approximate=False): ...
def _s_rbf(gamma=1.0): ...
def _s_exp(a=1.0, b=1.0): ...
def _s_gauss(a=1.0, b=-1.0): ...
def _s_expnorm(gamma=1.0, shift=-1.0, do_clip=False): ...
def _s_hermite(degree, convention="normalized"): ...
def _s_degree(degree): ...
def _s_poly(coef): ...
def _s_numerical(fn, deg=25, df=None): ...


def _hermite(degree, **_):
    coef = np.polynomial.hermite_e.herme2poly([0] * int(degree) + [1])
    scale = math.sqrt(math.factorial(int(degree)))
    return F.Elementwise(lambda x: np.polynomial.polynomial.polyval(x, coef) / scale, "Hermite")


def _numerical(fn, **_):
    if isinstance(fn, str):
        f = F.REGISTRY.get(fn)
    else:
        f = fn
    return F.Elementwise(f, "ElementwiseNumerical")


Dense = _constructor("Dense", _s_dense, lambda out_dim, W_std, b_std, **_: F.Dense(out_dim, W_std, b_std))
Conv = _constructor(
    "Conv", _s_conv,
    lambda out_chan, filter_shape, strides, padding, W_std, b_std, **_: F.Conv(
        out_chan, filter_shape, strides, padding, W_std, b_std))
AvgPool = _constructor("AvgPool", _s_avg,
                       lambda window_shape, strides, padding, **_: F.Pool(window_shape, strides, padding, False))
SumPool = _constructor("SumPool", _s_sum,
                       lambda window_shape, strides, padding, **_: F.Pool(window_shape, strides, padding, True))
GlobalAvgPool = _constructor("GlobalAvgPool", _s_global, lambda **_: F.GlobalPool(False))
GlobalSumPool = _constructor("GlobalSumPool", _s_global, lambda **_: F.GlobalPool(True))
Flatten = _constructor("Flatten", _s_global, lambda **_: F.Flatten())
LayerNorm = _constructor("LayerNorm", _s_layer_norm, lambda axis, eps, **_: F.LayerNorm(axis, eps))
Identity = _constructor("Identity", _s_none, lambda **_: F.Identity())
FanOut = _constructor("FanOut", _s_fan_out, lambda num: F.FanOut(num))
FanInSum = _constructor("FanInSum", _s_none, lambda **_: F.FanInSum())
FanInConcat = _constructor("FanInConcat", _s_concat, lambda axis: F.FanInConcat(axis))

Relu = _constructor("Relu", _s_stab, _act("Relu", lambda x: np.maximum(x, 0.0)))
LeakyRelu = _constructor("LeakyRelu", _s_leaky,
                         lambda alpha, **_: F.Elementwise(lambda x: np.where(x > 0, x, alpha * x), "LeakyRelu"))
ABRelu = _constructor("ABRelu", _s_abrelu,
                      lambda a, b, **_: F.Elementwise(
                          lambda x: a * np.minimum(x, 0.0) + b * np.maximum(x, 0.0), "ABRelu"))
Abs = _constructor("Abs", _s_stab, _act("Abs", np.abs))
Sign = _constructor("Sign", _s_none, _act("Sign", np.sign))
Erf = _constructor("Erf", _s_abc, lambda a, b, c: F.Elementwise(lambda x: a * F.erf(b * x) + c, "Erf"))
Sigmoid_like = _constructor(
    "Sigmoid_like", _s_none,
    _act("Sigmoid_like", lambda x: 0.5 * F.erf(x / 2.4020563531719796) + 0.5))
Gelu = _constructor("Gelu", _s_gelu, lambda **_: F.Elementwise(F.REGISTRY["gelu"], "Gelu"))
Sin = _constructor("Sin", _s_abc, lambda a, b, c: F.Elementwise(lambda x: a * np.sin(b * x + c), "Sin"))
Cos = _constructor("Cos", _s_abc, lambda a, b, c: F.Elementwise(lambda x: a * np.cos(b * x + c), "Cos"))
Rbf = _constructor("Rbf", _s_rbf, lambda gamma: F.Elementwise(
    lambda x: math.sqrt(2.0) * np.sin(math.sqrt(2.0 * gamma) * x + math.pi / 4), "Rbf"))
Exp = _constructor("Exp", _s_exp, lambda a, b: F.Elementwise(lambda x: a * np.exp(b * x), "Exp"))
Gaussian = _constructor("Gaussian", _s_gauss,
                        lambda a, b: F.Elementwise(lambda x: a * np.exp(b * x * x), "Gaussian"))
ExpNormalized = _constructor("ExpNormalized", _s_expnorm, lambda **_: F.Elementwise(None, "ExpNormalized"))
Hermite = _constructor("Hermite", _s_hermite, _hermite)
Monomial = _constructor("Monomial", _s_degree,
                        lambda degree: F.Elementwise(lambda x: x ** int(degree), "Monomial"))
RectifiedMonomial = _constructor(
    "RectifiedMonomial", _s_degree,
    lambda degree: F.Elementwise(lambda x: (x >= 0) * x ** int(degree), "RectifiedMonomial"))
Polynomial = _constructor(
    "Polynomial", _s_poly,
    lambda coef: F.Elementwise(lambda x: np.polynomial.polynomial.polyval(x, list(coef)), "Polynomial"))
Gabor = _constructor("Gabor", _s_none, _act("Gabor", lambda x: np.exp(-x * x) * np.sin(x)))
ElementwiseNumerical = _constructor("ElementwiseNumerical", _s_numerical, _numerical)


def serial(*layers) -> Layer:
    """Layers in sequence (flattened into the string)."""
    ls = [_as_layer(l) for l in layers]
    return Layer(f"serial({', '.join(str(l) for l in ls)})", F.Serial([l._node for l in ls]))


def parallel(*layers) -> Layer:
    """Branch ``i`` acts on the ``i``-th input (after a ``FanOut``)."""
    ls = [_as_layer(l) for l in layers]
    return Layer(f"parallel({', '.join(str(l) for l in ls)})", F.Parallel([l._node for l in ls]))


# Presets, sized by the input on first use.

def _wide_resnet_node(block_size, w_std, b_std):
    def build(h):
        def conv(s):
            return F.Conv(1, (3, 3), (s, s), "SAME", w_std, b_std)

        def block(s, mismatch):
            main = F.Serial([F.Elementwise(F.REGISTRY["relu"], "Relu"), conv(s),
                             F.Elementwise(F.REGISTRY["relu"], "Relu"), conv(1)])
            short = conv(s) if mismatch else F.Identity()
            return [F.FanOut(2), F.Parallel([main, short]), F.FanInSum()]

        nodes = [conv(1)]
        for s in (1, 2, 2):
            nodes += block(s, True)
            for _ in range(block_size - 1):
                nodes += block(1, False)
        nodes += [F.Pool((h // 4, h // 4), (h // 4, h // 4), "VALID", False), F.Flatten(),
                  F.Dense(1, 1.0, 0.0)]
        return F.Serial(nodes)

    return F.Sized(build, "WideResnet")


def _myrtle_node(depth, w_std, b_std):
    counts = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}[depth]

    def build(h):
        nodes = []
        for stage, n in enumerate(counts):
            for _ in range(n):
                nodes += [F.Conv(1, (3, 3), (1, 1), "SAME", w_std, b_std),
                          F.Elementwise(F.REGISTRY["relu"], "Relu")]
            if stage < 2:
                nodes.append(F.Pool((2, 2), (2, 2), "VALID", False))
        for _ in range(int(math.log2(h)) - 2):
            nodes.append(F.Pool((2, 2), (2, 2), "VALID", False))
        nodes += [F.Flatten(), F.Dense(1, w_std, b_std)]
        return F.Serial(nodes)

    return F.Sized(build, f"Myrtle{depth}")


def _s_wrn(block_size, k=1, num_classes=1, W_std=1.0, b_std=None): ...
def _s_myrtle(W_std=math.sqrt(2.0), b_std=None): ...


def WideResnet(*args, **kwargs) -> Layer:
    """neural-tangents' README ``WideResnet(block_size, k, num_classes)``, its
    final ``AvgPool`` over the last ``H/4 × H/4`` map (the README's
    ``AvgPool((8, 8))`` at 32 × 32)."""
    b = inspect.signature(_s_wrn).bind(*args, **kwargs)
    b.apply_defaults()
    text = _text("WideResnet", args, kwargs)
    from . import _ntk

    _ntk.check_arch(text)
    a = b.arguments
    return Layer(text, _wide_resnet_node(int(a["block_size"]), float(a["W_std"]), a["b_std"]))


def _myrtle(depth):
    def make(*args, **kwargs) -> Layer:
        b = inspect.signature(_s_myrtle).bind(*args, **kwargs)
        b.apply_defaults()
        text = _text(f"Myrtle{depth}", args, kwargs)
        from . import _ntk

        _ntk.check_arch(text)
        return Layer(text, _myrtle_node(depth, float(b.arguments["W_std"]), b.arguments["b_std"]))

    make.__name__ = f"Myrtle{depth}"
    return make


Myrtle5, Myrtle7, Myrtle10 = _myrtle(5), _myrtle(7), _myrtle(10)

_NAMES = {n: globals()[n] for n in __all__ if n not in ("Layer", "parse")}
_NAMES.update({"WideResnet": WideResnet, "Myrtle5": Myrtle5, "Myrtle7": Myrtle7, "Myrtle10": Myrtle10})


def parse(text: str) -> Layer:
    """The layer of an architecture string (``str(layer)`` gives it back
    up to formatting): the library checks the string, then each call is
    replayed through this module's functions. Only layer names, numbers,
    words, tuples and lists are read: nothing is evaluated."""
    from . import _ntk

    if not isinstance(text, str):
        raise ValueError(f"parse takes an architecture string, got {type(text).__name__}")
    _ntk.check_arch(text)
    tree = ast.parse(f"serial({text})", mode="eval").body

    def value(node):
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, (bool, int, float, str))
        ):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = value(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.Name):
            if node.id in ("None", "True", "False"):
                return {"None": None, "True": True, "False": False}[node.id]
            return node.id  # SAME, tanh, normalized: words
        if isinstance(node, ast.Attribute):
            return ast.unparse(node)
        raise ValueError(f"cannot read {ast.unparse(node)!r} in an architecture string")

    def layer(node):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "stax":
            node = ast.Name(node.attr)
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "stax":
                fn = ast.Name(fn.attr)
            if not isinstance(fn, ast.Name) or fn.id not in _NAMES:
                raise ValueError(f"unknown layer {ast.unparse(node.func)!r}")
            if fn.id in ("serial", "parallel"):
                return _NAMES[fn.id](*(layer(a) for a in node.args))
            args = [value(a) for a in node.args]
            kwargs = {k.arg: value(k.value) for k in node.keywords}
            # Canonical strings carry no widths (they do not change the
            # kernel): their finite layers get width 1.
            width = {"Dense": "out_dim", "Conv": "out_chan"}.get(fn.id)
            if width and not args and width not in kwargs:
                kwargs[width] = 1
            return _NAMES[fn.id](*args, **kwargs)
        if isinstance(node, ast.Name) and node.id in _NAMES:
            width = {"Dense": "out_dim"}.get(node.id)
            return _NAMES[node.id](**({width: 1} if width else {}))
        raise ValueError(f"cannot read {ast.unparse(node)!r} as a layer")

    return layer(tree)
