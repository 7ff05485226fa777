"""Fixtures for the construct tests: one jsii App per session (a jsii kernel costs ~0.5 s to start), a fresh
stack per test, and helpers that return the synthesized Terraform JSON as dicts without cdktf's metadata."""

from __future__ import annotations

import itertools
import os
import shutil
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

if shutil.which("node") is None and not os.environ.get("JSII_NODE"):
    pytest.skip("the construct tests need Node.js (jsii runs the CDK core in node)", allow_module_level=True)
try:
    from tocsin.constructs import _cdk  # noqa: F401
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"cdktf/cdktn not installed: {exc}", allow_module_level=True)

_counter = itertools.count()


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tocsin.constructs._cdk import Testing

    return Testing.app(outdir=str(tmp_path_factory.mktemp("cdktf-out")))


@pytest.fixture
def stack(app: Any) -> Any:
    from tocsin.constructs._cdk import TerraformStack

    return TerraformStack(app, f"s{next(_counter)}")
