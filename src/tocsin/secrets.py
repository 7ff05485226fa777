"""Secrets at rest and in text: a Fernet box for stored values and a redactor for everything printed.

Stored secret values (the `/api/secrets` table, secret block fields) are encrypted with `SecretBox`. Its key
comes from `TOCSIN_SECRET_KEY` or, when that is unset, from `TOCSIN_HOME/secret.key`, created with mode 600 on
first use. Several keys may be given (comma-separated in the variable, one per line in the file): the first
encrypts, all of them decrypt, so a key is rotated by putting a new one in front and calling
`SecretBox.rotate` on stored tokens.

`Redactor` is the last line of defence: whatever reaches a log line, an error message or a stored response
excerpt goes through `redact()`, which replaces every known secret value (and its URL- and JSON-escaped forms)
with a marker.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from tocsin.errors import TocsinError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

KEY_ENV = "TOCSIN_SECRET_KEY"
HOME_ENV = "TOCSIN_HOME"
KEY_FILE_NAME = "secret.key"
DEFAULT_HOME = "~/.tocsin"

# Values shorter than this are not treated as secrets by the redactor: replacing every "a" or "ok" in a log
# line would hide everything and protect nothing. The secrets API should refuse such values outright.
MIN_REDACTED_LENGTH = 4

# The first marker containing none of the registered secrets is used, so redacted text can never contain one.
_MARKERS = ("[REDACTED]", "********", "<hidden>", "#")


class SecretKeyError(TocsinError):
    """The configured key is missing, malformed, or cannot decrypt a stored value. Never carries a secret."""


class SecretBox:
    """Encrypts and decrypts strings with Fernet (AES-128-CBC + HMAC-SHA256, timestamped tokens).

    `keys[0]` encrypts; every key decrypts (MultiFernet), which is what makes rotation possible.
    """

    CIPHER_MODULE = "cryptography.fernet"  # imported on first use

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key given")
        for i, key in enumerate(keys):
            if not _is_fernet_key(key):
                raise SecretKeyError(
                    f"secret key #{i + 1} is not a Fernet key (32 bytes, url-safe base64, 44 characters); "
                    "make one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`"
                )
        self._keys = list(keys)
        self._multi: MultiFernet | None = None
        self._lock = threading.Lock()

    @property
    def _box(self) -> MultiFernet:
        """The Fernets, made on first use: `cryptography` costs ~7 MB and ~50 ms of start-up, and a server
        with no stored secret never needs it."""
        if self._multi is None:
            from cryptography.fernet import Fernet, MultiFernet  # CIPHER_MODULE

            with self._lock:
                if self._multi is None:
                    self._multi = MultiFernet([Fernet(key) for key in self._keys])
        return self._multi

    @staticmethod
    def generate_key() -> str:
        """A new Fernet key: 32 random bytes, url-safe base64 (what `Fernet.generate_key` makes)."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        """Key(s) from TOCSIN_SECRET_KEY, else TOCSIN_HOME/secret.key (generated, mode 600, if absent)."""
        env = os.environ if environ is None else environ
        configured = env.get(KEY_ENV, "").strip()
        if configured:
            return cls([k.strip() for k in configured.split(",") if k.strip()])
        home = Path(env.get(HOME_ENV) or DEFAULT_HOME).expanduser()
        return cls(load_or_create_key_file(home / KEY_FILE_NAME))

    def encrypt(self, plaintext: str) -> str:
        return self._box.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._box.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                "a stored secret cannot be decrypted with the configured key(s); if the key was rotated, "
                f"list the old key after the new one in {KEY_ENV}"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary key (it may have been made with any listed key)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._box.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretKeyError("a stored secret cannot be decrypted with the configured key(s)") from None


def _is_fernet_key(key: str | bytes) -> bool:
    """What `Fernet(key)` accepts, checked without importing cryptography: url-safe base64 of 32 bytes."""
    try:
        return len(base64.urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError, TypeError):
        return False


def load_or_create_key_file(path: Path) -> list[str]:
    """Read the keys in `path` (one per line, first is primary); create the file with a new key if missing.

    Creation uses O_EXCL so two processes starting together end up with the same key: the loser reads the
    winner's file.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(SecretBox.generate_key() + "\n")
    keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise SecretKeyError(f"key file {path} is empty; delete it to generate a new key")
    return keys


class Redactor:
    """Replaces known secret values in text. Thread-safe; the set of values can change at any time."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._marker = _MARKERS[0]
        self._forms: tuple[str, ...] = ()
        self.update(values)

    def add(self, value: str) -> None:
        self.update([value])

    def update(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {v for v in values if isinstance(v, str) and len(v) >= MIN_REDACTED_LENGTH} - self._values
            if new:  # recompiling is not free: only when a value is new
                self._values.update(new)
                self._compile()

    def including(self, values: Iterable[str]) -> Redactor:
        """This redactor if it knows every one of `values` already, else a new one that knows them too. This
        one is left unchanged, so a redactor shared between deliveries (`redactor_for`) is never mutated."""
        with self._lock:
            new = [v for v in values if isinstance(v, str) and len(v) >= MIN_REDACTED_LENGTH and v not in self._values]
            if not new:
                return self
            known = list(self._values)
        return Redactor([*known, *new])

    def discard(self, value: str) -> None:
        with self._lock:
            self._values.discard(value)
            self._compile()

    def replace_all(self, values: Iterable[str]) -> None:
        with self._lock:
            self._values = {v for v in values if isinstance(v, str) and len(v) >= MIN_REDACTED_LENGTH}
            self._compile()

    def _compile(self) -> None:
        forms: set[str] = set()
        for value in self._values:
            forms.update(_escaped_forms(value))
        forms = {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._marker = next(m for m in _MARKERS if not any(f in m for f in self._forms))
        self._pattern = re.compile("|".join(re.escape(f) for f in self._forms)) if self._forms else None

    def redact(self, text: str) -> str:
        """`text` with every occurrence of a known secret replaced; the result contains none of them."""
        pattern, forms, marker = self._pattern, self._forms, self._marker
        if pattern is None or not text or pattern.search(text) is None:
            return text
        for _ in range(3):
            text = _cover(text, forms, marker)
            if not any(f in text for f in forms):
                return text
        return marker  # pathological overlaps with the marker itself: give up on the text, keep the secret


def _escaped_forms(value: str) -> set[str]:
    """The ways a value commonly shows up in messages: as is, URL-encoded, JSON-escaped."""
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def _cover(text: str, forms: tuple[str, ...], marker: str) -> str:
    """Replace the union of all (possibly overlapping) occurrences with one marker per covered run."""
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if not spans:
        return text
    spans.sort()
    out, pos = [], 0
    cur_start, cur_end = spans[0]
    for start, end in spans[1:]:
        if start <= cur_end:
            cur_end = max(cur_end, end)
            continue
        out += [text[pos:cur_start], marker]
        pos, (cur_start, cur_end) = cur_end, (start, end)
    out += [text[pos:cur_start], marker, text[cur_end:]]
    return "".join(out)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and any exception text of every record.

    Attach it to handlers (not loggers) so records propagated from child loggers are covered too.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True
