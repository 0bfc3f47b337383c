"""Shared helpers of the Python tests: the repository's fixtures and the CLI."""

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates" / "ntk-features" / "tests" / "fixtures"


def ntk_binary():
    """The `ntk` command: $NTK_BIN, else the workspace's release or debug build."""
    env = os.environ.get("NTK_BIN")
    if env:
        return env
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "ntk"
        if p.exists():
            return str(p)
    return shutil.which("ntk")


@pytest.fixture(scope="session")
def ntk_bin():
    b = ntk_binary()
    if b is None or not os.path.exists(b) and shutil.which(b) is None:
        # `cargo xtask ci` builds the binary and sets NTK_BIN, so this never
        # skips there; outside CI, build it with `cargo build -p ntk`.
        if os.environ.get("NTK_BIN"):
            pytest.fail(f"NTK_BIN={os.environ['NTK_BIN']} does not exist")
        pytest.skip("the ntk binary is not built (cargo build -p ntk)")
    return b


# neural-tangents scripts that tests/test_stax.py runs with their imports
# changed; as modules they would import neural_tangents.
collect_ignore = ["scripts"]
