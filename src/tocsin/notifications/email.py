"""Email over SMTP (smtplib): STARTTLS, implicit TLS or plain; optional AUTH.

The Message-ID is derived from the delivery id, so a receiving system that de-duplicates on Message-ID sees a
retried delivery as the same mail. SMTP reply codes map onto the retry rules: 4xx is temporary, 5xx permanent.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from tocsin.errors import DeliveryError
from tocsin.notifications.base import (
    DELIVERY_ID_HEADER,
    DeliveryResult,
    SecretResolver,
    redactor_for,
    resolve,
)
from tocsin.schemas.blocks import Email
from tocsin.secrets import Redactor


def email_message(block: Email, subject: str, body: str, delivery_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = block.from_email
    message["To"] = ", ".join(block.to_emails)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{delivery_id}@tocsin>"
    message[DELIVERY_ID_HEADER] = delivery_id
    message.set_content(body)
    return message


class EmailNotifier:
    channel = "SMTP"

    def __init__(self, *, resolve_secret: SecretResolver | None = None, **_: object) -> None:
        self.resolve_secret = resolve_secret

    def send(self, block: Email, subject: str, body: str, *, delivery_id: str) -> DeliveryResult:
        password = resolve(block, "password", self.resolve_secret)
        redactor = redactor_for(block, [password])
        message = email_message(block, subject, body, delivery_id)
        try:
            refused = self._deliver(block, password, message)
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error, redactor) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"SMTP server refused all {len(codes)} recipients (codes {sorted(set(codes))})",
                permanent=all(c >= 500 for c in codes),
                status_code=max(codes),
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {redactor.redact(str(exc))}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, refused connections
            kind = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else "connection failed"
            raise DeliveryError(f"SMTP {kind} ({type(exc).__name__}: {redactor.redact(str(exc))})") from None
        note = f"; refused: {', '.join(sorted(refused))}" if refused else ""
        return DeliveryResult(250, f"accepted for {len(block.to_emails) - len(refused)} recipients{note}")

    def _deliver(self, block: Email, password: str | None, message: EmailMessage) -> dict[str, object]:
        context = ssl.create_default_context()
        if not block.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        smtp: smtplib.SMTP
        if block.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                block.smtp_host, block.port, timeout=block.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(block.smtp_host, block.port, timeout=block.timeout_seconds)
        with smtp:
            if block.security == "starttls":
                smtp.starttls(context=context)
            if block.username and password is not None:
                smtp.login(block.username, password)
            return dict(smtp.send_message(message))


def _smtp_error(code: int, text: bytes | str, redactor: Redactor) -> DeliveryError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return DeliveryError(
        f"SMTP server answered {code}: {redactor.redact(reply)[:200]}",
        permanent=code >= 500,
        status_code=code,
    )
