"""Dataset configs are bounded in size and depth before they are parsed."""

from __future__ import annotations

import json

import pytest

from shared.contract.config import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, parse_config
from shared.exceptions import ConfigError


def test_a_config_nested_5000_levels_is_refused_naming_the_limit() -> None:
    raw = '{"features": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ConfigError, match=r"nested 5,001 levels deep; the limit is 16 levels"):
        parse_config(raw.encode())


def test_depth_at_the_limit_reaches_validation_and_brackets_in_strings_do_not_count() -> None:
    at_limit = '{"features": ' + "[" * (MAX_CONFIG_DEPTH - 1) + "]" * (MAX_CONFIG_DEPTH - 1) + "}"
    with pytest.raises(ConfigError, match=r"invalid config: features"):
        parse_config(at_limit)  # past the depth check: pydantic names the bad value
    names = ["[" * 40 + '\\"{' * 40, "x"]
    assert parse_config(json.dumps({"features": names})).features == names


def test_a_config_over_the_size_limit_is_refused_before_parsing() -> None:
    raw = b'{"features": ["' + b"a" * MAX_CONFIG_BYTES + b'"]}'
    with pytest.raises(ConfigError, match=r"bytes; the limit is 1,048,576 bytes"):
        parse_config(raw)


def test_the_depth_scan_is_linear_on_escaped_quotes() -> None:
    """A string of ``\\"`` pairs made a whole-string regular expression backtrack for hours."""
    import time

    raw = '{"features": ["' + '\\"' * 400_000 + '"]}'  # 800 KB, under the size limit
    started = time.perf_counter()
    assert parse_config(raw).features == ['"' * 400_000]
    assert time.perf_counter() - started < 5


def test_escaped_backslashes_end_strings_where_json_does() -> None:
    # "a\\" ends after the escaped backslash: the brackets after it count.
    raw = '{"features": ["a\\\\"' + ", [" * 20 + "]" * 20 + "]}"
    with pytest.raises(ConfigError, match="nested 22 levels deep"):
        parse_config(raw)
