"""Offline install of terraform-provider-tocsin: a filesystem mirror plus a Terraform CLI config.

`python -m tocsin.provider.install --dir .tf-plugins` (and `tocsin provider install`) writes
    DIR/registry.terraform.io/tocsin/tocsin/0.1.0/<os_arch>/terraform-provider-tocsin_v0.1.0   (sh wrapper)
    DIR/terraformrc   (provider_installation: filesystem_mirror for tocsin/*, direct for everything else)
and prints the two exports that make `terraform init` and cdktf's `terraform providers lock` use the mirror.
The wrapper execs this interpreter (`sys.executable -m tocsin.provider`), so rerun the command after moving the
venv; Terraform's lock file hashes the wrapper, so a stale `.terraform.lock.hcl` must then be deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tocsin.provider.provider import NAMESPACE, TYPE, VERSION

HOST = "registry.terraform.io"


def terraform_platform(terraform: str | None = None) -> str:
    """`linux_amd64` and the like: what `terraform version -json` reports, else derived from this machine."""
    exe = terraform or shutil.which("terraform")
    if exe:
        try:
            out = subprocess.run([exe, "version", "-json"], capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "CHECKPOINT_DISABLE": "1"})
            found = json.loads(out.stdout).get("platform")
            if found:
                return str(found)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{sys.platform.replace('linux2', 'linux')}_{arch}"


def install(dir: str | os.PathLike[str] = ".tf-plugins", *, python: str | None = None,
            os_arch: str | None = None) -> dict[str, str]:
    """Write the mirror and CLI config under `dir`; return the environment variables to export."""
    root = Path(dir).resolve()
    os_arch = os_arch or terraform_platform()
    target = root / HOST / NAMESPACE / TYPE / VERSION / os_arch
    target.mkdir(parents=True, exist_ok=True)
    binary = target / f"terraform-provider-{TYPE}_v{VERSION}"
    wrapper = f"#!/bin/sh\nexec {shlex.quote(python or sys.executable)} -m tocsin.provider \"$@\"\n"
    if not binary.exists() or binary.read_text() != wrapper:  # unchanged bytes keep existing lock files valid
        binary.write_text(wrapper)
    binary.chmod(0o755)

    config = root / "terraformrc"
    config.write_text(
        "# written by `tocsin provider install`: terraform-provider-tocsin from a local filesystem mirror\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(root))}\n"
        f"    include = [\"{HOST}/{NAMESPACE}/*\"]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [\"{HOST}/{NAMESPACE}/*\"]\n"
        "  }\n"
        "}\n"
    )
    return {
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_CLI_ARGS_providers_lock": f"-fs-mirror={root}",
    }


def exports(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def add_parser(subparsers: Any) -> None:
    """Register `tocsin provider install` with the tocsin CLI (tocsin.cli COMMANDS: "provider")."""
    parser = subparsers.add_parser("provider", help="manage terraform-provider-tocsin")
    sub = parser.add_subparsers(dest="provider_command", required=True, metavar="ACTION")
    inst = sub.add_parser("install", help="write an offline filesystem mirror and a Terraform CLI config")
    _arguments(inst)
    inst.set_defaults(func=_run)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=".tf-plugins", help="mirror directory (default: .tf-plugins)")
    parser.add_argument("--platform", default=None, help="os_arch, e.g. linux_amd64 (default: terraform's)")


def _run(args: argparse.Namespace) -> int:
    sys.stdout.write(exports(install(args.dir, os_arch=args.platform)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tocsin.provider.install", description=__doc__.split("\n")[0])
    _arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
