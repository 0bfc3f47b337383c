"""Finite-width networks in NumPy for ``ntk.stax``: the ``init_fn`` and
``apply_fn`` of neural-tangents' layers under the ``'ntk'``
parameterization (weights and biases i.i.d. N(0, 1); Dense output
``W_std/sqrt(fan_in) · x W + b_std · b``, Conv the same with
``fan_in = kh·kw·C_in``), so that a random network of width ``n`` can be
compared with its infinite-width kernel. Shapes and windows follow
``jax.lax`` (NHWC; SAME padding ``total = max((out−1)s + k − n, 0)``,
``lo = total // 2``; CIRCULAR wraps with SAME's sizes; pools count the zero
padding in their divisor, ``normalize_edges=False``).

Each node has ``init(rng, shape) -> (out_shape, params)`` and
``apply(params, x) -> y``; a fan-out's value is a list.
"""

from __future__ import annotations

import math
from typing import Callable, List, Sequence

import numpy as np

_erf = np.vectorize(math.erf, otypes=[float])


def erf(x):
    return _erf(np.asarray(x, dtype=np.float64))


def _norm_cdf(x):
    return 0.5 * (1.0 + erf(np.asarray(x) / math.sqrt(2.0)))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: NumPy forms of the functions `ElementwiseNumerical(fn=name)` names
#: (dual-activations' registry).
REGISTRY = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "silu": lambda t: t * _sigmoid(t),
    "swish": lambda t: t * _sigmoid(t),
    "elu": lambda t: np.where(t > 0, t, np.expm1(np.minimum(t, 0))),
    "selu": lambda t: SELU_SCALE * np.where(t > 0, t, SELU_ALPHA * np.expm1(np.minimum(t, 0))),
    "celu": lambda t: np.where(t > 0, t, np.expm1(np.minimum(t, 0))),
    "relu6": lambda t: np.clip(t, 0.0, 6.0),
    "softsign": lambda t: t / (1.0 + np.abs(t)),
    "hard_tanh": lambda t: np.clip(t, -1.0, 1.0),
    "hard_sigmoid": lambda t: np.clip(t + 3.0, 0.0, 6.0) / 6.0,
    "hard_silu": lambda t: t * np.clip(t + 3.0, 0.0, 6.0) / 6.0,
    "hard_swish": lambda t: t * np.clip(t + 3.0, 0.0, 6.0) / 6.0,
    "log_sigmoid": lambda t: -_softplus(-t),
    "mish": lambda t: t * np.tanh(_softplus(t)),
    "gelu_tanh": lambda t: 0.5 * t * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (t + 0.044715 * t ** 3))),
    "erf": erf,
    "gelu": lambda t: t * _norm_cdf(t),
    "relu": lambda t: np.maximum(t, 0.0),
    "leaky_relu": lambda t: np.where(t > 0, t, 0.01 * t),
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "gaussian": lambda t: np.exp(-0.5 * t * t),
    "identity": lambda t: t,
}


def rng_of(key) -> np.random.Generator:
    """A NumPy generator from an integer, a generator, or a key array (a
    JAX ``PRNGKey``): the same key gives the same parameters."""
    if isinstance(key, np.random.Generator):
        return key
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError(f"an integer key must be >= 0, got {key}")
        return np.random.default_rng(int(key))
    try:
        words = np.asarray(key).astype(np.uint64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"key must be an integer, a numpy Generator or a key array, got {key!r}") from None
    return np.random.default_rng([int(w) for w in words])


class Node:
    def init(self, rng, shape):
        return shape, ()

    def apply(self, params, x):
        return x


class Dense(Node):
    def __init__(self, out_dim, W_std, b_std):
        self.out, self.w, self.b = int(out_dim), float(W_std), b_std

    def init(self, rng, shape):
        shape = _one(shape, "Dense")
        fan_in = shape[-1]
        W = rng.standard_normal((fan_in, self.out))
        b = rng.standard_normal((self.out,)) if self.b is not None else None
        return tuple(shape[:-1]) + (self.out,), (W, b)

    def apply(self, params, x):
        W, b = params
        y = (self.w / math.sqrt(W.shape[0])) * (np.asarray(x, dtype=np.float64) @ W)
        if b is not None:
            y = y + float(self.b) * b
        return y


