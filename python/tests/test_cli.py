"""The package against the `ntk` command on the same inputs: the same
library underneath, so kernels and features must agree bit for bit, and
ridge predictions to rounding."""

import subprocess

import numpy as np
import pytest

import ntk

FC = "Dense(W_std=1.5, b_std=0.1), Gelu, Dense(W_std=1.5, b_std=0.1), Relu, Dense(W_std=1.5)"
CONV = ("Conv(filter_shape=(3, 3), padding=SAME, W_std=1.4, b_std=0.1), Relu, "
        "AvgPool(window_shape=(2, 2), strides=(2, 2)), Conv(filter_shape=(2, 2), padding=VALID), "
        "Erf, GlobalAvgPool, Dense()")


def run(ntk_bin, *args):
    r = subprocess.run([ntk_bin, *args, "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return {
        "v1": rng.normal(size=(300, 9)),  # more than one 256-column block
        "v2": rng.normal(size=(41, 9)),
        "i1": rng.normal(size=(7, 6, 6, 2)),
        "i2": rng.normal(size=(5, 6, 6, 2)),
    }


@pytest.mark.parametrize("arch,a,b", [(FC, "v1", "v2"), (FC, "v1", None), (CONV, "i1", "i2"), (CONV, "i1", None)])
def test_kernels_equal_the_cli(ntk_bin, tmp_path, data, arch, a, b):
    np.save(tmp_path / "x1.npy", data[a])
    args = ["kernel", "--arch", arch, "--x1", str(tmp_path / "x1.npy"),
            "--nngp", str(tmp_path / "k.npy"), "--ntk", str(tmp_path / "t.npy")]
    if b is not None:
        np.save(tmp_path / "x2.npy", data[b])
        args += ["--x2", str(tmp_path / "x2.npy")]
    run(ntk_bin, *args)
    got = ntk.kernel_fn(arch)(data[a], None if b is None else data[b])
    np.testing.assert_array_equal(got.nngp, np.load(tmp_path / "k.npy"))
    np.testing.assert_array_equal(got.ntk, np.load(tmp_path / "t.npy"))


@pytest.mark.parametrize("arch,x,method,dim", [
    (FC, "v1", "hermite", 512),
    ("Dense(W_std=1.4), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.4)", "v1", "ntkrf", 512),
    ("Dense(W_std=1.4), Relu, Dense(W_std=1.4)", "v2", "ntksketch", 256),
    (CONV.replace("Erf", "Relu"), "i1", "cntksketch", 256),
    (CONV, "i1", "hermite", 256),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_features_equal_the_cli(ntk_bin, tmp_path, data, arch, x, method, dim, dtype):
    np.save(tmp_path / "x.npy", data[x])
    run(ntk_bin, "features", "--arch", arch, "--x", str(tmp_path / "x.npy"), "--dim", str(dim),
        "--method", method, "--seed", "5", "--dtype", {"float64": "f64", "float32": "f32"}[dtype],
        "--check", "0", "--out", str(tmp_path / "z.npy"))
    z = ntk.features(arch, data[x], dim=dim, method=method, seed=5, dtype=dtype)
    want = np.load(tmp_path / "z.npy")
    assert z.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(z, want)


def test_data_polynomials_equal_the_cli(ntk_bin, tmp_path, data):
    # 300 samples: both fit on the same 256 evenly spaced ones.
    arch = "Dense(W_std=1.4, b_std=0.1), Relu, Dense(W_std=1.4), Relu, Dense(W_std=1.4)"
    np.save(tmp_path / "x.npy", data["v1"])
    run(ntk_bin, "features", "--arch", arch, "--x", str(tmp_path / "x.npy"), "--dim", "256",
        "--method", "ntksketch", "--polynomial", "data", "--degree", "2", "--seed", "5",
        "--dtype", "f64", "--check", "0", "--out", str(tmp_path / "z.npy"))
    z = ntk.features(arch, data["v1"], dim=256, method="ntksketch", polynomial="data",
                     degree=2, seed=5)
    np.testing.assert_array_equal(z, np.load(tmp_path / "z.npy"))
    # The polynomials depend on the sample: another sample, other features.
    other = ntk.FeatureMap(arch, 9, dim=256, method="ntksketch", polynomial="data", degree=2,
                           seed=5, fit_sample=data["v1"][:20])(data["v1"])
    assert not np.array_equal(z, other)


def test_kernel_ridge_equals_ntk_fit_and_predict(ntk_bin, tmp_path, data):
    x, xt = data["v1"][:120], data["v2"]
    y = np.sin(x[:, 0]) + x[:, 1] ** 2
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "xt.npy", xt)
    run(ntk_bin, "fit", "--arch", FC, "--x-train", str(tmp_path / "x.npy"), "--y-train",
        str(tmp_path / "y.npy"), "--task", "regress", "--lambda", "0.01", "--model", str(tmp_path / "m"))
    run(ntk_bin, "predict", "--model", str(tmp_path / "m"), "--x", str(tmp_path / "xt.npy"),
        "--out", str(tmp_path / "p.npy"))
    want = np.load(tmp_path / "p.npy").reshape(-1)
    got = ntk.KernelRidge(FC, alpha=0.01).fit(x, y).predict(xt)
    # The same kernels and solver; the CLI's prediction multiplies in
    # another order, so agreement is to rounding of a sum of 120 terms.
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


def test_feature_ridge_equals_ntk_fit_with_features(ntk_bin, tmp_path, data):
    x, xt = data["v1"], data["v2"]
    y = np.cos(x[:, 2]) - x[:, 3]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "xt.npy", xt)
    run(ntk_bin, "fit", "--arch", FC, "--x-train", str(tmp_path / "x.npy"), "--y-train",
        str(tmp_path / "y.npy"), "--task", "regress", "--lambda", "0.1", "--features", "256",
        "--dtype", "f64", "--seed", "3", "--check", "0", "--model", str(tmp_path / "m"))
    run(ntk_bin, "predict", "--model", str(tmp_path / "m"), "--x", str(tmp_path / "xt.npy"),
        "--out", str(tmp_path / "p.npy"))
    want = np.load(tmp_path / "p.npy").reshape(-1)
    got = ntk.FeatureRidge(FC, dim=256, seed=3, alpha=0.1).fit(x, y).predict(xt)
    # The same pipeline: features, exact fixed-point sums (any block
    # order gives the same integers) and solve, so the same bits; with
    # ntk.distributed's equality to FeatureRidge (tests_mpi/mpi_fit.py),
    # MPI fits from Python give the CLI's predictions.
    np.testing.assert_array_equal(got, want)
