"""The go-plugin side of a Terraform provider: magic cookie, AutoMTLS, the gRPC server and the handshake line.

Steps when Terraform starts the provider:
 1. Check TF_PLUGIN_MAGIC_COOKIE (a human running the binary gets a hint instead of a hanging process).
 2. Load the server certificate (ECDSA P-256, self-signed, SAN localhost, valid 30 days) from the cache, or make
    one: importing `cryptography` costs ~50 ms of the start-up budget, so it is cached in $XDG_CACHE_HOME/tocsin
    (~/.cache/tocsin), falling back to <tmp>/tocsin-<uid> when home is read-only or missing, and to an in-memory
    certificate when nothing is writable. Start-up never fails because of the cache.
 3. Listen with TLS on a unix socket in a fresh 0700 temp dir when Terraform asks for AutoMTLS (it passes
    PLUGIN_CLIENT_CERT); see the comment in serve() on why the client certificate itself is not verified.
    Without PLUGIN_CLIENT_CERT (reattach/debug) the socket is plaintext.
 4. Print `1|6|unix|<socket>|grpc|<base64 DER cert>` on stdout; that line is the handshake.
 5. Serve tfplugin6.Provider plus go-plugin's GRPCController (Shutdown) and the grpc health check, until
    Shutdown or SIGTERM (SIGINT is ignored, as go-plugin servers do: Terraform handles Ctrl-C).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures
from typing import Any

import grpc

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 6
MAX_WORKERS = 16  # Terraform runs up to 10 operations in parallel (-parallelism default)
CERT_DAYS = 30
CERT_RENEW_SECONDS = 86400  # make a new certificate when the cached one has less than a day left
CERT_CACHE_FILE = "provider-cert.json"


def make_certificate() -> tuple[bytes, bytes, bytes]:
    """(cert PEM, key PEM, cert DER) of a fresh self-signed server certificate for localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tocsin"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=30))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                     content_commitment=False, data_encipherment=False, key_agreement=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.public_bytes(serialization.Encoding.DER)


def _cache_dirs(env: Any) -> list[str]:
    dirs = []
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home and home != "~" else "")
    if base:
        dirs.append(os.path.join(base, "tocsin"))
    dirs.append(os.path.join(tempfile.gettempdir(), f"tocsin-{os.getuid() if hasattr(os, 'getuid') else 'user'}"))
    return dirs


def server_certificate(env: Any = os.environ) -> tuple[bytes, bytes, bytes]:
    """(cert PEM, key PEM, cert DER), from the first usable cache directory or freshly made (see step 2)."""
    import time

    dirs = _cache_dirs(env)
    for directory in dirs:
        try:
            with open(os.path.join(directory, CERT_CACHE_FILE)) as fh:
                cached = json.load(fh)
            if cached["not_after"] - time.time() > CERT_RENEW_SECONDS:
                return (cached["cert"].encode(), cached["key"].encode(), base64.b64decode(cached["der"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    cert_pem, key_pem, der = make_certificate()
    record = {"cert": cert_pem.decode(), "key": key_pem.decode(), "der": base64.b64encode(der).decode(),
              "not_after": time.time() + CERT_DAYS * 86400 - 60}
    for directory in dirs:
        path = os.path.join(directory, CERT_CACHE_FILE)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
                json.dump(record, fh)
            os.replace(tmp, path)
            break
        except OSError:
            continue  # read-only or missing: try the next directory
    return cert_pem, key_pem, der


def _raw_handlers(service: str, methods: dict[str, Any]) -> grpc.GenericRpcHandler:
    """Handlers that work on raw bytes, for the tiny go-plugin services that need no generated classes."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn, request_deserializer=None, response_serializer=None)
        for name, fn in methods.items()
    }
    return grpc.method_handlers_generic_handler(service, handlers)


def serve(provider_handler: grpc.GenericRpcHandler, *, environ: dict[str, str] | None = None,
          out: Any = None) -> int:
    """Run the plugin server until Terraform shuts it down. Returns the process exit code."""
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This binary is a Terraform plugin (terraform-provider-tocsin). It is started by Terraform, not by "
              "hand; run `python -m tocsin.provider.install --dir .tf-plugins` to register it.", file=sys.stderr)
        return 1
    versions = env.get("PLUGIN_PROTOCOL_VERSIONS", str(APP_PROTOCOL_VERSION)).split(",")
    if str(APP_PROTOCOL_VERSION) not in versions:
        print(f"terraform-provider-tocsin speaks plugin protocol {APP_PROTOCOL_VERSION}; Terraform asked for "
              f"{','.join(versions)}. Use Terraform >= 1.0.", file=sys.stderr)
        return 1

    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS),
                         options=[("grpc.max_receive_message_length", 256 << 20),
                                  ("grpc.max_send_message_length", 256 << 20)])

    def shutdown(_request: bytes, _context: Any) -> bytes:
        stop.set()
        return b""

    def health(_request: bytes, _context: Any) -> bytes:
        return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

    server.add_generic_rpc_handlers((
        provider_handler,
        _raw_handlers("plugin.GRPCController", {"Shutdown": shutdown}),
        _raw_handlers("grpc.health.v1.Health", {"Check": health}),
    ))

    sock_dir = tempfile.mkdtemp(prefix="tocsin-plugin-")
    sock = os.path.join(sock_dir, "plugin.sock")
    client_cert = env.get("PLUGIN_CLIENT_CERT", "").encode()
    cert_field = ""
    if client_cert:
        cert_pem, key_pem, cert_der = server_certificate(env)
        # The client certificate is not requested: Terraform's is ECDSA P-521, whose signature scheme grpcio's
        # BoringSSL does not offer, so Go would send none and the handshake would fail. The socket sits in a
        # fresh 0700 directory, so only this user can reach it; the server side of the TLS is as go-plugin's.
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], require_client_auth=False)
        server.add_secure_port(f"unix:{sock}", creds)
        cert_field = base64.b64encode(cert_der).decode().rstrip("=")
    else:
        server.add_insecure_port(f"unix:{sock}")
    server.start()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to Terraform, which stops us when it is done
    out.write(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{sock}|grpc|{cert_field}\n")
    out.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop(grace=0.5).wait(2)
        shutil.rmtree(sock_dir, ignore_errors=True)
    return 0
