"""Email: a real aiosmtpd server on loopback, plain, with AUTH, and with STARTTLS."""

import datetime
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tocsin.errors import DeliveryError
from tocsin.notifications.email import EmailNotifier
from tocsin.schemas.blocks import validate_block

PASSWORD = "smtp-pass-0123456789"


class Inbox:
    def __init__(self, reply=None):
        self.messages = []
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"alerts"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    servers = []

    def start(handler=None, **kwargs):
        handler = handler or Inbox()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        servers.append(controller)
        return handler, controller.port

    yield start
    for controller in servers:
        controller.stop()


def email_block(port, **data):
    return validate_block(
        "email",
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "security": "none",
            "from_email": "tocsin@example.com",
            "to_emails": ["oncall@example.com", "lead@example.com"],
            "timeout_seconds": 2,
            **data,
        },
    )


def test_plain_smtp_delivers_one_message_to_every_recipient(smtp):
    inbox, port = smtp()
    result = EmailNotifier().send(
        email_block(port), "Pipeline failed", "Flow etl failed.", delivery_id="d-11"
    )
    assert result.status_code == 250
    [(sender, recipients, content)] = inbox.messages
    assert (sender, recipients) == ("tocsin@example.com", ["oncall@example.com", "lead@example.com"])
    assert "Subject: Pipeline failed" in content
    assert "Message-ID: <d-11@tocsin>" in content
    assert "X-Tocsin-Delivery-Id: d-11" in content
    assert content.rstrip().endswith("Flow etl failed.")


def test_auth_with_a_named_secret(smtp):
    inbox, port = smtp(authenticator=authenticator, auth_require_tls=False)
    block = email_block(port, username="alerts", password_secret="smtp")
    EmailNotifier(resolve_secret={"smtp": PASSWORD}.__getitem__).send(block, "s", "b", delivery_id="d")
    assert len(inbox.messages) == 1


def test_wrong_password_is_permanent_and_not_in_the_error(smtp):
    _, port = smtp(authenticator=authenticator, auth_require_tls=False)
    block = email_block(port, username="alerts", password=PASSWORD + "-wrong")
    with pytest.raises(DeliveryError) as info:
        EmailNotifier().send(block, "s", "b", delivery_id="d")
    assert info.value.permanent and info.value.status_code == 535
    assert PASSWORD not in str(info.value)


def test_partly_refused_recipients_still_deliver(smtp):
    inbox, port = smtp()
    block = email_block(port, to_emails=["oncall@example.com", "reject@example.com"])
    result = EmailNotifier().send(block, "s", "b", delivery_id="d")
    assert "refused: reject@example.com" in result.response_excerpt
    assert inbox.messages[0][1] == ["oncall@example.com"]


def test_all_recipients_refused_is_permanent(smtp):
    _, port = smtp()
    with pytest.raises(DeliveryError) as info:
        EmailNotifier().send(email_block(port, to_emails=["reject@example.com"]), "s", "b", delivery_id="d")
    assert info.value.permanent and info.value.status_code == 550


def test_temporary_server_error_is_retryable(smtp):
    _, port = smtp(Inbox(reply="451 try again later"))
    with pytest.raises(DeliveryError) as info:
        EmailNotifier().send(email_block(port), "s", "b", delivery_id="d")
    assert not info.value.permanent and info.value.status_code == 451


def test_no_server_is_retryable():
    with pytest.raises(DeliveryError) as info:
        EmailNotifier().send(email_block(free_port()), "s", "b", delivery_id="d")
    assert not info.value.permanent


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_starttls_then_auth(smtp, tmp_path):
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    inbox, port = smtp(tls_context=context, require_starttls=True, authenticator=authenticator)
    block = email_block(port, security="starttls", verify_tls=False, username="alerts", password=PASSWORD)
    EmailNotifier().send(block, "s", "b", delivery_id="d")
    assert len(inbox.messages) == 1
    strict = email_block(port, security="starttls", username="alerts", password=PASSWORD)
    with pytest.raises(DeliveryError) as info:  # the self-signed certificate is refused when verifying
        EmailNotifier().send(strict, "s", "b", delivery_id="d")
    assert PASSWORD not in str(info.value)
