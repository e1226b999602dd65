"""The API's logs: one JSON object per line, through Powertools' ``Logger``.

:func:`configure_logging` gives the ``lambdas`` and ``shared`` loggers (every module logs through
``logging.getLogger(__name__)``) Powertools' JSON formatter and the ``LOG_LEVEL``: ``level``,
``message``, ``timestamp``, ``service`` (``POWERTOOLS_SERVICE_NAME``, ``segments-api`` when
deployed) and ``exception`` with the traceback, queryable by field in CloudWatch Logs Insights.
It runs when the app builds its services (the first request), not at import.
"""

from __future__ import annotations

import logging
import threading
from typing import IO

__all__ = ["configure_logging"]

logger = logging.getLogger(__name__)

_LOGGER_NAMES = ("lambdas", "shared")
_configured = False
_lock = threading.Lock()


def configure_logging(level: str, *, stream: IO[str] | None = None) -> None:
    """JSON logs at ``level`` for this app's loggers (handlers installed once per process).

    Parameters
    ----------
    level : str
        A logging level name (``INFO``, ``debug``...); an unknown one keeps INFO and says so.
    stream : file, optional
        Where the lines go (default: standard output, which Lambda ships to CloudWatch).

    Examples
    --------
    >>> import io, json, logging
    >>> out = io.StringIO()
    >>> configure_logging("INFO", stream=out)
    >>> logging.getLogger("lambdas.api.example").info("model loaded")
    >>> line = json.loads(out.getvalue().splitlines()[-1])
    >>> line["level"], line["message"]
    ('INFO', 'model loaded')
    """
    global _configured
    name = level.upper()
    if not isinstance(logging.getLevelName(name), int):
        logger.warning("LOG_LEVEL=%r is not a logging level; keeping INFO", level)
        name = "INFO"
    with _lock:
        if not _configured or stream is not None:
            from aws_lambda_powertools import Logger
            from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

            for logger_name in _LOGGER_NAMES:
                for handler in list(logging.getLogger(logger_name).handlers):
                    logging.getLogger(logger_name).removeHandler(handler)
            source = Logger(service=None, level=name, stream=stream)
            copy_config_to_registered_loggers(
                source_logger=source, include=set(_LOGGER_NAMES), log_level=name
            )
            _configured = True
    for logger_name in _LOGGER_NAMES:
        logging.getLogger(logger_name).setLevel(name)
