"""Run a snippet in a child process under an address-space limit (``RLIMIT_AS``).

Regression tests for uploads that used to exhaust memory run here, so a regression fails the
test (``MemoryError``, or the child killed) instead of taking the machine down. The child
reports its peak resident memory (``VmHWM``) with the snippet's result.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LimitedRun", "run_with_memory_limit"]

ROOT = Path(__file__).resolve().parents[2]
_EPILOGUE = """
import json as _json
with open("/proc/self/status") as _status:
    _peak = next(int(line.split()[1]) * 1024 for line in _status if line.startswith("VmHWM"))
print("@@RESULT@@" + _json.dumps({"result": result, "peak_rss": _peak}))
"""


@dataclass(frozen=True)
class LimitedRun:
    """What the child printed as ``result`` and its peak resident memory in bytes."""

    result: Any
    peak_rss: int
    returncode: int
    stderr: str


def run_with_memory_limit(code: str, *, limit_bytes: int, timeout: float = 120) -> LimitedRun:
    """Run ``code`` (which sets a JSON-ready ``result``) with at most ``limit_bytes`` of address
    space; BLAS and OpenMP pinned to one thread (each thread reserves address space)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + _EPILOGUE],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        env=env,
        cwd=ROOT,
        check=False,
    )
    marker = [line for line in done.stdout.splitlines() if line.startswith("@@RESULT@@")]
    if not marker:
        return LimitedRun(None, 0, done.returncode, done.stderr[-3000:])
    payload = json.loads(marker[-1][len("@@RESULT@@") :])
    return LimitedRun(payload["result"], payload["peak_rss"], done.returncode, done.stderr[-3000:])
