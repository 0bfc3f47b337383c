"""Every bad input raises ValueError with the library's message: never a
crash, a NaN in the result or a silent guess."""

import numpy as np
import pytest

import ntk

FC = "Dense(W_std=1.5), Relu, Dense(W_std=1.5)"
X = np.random.default_rng(0).normal(size=(6, 4))


def raises(match, f, *args, **kwargs):
    with pytest.raises(ValueError, match=match):
        f(*args, **kwargs)


@pytest.mark.parametrize("arch,match", [
    ("Dense(W_std=1.5", "column"),                      # unclosed bracket
    ("Dense(W_std=-1)", "W_std"),                       # negative scale
    ("Densely()", "column"),                            # unknown layer
    ("Dense(), Relu(alpha=2)", "alpha"),                # unknown argument
    ("(" * 10_000 + ")" * 10_000, "nest|deep|column"),  # absurd nesting
    ("", "column|empty"),
    ("Myrtle6", "Myrtle5"),
])
def test_bad_architectures(arch, match):
    raises(match, ntk.kernel_fn, arch)


def test_architecture_must_be_a_string():
    raises("string", ntk.kernel_fn, ["Dense()"])


@pytest.mark.parametrize("x,match", [
    (np.zeros((3,)), r"\(n, d\)"),
    (np.zeros((2, 3, 4)), r"\(n, d\)"),
    (np.array([[1.0, np.nan]]), "non-finite"),
    (np.array([[1.0, np.inf]]), "non-finite"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros((3, 0)), "empty"),
    (np.array([["a", "b"]]), "real numbers"),
    (np.array([[1 + 2j, 3]]), "real numbers"),
    (np.array([[object(), 1]], dtype=object), "real numbers"),
])
def test_bad_inputs(x, match):
    raises(match, ntk.kernel_fn(FC), x)


def test_mismatched_sample_shapes():
    raises("shape", ntk.kernel_fn(FC), X, np.zeros((2, 5)))
    raises("shape", ntk.kernel_fn(FC), X, np.zeros((2, 4, 1, 1)))


def test_image_layers_on_vectors_and_windows_too_large():
    raises("image|does not fit", ntk.kernel_fn("Conv(filter_shape=(3, 3)), Relu, Flatten, Dense()"), X)
    big = "Conv(filter_shape=(100000, 100000), padding=SAME), Relu, GlobalAvgPool, Dense()"
    raises("does not fit|exceeds|large", ntk.kernel_fn(big), np.zeros((2, 4, 4, 1)) + 1.0)


def test_overflow_is_an_error_not_a_nan():
    # A scale whose square overflows is refused up front; one whose products
    # overflow only in the recursion is caught on the output.
    raises("finite square", ntk.kernel_fn, "Dense(W_std=1e200), Dense()")
    raises("overflow", ntk.kernel_fn("Dense(W_std=1e150), Dense(W_std=1e150)"), np.ones((2, 3)))


def test_get_is_checked():
    k = ntk.kernel_fn(FC)
    raises("get", k, X, None, "ntks")
    raises("get", k, X, None, ())
    raises("twice", k, X, None, ("ntk", "ntk"))


def test_threads_are_checked():
    raises("threads", ntk.kernel_fn(FC), X, threads=0)
    raises("threads", ntk.kernel_fn(FC), X, threads=1.5)


@pytest.mark.parametrize("kwargs,match", [
    ({"method": "sketchy"}, "unknown method"),
    ({"kernel": "gp"}, "kernel"),
    ({"dim": 0}, "dim|empty|at least"),
    ({"dim": 1 << 40}, "not in 1..="),
    ({"dtype": "float16"}, "dtype"),
    ({"seed": -1}, "seed"),
    ({"polynomial": "chebyshev"}, "polynomial"),
    ({"degree": 10_000}, "degree|exceeds"),
])
def test_bad_feature_options(kwargs, match):
    raises(match, ntk.features, FC, X, **{"dim": 64, **kwargs})


def test_data_polynomials_need_their_sample():
    relu = "Dense(), Relu, Dense()"
    raises("fit_sample", ntk.FeatureMap, relu, 4, dim=64, method="ntksketch", polynomial="data")
    raises("only used with", ntk.FeatureMap, relu, 4, dim=64, method="ntksketch", fit_sample=X)
    raises("shape", ntk.FeatureMap, relu, 4, dim=64, method="ntksketch", polynomial="data",
           fit_sample=X[0])
    raises("shape", ntk.FeatureMap, relu, 5, dim=64, method="ntksketch", polynomial="data",
           fit_sample=X)
    raises("ntksketch", ntk.FeatureMap, relu, 4, dim=64, method="hermite", polynomial="data",
           fit_sample=X)
    raises("empty", ntk.FeatureMap, relu, 4, dim=64, method="ntksketch", polynomial="data",
           fit_sample=X[:0])
    bad = np.array(X, dtype=float)
    bad[1, 2] = np.nan
    raises("non-finite", ntk.FeatureMap, relu, 4, dim=64, method="ntksketch", polynomial="data",
           fit_sample=bad)


def test_methods_refuse_what_they_cannot_represent():
    # ntksketch is for Relu networks of vectors; random features need a pointwise function.
    raises("ntksketch|not supported", ntk.features, "Dense(), Erf, Dense()", X, dim=64, method="ntksketch")
    raises("random|not supported|pointwise",
           ntk.features, "Dense(), ExpNormalized, Dense()", X, dim=64, method="random")


def test_feature_map_checks_its_sample_shape():
    m = ntk.FeatureMap(FC, (4,), dim=64)
    raises("made for", m, np.zeros((3, 5)))
    raises("non-finite", m, np.array([[0.0, 1.0, np.nan, 2.0]]))


def test_ridge_inputs():
    y = np.arange(6.0)
    raises("samples", ntk.KernelRidge(FC).fit, X, y[:5])
    raises("real numbers", ntk.KernelRidge(FC).fit, X, np.array(["a"] * 6))
    raises("non-finite", ntk.KernelRidge(FC).fit, X, np.where(y > 2, np.nan, y))
    raises("shape", ntk.KernelRidge(FC).fit, X, np.zeros((6, 2, 2)))
    raises("alpha", ntk.KernelRidge(FC, alpha=-1.0).fit, X, y)
    raises("alpha", ntk.FeatureRidge(FC, alpha=float("nan")).fit, X, y)
    raises("kernel", ntk.KernelRidge(FC, kernel="gp").fit, X, y)
    raises("not fitted", ntk.KernelRidge(FC).predict, X)
    raises("not fitted", ntk.FeatureRidge(FC).predict, X)
    m = ntk.KernelRidge(FC, alpha=1e-3).fit(X, y)
    raises("shape", m.predict, np.zeros((2, 3)))
    raises("invalid parameter", m.set_params, lamda=1.0)
    # A singular system (duplicate samples, alpha = 0) is reported, not solved into garbage.
    raises("singular|eigen|positive", ntk.KernelRidge(FC, alpha=0.0).fit, np.vstack([X, X]), np.arange(12.0))