def _geometry(n: int, k: int, s: int, padding: str):
    """Output size and (low, high) padding of a window along one axis."""
    if padding == "VALID":
        if k > n:
            raise ValueError(f"a VALID window of {k} does not fit {n} positions")
        return (n - k) // s + 1, (0, 0)
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, (total // 2, total - total // 2)


def _windows(x, k, s, padding):
    """Sliding windows of an NHWC array: (n, oh, ow, C, kh, kw)."""
    (oh, ph), (ow, pw) = (_geometry(x.shape[1], k[0], s[0], padding),
                          _geometry(x.shape[2], k[1], s[1], padding))
    mode = "wrap" if padding == "CIRCULAR" else "constant"
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), mode=mode)
    w = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(1, 2))
    return w[:, :: s[0], :: s[1]][:, :oh, :ow]


def _pair(v, default):
    if v is None:
        return default
    return tuple(int(a) for a in v)


def _padding(p) -> str:
    p = str(p).upper()
    if p not in ("SAME", "VALID", "CIRCULAR"):
        raise ValueError(f"padding must be SAME, VALID or CIRCULAR, got {p}")
    return p


class Conv(Node):
    def __init__(self, out_chan, filter_shape, strides, padding, W_std, b_std):
        self.out = int(out_chan)
        self.k = _pair(filter_shape, None)
        self.s = _pair(strides, (1, 1))
        self.p = _padding(padding)
        self.w, self.b = float(W_std), b_std

    def init(self, rng, shape):
        shape = _image(shape, "Conv")
        n, h, w, c = shape
        oh, _ = _geometry(h, self.k[0], self.s[0], self.p)
        ow, _ = _geometry(w, self.k[1], self.s[1], self.p)
        W = rng.standard_normal(self.k + (c, self.out))
        b = rng.standard_normal((self.out,)) if self.b is not None else None
        return (n, oh, ow, self.out), (W, b)

    def apply(self, params, x):
        W, b = params
        fan_in = W.shape[0] * W.shape[1] * W.shape[2]
        win = _windows(np.asarray(x, dtype=np.float64), self.k, self.s, self.p)
        y = np.einsum("nhwckl,klco->nhwo", win, W) * (self.w / math.sqrt(fan_in))
        if b is not None:
            y = y + float(self.b) * b
        return y


class Pool(Node):
    def __init__(self, window, strides, padding, total: bool):
        self.k = _pair(window, None)
        self.s = _pair(strides, (1, 1))
        self.p = _padding(padding)
        self.total = total

    def init(self, rng, shape):
        n, h, w, c = _image(shape, "pooling")
        oh, _ = _geometry(h, self.k[0], self.s[0], self.p)
        ow, _ = _geometry(w, self.k[1], self.s[1], self.p)
        return (n, oh, ow, c), ()

    def apply(self, params, x):
        win = _windows(np.asarray(x, dtype=np.float64), self.k, self.s, self.p)
        y = win.sum(axis=(-2, -1))
        return y if self.total else y / (self.k[0] * self.k[1])


class GlobalPool(Node):
    def __init__(self, total: bool):
        self.total = total

    def init(self, rng, shape):
        shape = _image(shape, "global pooling")
        return (shape[0], shape[3]), ()

    def apply(self, params, x):
        x = np.asarray(x, dtype=np.float64)
        return x.sum(axis=(1, 2)) if self.total else x.mean(axis=(1, 2))


class Flatten(Node):
    def init(self, rng, shape):
        shape = _one(shape, "Flatten")
        return (shape[0], int(np.prod(shape[1:]))), ()

    def apply(self, params, x):
        x = np.asarray(x, dtype=np.float64)
        return x.reshape(x.shape[0], -1)


