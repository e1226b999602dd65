"""The CLI's consoles: results to stdout, progress and errors to stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

__all__ = ["console", "error_console", "print_error", "print_json"]

# Piped output (CI logs, tests) gets 120 columns rather than rich's 80, unless COLUMNS says.
_PIPE_WIDTH = None if "COLUMNS" in os.environ else 120

console = Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
"""Results (tables, JSON): what a script pipes."""

error_console = Console(
    stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH
)
"""Progress, notices and errors: never mixed into the results."""


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout, nothing else (for ``--json``)."""
    console.file.write(json.dumps(data, indent=2, default=str) + "\n")
    console.file.flush()


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, unwrapped and never read as markup."""
    from rich.text import Text

    error_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
