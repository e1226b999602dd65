"""Measured children of the benchmarks: every measurement runs in a fresh Python process.

Linux keeps a process's peak resident memory across ``fork`` + ``exec``, so a parent that built
a large table lends its peak to a child it starts; and a warm parent has imported and cached
what a cold run pays for. Each bench script therefore re-runs itself as a module with
``--child <kind> <args...>``; the child prints one JSON line (its timings and ``ru_maxrss``
peak), which :func:`run_child` returns.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "peak_mb", "run_child"]

ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    """This process's peak resident memory, in MB (``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(module: str, *args: str, root: Path = ROOT) -> dict[str, Any]:
    """Run ``python -m <module> --child <args>`` in the tree at ``root``; return its JSON line.

    The tree at ``root`` comes first on the child's ``PYTHONPATH`` (the caller's own entries
    after it), so a bench can measure another checkout of the product side by side; the
    product's logs are quieted to warnings.

    Raises
    ------
    RuntimeError
        When the child fails (with the end of its standard error).
    """
    extra = os.environ.get("PYTHONPATH", "")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), extra) if p),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args[0] if args else module} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
