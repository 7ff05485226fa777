"""Offline install: filesystem mirror layout, wrapper script, CLI config and exports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tocsin.provider.install import exports, install, main


def test_install_writes_the_mirror_wrapper_and_cli_config(tmp_path: Path) -> None:
    env = install(tmp_path / "plugins", os_arch="linux_amd64")
    binary = tmp_path / "plugins/registry.terraform.io/tocsin/tocsin/0.1.0/linux_amd64/terraform-provider-tocsin_v0.1.0"
    assert binary.read_text() == f"#!/bin/sh\nexec {sys.executable} -m tocsin.provider \"$@\"\n"
    assert os.access(binary, os.X_OK)
    config = Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    assert f'path    = "{tmp_path / "plugins"}"' in config
    assert 'include = ["registry.terraform.io/tocsin/*"]' in config
    assert 'exclude = ["registry.terraform.io/tocsin/*"]' in config
    assert env["TF_CLI_ARGS_providers_lock"] == f"-fs-mirror={tmp_path / 'plugins'}"


def test_reinstalling_keeps_the_wrapper_bytes_so_lock_files_stay_valid(tmp_path: Path) -> None:
    install(tmp_path, os_arch="linux_amd64")
    binary = next(tmp_path.rglob("terraform-provider-tocsin_v0.1.0"))
    before = binary.stat().st_mtime_ns
    install(tmp_path, os_arch="linux_amd64")
    assert binary.stat().st_mtime_ns == before


def test_main_prints_the_exports(tmp_path: Path, capsys: object) -> None:
    assert main(["--dir", str(tmp_path), "--platform", "linux_amd64"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.startswith("export TF_CLI_CONFIG_FILE=") and "export TF_CLI_ARGS_providers_lock=-fs-mirror=" in out
    assert exports({"A": "b c"}) == "export A='b c'\n"
