"""SecretBox encrypts at rest with rotation; the Redactor keeps known secret values out of any text."""

import io
import logging
import os
import stat
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.secrets import (
    MIN_REDACTED_LENGTH,
    RedactingFilter,
    Redactor,
    SecretBox,
    SecretKeyError,
)


def test_encrypted_value_round_trips_and_does_not_show_the_plaintext():
    box = SecretBox([SecretBox.generate_key()])
    token = box.encrypt("hunter2-the-password")
    assert "hunter2" not in token
    assert box.decrypt(token) == "hunter2-the-password"


def test_key_comes_from_tocsin_secret_key(tmp_path):
    key = SecretBox.generate_key()
    token = SecretBox([key]).encrypt("v")
    box = SecretBox.from_environment({"TOCSIN_SECRET_KEY": key, "TOCSIN_HOME": str(tmp_path)})
    assert box.decrypt(token) == "v"
    assert not (tmp_path / "secret.key").exists()


def test_key_file_is_generated_once_with_mode_600(tmp_path):
    env = {"TOCSIN_HOME": str(tmp_path / "home")}
    token = SecretBox.from_environment(env).encrypt("v")
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert SecretBox.from_environment(env).decrypt(token) == "v"


def test_rotation_old_keys_decrypt_and_rotate_moves_tokens_to_the_new_key():
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    token = SecretBox([old]).encrypt("value")
    both = SecretBox.from_environment({"TOCSIN_SECRET_KEY": f"{new},{old}"})
    assert both.decrypt(token) == "value"
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "value"
    with pytest.raises(SecretKeyError):
        SecretBox([old]).decrypt(rotated)


def test_key_file_may_list_old_keys_after_the_primary(tmp_path):
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    (tmp_path / "secret.key").write_text(f"{new}\n{old}\n")
    box = SecretBox.from_environment({"TOCSIN_HOME": str(tmp_path)})
    assert box.decrypt(SecretBox([old]).encrypt("x")) == "x"
    assert SecretBox([new]).decrypt(box.encrypt("y")) == "y"


def test_malformed_key_is_rejected_without_repeating_it():
    with pytest.raises(SecretKeyError) as info:
        SecretBox.from_environment({"TOCSIN_SECRET_KEY": "not-a-fernet-key-but-secret"})
    assert "not-a-fernet-key-but-secret" not in str(info.value)


@pytest.mark.parametrize("key", [
    "", "short", "A" * 43, "A" * 44 + "=", "+" * 43 + "=", "é" * 44,
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "_-" * 21 + "Aw==",
])
def test_keys_are_accepted_exactly_when_fernet_accepts_them(key):
    from cryptography.fernet import Fernet

    try:
        Fernet(key)
        fernet_accepts = True
    except (ValueError, TypeError):
        fernet_accepts = False
    try:
        SecretBox([key])
        we_accept = True
    except SecretKeyError:
        we_accept = False
    assert we_accept == fernet_accepts


def test_generated_keys_are_fernet_keys_and_distinct():
    from cryptography.fernet import Fernet

    keys = {SecretBox.generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


def test_cryptography_is_imported_on_first_use_not_when_the_box_is_made(tmp_path):
    """A server with no stored secret never loads it (~7 MB resident, ~50 ms of cold start)."""
    code = (
        "import sys\n"
        "from tocsin.secrets import SecretBox\n"
        f"box = SecretBox.from_environment({{'TOCSIN_HOME': {str(tmp_path)!r}}})\n"
        "assert 'cryptography' not in sys.modules, 'imported too early'\n"
        "assert box.decrypt(box.encrypt('v')) == 'v'\n"
        "assert 'cryptography' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_wrong_key_gives_a_clear_error():
    token = SecretBox([SecretBox.generate_key()]).encrypt("v")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([SecretBox.generate_key()]).decrypt(token)


def test_redactor_replaces_plain_url_encoded_and_json_escaped_forms():
    secret = 'p@ss w/"q"'
    redactor = Redactor([secret])
    text = f'raw={secret} url=p%40ss%20w%2F%22q%22 plus=p%40ss+w%2F%22q%22 json="p@ss w/\\"q\\""'
    out = redactor.redact(text)
    assert "p@ss" not in out and "%40ss" not in out
    assert out.count("[REDACTED]") == 4


def test_redactor_ignores_values_too_short_to_be_secrets():
    redactor = Redactor(["abc"])
    assert redactor.redact("abcabc") == "abcabc"


def test_redactor_can_forget_a_value():
    redactor = Redactor(["token-1234"])
    redactor.discard("token-1234")
    assert redactor.redact("token-1234") == "token-1234"


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text(min_size=MIN_REDACTED_LENGTH, max_size=12), min_size=1, max_size=3),
    pieces=st.lists(st.text(max_size=12), min_size=1, max_size=4),
)
def test_redacted_text_never_contains_a_registered_secret(secrets, pieces):
    text = secrets[0].join(pieces) + secrets[-1]
    out = Redactor(secrets).redact(text)
    for secret in secrets:
        assert secret not in out


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_text_without_secrets_is_unchanged(text):
    secret = "\x00never-in-text\x00"
    assert Redactor([secret]).redact(text) == text


def test_logging_filter_redacts_messages_args_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor(["sk-live-0123456789"])))
    logger = logging.getLogger("tocsin.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s rejected", "sk-live-0123456789")
        try:
            raise ValueError("bad token sk-live-0123456789")
        except ValueError:
            logger.exception("delivery failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "sk-live-0123456789" not in output
    assert "token [REDACTED] rejected" in output
    assert "ValueError: bad token [REDACTED]" in output
