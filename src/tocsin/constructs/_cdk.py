"""The CDK core, from `cdktn` (CDK Terrain, the maintained fork) when installed, else from `cdktf` 0.21.

Every construct module imports the core through this shim, never from `cdktf` directly, so the two stay
swappable. Set ``TOCSIN_CDK=cdktf`` (or ``cdktn``) to force one when both are installed.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def _load() -> ModuleType:
    forced = os.environ.get("TOCSIN_CDK", "").strip()
    order = [forced] if forced else ["cdktn", "cdktf"]
    errors: list[str] = []
    for name in order:
        try:
            return importlib.import_module(name)
        except ImportError as exc:  # try the next one
            errors.append(f"{name}: {exc}")
    raise ImportError(
        "tocsin.constructs needs a CDK for Terraform core: install `cdktn` (preferred) or `cdktf==0.21.0`, "
        "for example `pip install 'tocsin[cdk]'` (" + "; ".join(errors) + ")"
    )


core: ModuleType = _load()
CDK_NAME: str = core.__name__

App = core.App
Fn = core.Fn
Lazy = core.Lazy
TerraformDataSource = core.TerraformDataSource
TerraformOutput = core.TerraformOutput
TerraformProvider = core.TerraformProvider
TerraformProviderGeneratorMetadata = core.TerraformProviderGeneratorMetadata
TerraformResource = core.TerraformResource
TerraformStack = core.TerraformStack
TerraformVariable = core.TerraformVariable
Testing = core.Testing
Token = core.Token

from constructs import Construct  # noqa: E402  (shared by cdktf and cdktn)

__all__ = [
    "App",
    "CDK_NAME",
    "Construct",
    "Fn",
    "Lazy",
    "TerraformDataSource",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformProviderGeneratorMetadata",
    "TerraformResource",
    "TerraformStack",
    "TerraformVariable",
    "Testing",
    "Token",
    "core",
]
