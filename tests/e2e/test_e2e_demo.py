"""The README's demo command, as a user runs it: a fresh process, exit after training."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_five_mall_segments_and_exits() -> None:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "PYTHONIOENCODING": "utf-8",
    }
    for name in ("AWS_ENDPOINT_URL", "RAW_BUCKET", "MODELS_BUCKET", "MODELS_DIR"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--exit-after-training", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    match = re.search(r"mall: (\d+) segments \((\w+), k=(\d+)", out)
    assert match, out
    assert match.group(1) == "5"
    # One table row per segment: "<id> │ <name> │ <size> │ <share>%".
    rows = re.findall(r"│\s*(-?\d+)\s*│\s*([^│]+?)\s*│\s*(\d+)\s*│\s*(\d+)%", out)
    assert len(rows) == 5, out
    assert sum(int(size) for _, _, size, _ in rows) == 200
    names = [name.lower() for _, name, _, _ in rows]
    assert sum("income" in n and "spending" in n for n in names) >= 4, names
    assert "Algorithms compared" in out
    assert re.search(r"Dashboard\s+http://127\.0\.0\.1:\d+/", out)