class LayerNorm(Node):
    def __init__(self, axis, eps):
        self.axis, self.eps = axis, float(eps)

    def init(self, rng, shape):
        return _one(shape, "LayerNorm"), ()

    def apply(self, params, x):
        x = np.asarray(x, dtype=np.float64)
        m = x.mean(axis=self.axis, keepdims=True)
        v = x.var(axis=self.axis, keepdims=True)
        return (x - m) / np.sqrt(self.eps + v)


class Elementwise(Node):
    def __init__(self, fn: Callable, name: str):
        self.fn, self.name = fn, name

    def init(self, rng, shape):
        return _one(shape, self.name), ()

    def apply(self, params, x):
        if self.fn is None:
            raise NotImplementedError(
                f"{self.name} has a kernel but no pointwise function: the finite network is undefined"
            )
        return np.asarray(self.fn(np.asarray(x, dtype=np.float64)), dtype=np.float64)


class Identity(Node):
    pass


class FanOut(Node):
    def __init__(self, num):
        self.num = int(num)

    def init(self, rng, shape):
        return [_one(shape, "FanOut")] * self.num, ()

    def apply(self, params, x):
        return [x] * self.num


class FanInSum(Node):
    def init(self, rng, shape):
        shapes = _many(shape, "FanInSum")
        if any(tuple(s) != tuple(shapes[0]) for s in shapes):
            raise ValueError(f"FanInSum: the branches' shapes differ: {shapes}")
        return shapes[0], ()

    def apply(self, params, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class FanInConcat(Node):
    def __init__(self, axis):
        self.axis = int(axis)

    def init(self, rng, shape):
        shapes = _many(shape, "FanInConcat")
        out = list(shapes[0])
        out[self.axis] = sum(s[self.axis] for s in shapes)
        return tuple(out), ()

    def apply(self, params, xs):
        return np.concatenate(xs, axis=self.axis)


class Serial(Node):
    def __init__(self, nodes: Sequence[Node]):
        self.nodes = list(nodes)

    def init(self, rng, shape):
        params = []
        for n in self.nodes:
            shape, p = n.init(rng, shape)
            params.append(p)
        return shape, tuple(params)

    def apply(self, params, x):
        for n, p in zip(self.nodes, params):
            x = n.apply(p, x)
        return x


class Parallel(Node):
    def __init__(self, nodes: Sequence[Node]):
        self.nodes = list(nodes)

    def init(self, rng, shape):
        shapes = _many(shape, "parallel")
        if len(shapes) != len(self.nodes):
            raise ValueError(f"parallel has {len(self.nodes)} branches for {len(shapes)} inputs")
        outs, params = [], []
        for n, s in zip(self.nodes, shapes):
            o, p = n.init(rng, s)
            outs.append(o)
            params.append(p)
        return outs, tuple(params)

    def apply(self, params, xs):
        return [n.apply(p, x) for n, p, x in zip(self.nodes, params, xs)]


class Sized(Node):
    """A preset whose layers depend on the input size (Myrtle, WideResnet):
    ``build(h)`` gives the network for ``h × h`` images."""

    def __init__(self, build: Callable[[int], Node], name: str):
        self.build, self.name, self._nodes = build, name, {}

    def _for(self, h):
        if h not in self._nodes:
            self._nodes[h] = self.build(h)
        return self._nodes[h]

    def init(self, rng, shape):
        n, h, w, c = _image(shape, self.name)
        if h != w:
            raise ValueError(f"{self.name} needs square images, got {h}x{w}")
        return self._for(h).init(rng, shape)

    def apply(self, params, x):
        return self._for(np.asarray(x).shape[1]).apply(params, x)


def _one(shape, name):
    if isinstance(shape, list):
        raise ValueError(f"{name} receives {len(shape)} branches: join them with FanInSum or FanInConcat")
    return tuple(int(s) for s in shape)


def _many(shape, name):
    if not isinstance(shape, list):
        raise ValueError(f"{name} needs the branches of a FanOut")
    return shape


def _image(shape, name):
    shape = _one(shape, name)
    if len(shape) != 4:
        raise ValueError(f"{name} needs images (n, H, W, C), got shape {shape}")
    return shape
