"""go-plugin handshake of `python -m tocsin.provider`, including with an unusable $HOME."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from tocsin.provider.plugin import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, make_certificate


def _start(env: dict[str, str]) -> tuple[bytes, float]:
    cert_pem = make_certificate()[0].decode()  # stands in for Terraform's client certificate
    full = {**os.environ, **env, MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "6",
            "PLUGIN_CLIENT_CERT": cert_pem}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tocsin.provider"], stdout=subprocess.PIPE, env=full)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        return line, time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("home", ["/proc/no-such-home", None])
def test_handshake_line_names_protocol_6_a_unix_socket_and_a_localhost_cert(home: str | None,
                                                                           tmp_path: Path) -> None:
    env = {"HOME": home, "XDG_CACHE_HOME": ""} if home else {"XDG_CACHE_HOME": str(tmp_path)}
    line, seconds = _start(env)
    core, proto, network, address, kind, cert = line.decode().strip().split("|")
    assert (core, proto, network, kind) == ("1", "6", "unix", "grpc") and address.endswith("plugin.sock")
    der = base64.b64decode(cert + "=" * (-len(cert) % 4))
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert seconds < 2.0  # the budget is 300 ms (docs/decisions.md); CI boxes get slack


def test_run_by_hand_it_explains_itself() -> None:
    env = {k: v for k, v in os.environ.items() if k != MAGIC_COOKIE_KEY}
    proc = subprocess.run([sys.executable, "-m", "tocsin.provider"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Terraform plugin" in proc.stderr
