"""The contract package on its own: settings readers, chat messages, the offline check."""

from __future__ import annotations

import pytest
from rag_contract import EnvReader, hub_reachable, message_text, offline

pytestmark = pytest.mark.pure

DECLARED = {"X_SIZE": ("32", "a size"), "X_NAME": ("", "a name"), "X_ON": ("on", "a switch"), "X_RATE": ("0.5", "")}


def test_settings_read_the_environment_with_the_one_declared_default():
    env = EnvReader(DECLARED, {})
    assert env.int("X_SIZE") == 32 and env.str("X_NAME") == "" and env.switch("X_ON") and env.float("X_RATE") == 0.5
    env = EnvReader(DECLARED, {"X_SIZE": " 8 ", "X_NAME": " bob ", "X_ON": "OFF", "X_RATE": "2"})
    assert env.int("X_SIZE") == 8 and env.str("X_NAME") == "bob" and not env.switch("X_ON") and env.float("X_RATE") == 2
    assert EnvReader(DECLARED, {"X_SIZE": "  "}).int("X_SIZE") == 32  # set but empty: the default
    assert EnvReader(DECLARED, {}).int("X_NAME", empty_is_none=True) is None


@pytest.mark.parametrize(
    "name, value, method, message",
    [
        ("X_SIZE", "ten", "int", "X_SIZE must be a whole number, but got 'ten'"),
        ("X_RATE", "fast", "float", "X_RATE must be a number, but got 'fast'"),
        ("X_ON", "maybe", "switch", "X_ON must be on or off, but got 'maybe'"),
    ],
)
def test_a_bad_setting_names_itself_and_the_value(name, value, method, message):
    with pytest.raises(ValueError, match=message):
        getattr(EnvReader(DECLARED, {name: value}), method)(name)
    with pytest.raises(KeyError):  # an undeclared setting is a bug in the Space, not the user's
        EnvReader(DECLARED, {}).str("X_UNDECLARED")


def test_chat_messages_as_strings_or_content_parts():
    assert message_text("as is ") == "as is "
    assert message_text([{"type": "file", "file": {"path": "x.png"}}, {"type": "text", "text": "see"}]) == "see"
    assert message_text({"type": "text", "text": "one part"}) == "one part" and message_text(None) == ""


def test_offline_is_never_looked_up(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert offline() and not hub_reachable("sentence-transformers/all-MiniLM-L6-v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not offline() and not hub_reachable(str(tmp_path))  # a local folder is not a Hub repo
