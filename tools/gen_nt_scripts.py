"""Runs python/tests/scripts/*.py as they are, under neural-tangents 0.6.5
(float64), on small embedded data, and writes their data and results to
python/tests/fixtures/scripts/<name>.npz; tests/test_stax.py runs the same
scripts with only their imports changed to `ntk` and compares.

Data: the first 300 of the embedded 8x8 digits (crates/ntk-data/data,
pixel values / 16, flattened), 200 for training and 100 for testing, with
one-hot labels centred as neural-tangents' examples do (−0.1 / 0.9); and 12
training and 5 test 8x8x3 images of deterministic pseudo-random values
with ±1 targets for the WideResnet script.

Environment: as tools/gen_nt_fixtures.py. Run from the repository root:
python tools/gen_nt_scripts.py
"""
import os
import pathlib

import jax
jax.config.update("jax_enable_x64", True)
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "python" / "tests" / "scripts"
OUT = ROOT / "python" / "tests" / "fixtures" / "scripts"


def digits():
    x = np.frombuffer((ROOT / "crates/ntk-data/data/digits_images.u8").read_bytes(), np.uint8)
    y = np.frombuffer((ROOT / "crates/ntk-data/data/digits_labels.u8").read_bytes(), np.uint8)
    x = x.reshape(-1, 64)[:300].astype(np.float64) / 16.0
    y = np.eye(10)[y[:300]] - 0.1
    return x[:200], y[:200], x[200:], y[200:]


def images():
    rng = np.random.default_rng(20261207)
    x = rng.normal(size=(17, 8, 8, 3))
    y = np.sign(x[:, :4, :4, 0].sum(axis=(1, 2)))[:, None] * np.array([[1.0, -1.0]])
    return x[:12], y[:12], x[12:]


def run(name, data):
    ns = {"DATA": data, "__name__": "__script__"}
    exec(compile((SCRIPTS / f"{name}.py").read_text(), name, "exec"), ns)
    return ns["RESULT"]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    d = digits()
    r = run("infinite_fcn", d)
    np.savez(OUT / "infinite_fcn.npz", x_train=d[0], y_train=d[1], x_test=d[2], y_test=d[3],
             **{k: np.asarray(v) for k, v in r.items()})
    print("infinite_fcn", {k: float(np.asarray(v).ravel()[0]) for k, v in r.items()})
    d = images()
    r = run("wide_resnet", d)
    np.savez(OUT / "wide_resnet.npz", x_train=d[0], y_train=d[1], x_test=d[2],
             **{k: np.asarray(v) for k, v in r.items()})
    print("wide_resnet", {k: np.asarray(v).shape for k, v in r.items()})


if __name__ == "__main__":
    main()
