"""Exit codes of the ``segments`` CLI and the one error type that carries them."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CliError", "ExitCode"]


class ExitCode(IntEnum):
    """Exit codes scripts can rely on (documented in the README and ``segments --help``)."""

    OK = 0
    """The command did what it was asked."""
    INPUT = 1
    """Usage or input error: bad flags, unreadable or invalid file/config, request refused."""
    TRAINING_FAILED = 2
    """The upload was rejected by training (a failure report names the problem)."""
    UNREACHABLE = 3
    """The API, S3 or the local stack could not be reached, or answered with a server error."""
    TIMEOUT = 4
    """Training did not publish a version or a failure report within ``--timeout``."""
    NOT_FOUND = 5
    """Unknown dataset, version or segment, or the dataset has no model yet."""


class CliError(Exception):
    """An error to show the user as it is, ending the command with ``code``.

    Examples
    --------
    >>> CliError("no such file: x.csv", ExitCode.INPUT).code
    <ExitCode.INPUT: 1>
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
