"""The API's logs: one JSON object per line, in Powertools' format.

:func:`configure_logging` gives the ``lambdas`` and ``shared`` loggers (every module logs through
``logging.getLogger(__name__)``) one handler with Powertools' ``LambdaPowertoolsFormatter`` and
the ``LOG_LEVEL``: ``level``, ``location``, ``message``, ``timestamp``, ``service``
(``POWERTOOLS_SERVICE_NAME``: ``segments-api`` when deployed) and, for errors, ``exception``,
``exception_name`` and a structured ``stack_trace``; queryable by field in CloudWatch Logs
Insights. It runs when the app builds its services (the first request), not at import. The
handler is built here rather than taken from a Powertools ``Logger``: ``Logger`` instances of one
service share their handler, so a second configuration could not choose its stream.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

__all__ = ["configure_logging"]

logger = logging.getLogger(__name__)

_LOGGER_NAMES = ("lambdas", "shared")


class _JsonHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler this module installed (replaced, never stacked, on reconfiguration)."""


def configure_logging(
    level: str, *, service: str = "segments-api", stream: IO[str] | None = None
) -> None:
    """JSON logs at ``level`` for this app's loggers.

    Parameters
    ----------
    level : str
        A logging level name (``INFO``, ``debug``...); an unknown one keeps INFO and says so.
    service : str
        The ``service`` field of every line.
    stream : file, optional
        Where the lines go (default: standard output, which Lambda ships to CloudWatch).

    Examples
    --------
    >>> import io, json, logging
    >>> out = io.StringIO()
    >>> configure_logging("INFO", service="segments-api", stream=out)
    >>> logging.getLogger("lambdas.api.example").info("model loaded")
    >>> line = json.loads(out.getvalue())
    >>> line["level"], line["message"], line["service"]
    ('INFO', 'model loaded', 'segments-api')
    """
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    name = level.upper()
    unknown = not isinstance(logging.getLevelName(name), int)
    if unknown:
        name = "INFO"
    handler = _JsonHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service=service))
    for logger_name in _LOGGER_NAMES:
        target = logging.getLogger(logger_name)
        for old in [h for h in target.handlers if isinstance(h, _JsonHandler)]:
            target.removeHandler(old)
        target.addHandler(handler)
        target.setLevel(name)
        target.propagate = False  # Lambda's root handler would print each line a second time
    if unknown:
        logger.warning("LOG_LEVEL=%r is not a logging level; keeping INFO", level)
