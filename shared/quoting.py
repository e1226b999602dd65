"""User values quoted in messages: errors, warnings, failure reports and manifests.

Every message that echoes a value a user sent or uploaded quotes it through
:func:`quote_value`, so a 200 MB cell or a 5 MB request value is shown as its first
:data:`QUOTED_VALUE_CHARS` characters and its length, never in full (a manifest, an error
answer or a log line stays small whatever the input).
"""

from __future__ import annotations

__all__ = ["QUOTED_VALUE_CHARS", "quote_value", "shorten"]

QUOTED_VALUE_CHARS = 100
"""The most characters of a value's ``repr`` a message shows."""


def quote_value(value: object, limit: int = QUOTED_VALUE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with the value's full length when longer.

    Parameters
    ----------
    value : object
        The value to show (usually a str, a number or a column name).
    limit : int
        Most characters of the ``repr`` shown.

    Returns
    -------
    str
        The ``repr`` itself when short enough, else its start, ``...`` and the length.

    Examples
    --------
    >>> quote_value("Age")
    "'Age'"
    >>> quote_value(31)
    '31'
    >>> quote_value("x" * 500, limit=10)
    "'xxxxxxxx... (500 characters)"
    """
    if isinstance(value, str) and len(value) > limit:
        # repr of a slice only: repr of a 200 MB string would itself cost 200 MB.
        return f"{repr(value[:limit])[: limit - 1]}... ({len(value)} characters)"
    if isinstance(value, bytes | bytearray) and len(value) > limit:
        return f"{repr(bytes(value[:limit]))[: limit - 1]}... ({len(value)} bytes)"
    text = repr(value)
    if len(text) > limit:
        return f"{text[: limit - 1]}... ({len(text)} characters)"
    return text


def shorten(text: str, limit: int = QUOTED_VALUE_CHARS) -> str:
    """``text`` itself when short enough, else its first ``limit`` characters and ``...``.

    For user text shown unquoted (a field path such as ``customers[3].<key>``).

    Examples
    --------
    >>> shorten("customers[0].Age")
    'customers[0].Age'
    >>> shorten("k" * 500, limit=5)
    'kkkkk...'
    """
    return text if len(text) <= limit else text[:limit] + "..."
