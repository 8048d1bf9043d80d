"""Settings read from the environment fail loudly on bad values."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list


def test_typed_readers_parse_and_default(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_FLOAT", "0.25")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 1) == 42
    assert env_float("X_FLOAT", 1.0) == 0.25
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_int("X_MISSING", 7) == 7


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (env_bool, "maybe", "X must be one of 1/0, true/false, yes/no, on/off; got 'maybe'"),
        (env_int, "4GB", "X must be a whole number; got '4GB'"),
        (env_float, "half", "X must be a number; got 'half'"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("X", value)
    with pytest.raises(ImproperlyConfigured) as exc:
        reader("X", None)
    assert str(exc.value) == message
