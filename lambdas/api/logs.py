"""The API's logs: one JSON object per line, in Powertools' format.

:func:`configure_logging` sets the ``LOG_LEVEL`` of the ``lambdas`` and ``shared`` loggers (every
module logs through ``logging.getLogger(__name__)``) and, with ``LOG_FORMAT=json`` (the deployed
API function), gives them one handler with Powertools' ``LambdaPowertoolsFormatter`` on standard
output: ``level``, ``location``, ``message``, ``timestamp``, ``service``
(``POWERTOOLS_SERVICE_NAME``: ``segments-api`` when deployed) and, for errors, ``exception``,
``exception_name`` and a structured ``stack_trace``; queryable by field in CloudWatch Logs
Insights. Off Lambda (``LOG_FORMAT=text``, the default) logging is left to the process: the CLI
runs the app in process and its standard output carries the CLI's own results. It runs when the
app builds its services (the first request), not at import. The
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
    level: str,
    *,
    service: str = "segments-api",
    json_lines: bool = True,
    stream: IO[str] | None = None,
) -> None:
    """``level`` for this app's loggers, and (``json_lines``) JSON lines.

    Parameters
    ----------
    level : str
        A logging level name (``INFO``, ``debug``...); an unknown one keeps INFO and says so.
    service : str
        The ``service`` field of every line.
    json_lines : bool
        Install the JSON handler (else remove one installed before and leave the handlers to
        the process).
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
    handler = None
    if json_lines:
        handler = _JsonHandler(stream if stream is not None else sys.stdout)
        handler.setFormatter(LambdaPowertoolsFormatter(service=service))
    for logger_name in _LOGGER_NAMES:
        target = logging.getLogger(logger_name)
        installed = [h for h in target.handlers if isinstance(h, _JsonHandler)]
        for old in installed:
            target.removeHandler(old)
        target.setLevel(name)
        if handler is not None:
            target.addHandler(handler)
            target.propagate = False  # Lambda's root handler would print each line again
        elif installed:
            target.propagate = True
    if unknown:
        logger.warning("LOG_LEVEL=%r is not a logging level; keeping INFO", level)
