"""The bad-upload corpus (``tests/data/bad/``) through the real training handler under moto.

For every case of ``cases.json`` a GOOD model is already current for the dataset; the bad file
is uploaded to the raw bucket, moto's notification is received from the queue and handed to
``lambdas.training.handler.handler`` as Lambda would. Then, by expected outcome:

- ``failure``: a failure report whose message matches the case's regex, the message
  acknowledged (no ``batchItemFailures``: no crash loop), ``current.json`` byte-for-byte
  unchanged, no new version, no claim left, and the good model still answering through the API
  (which also lists the failure);
- ``trains``: a new complete version is current, columns have the roles the case pins, every
  artifact verifies, and the API serves the new version;
- ``rejected``: the key's dataset name is invalid (path tricks, unicode): acknowledged, the
  result names the problem, and nothing at all is written to the models bucket.

A case's ``env`` sets deployment settings for its run (e.g. a lower ``MAX_DECOMPRESSED_BYTES``,
so a compression bomb is refused after 64 MiB instead of the default 2 GiB).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.manifest import Manifest
from shared.settings import get_settings
from shared.store.base import (
    list_versions,
    read_current,
    read_manifest,
    read_verified_artifact,
)
from shared.training.pipeline import ASSIGNMENTS_FORMULA_PREFIXES, TrainingOutput
from tests.hardening.conftest import (
    GOOD_VERSION,
    ROOT,
    Stack,
    api_call,
    api_handler,
    assert_serves,
    seed_good_model,
)
from tests.support.aws import FakeLambdaContext

CORPUS = ROOT / "tests" / "data" / "bad"
VICTIM = "shop"
"""The dataset a path-trick upload might try to reach; it has a good model."""


@cache
def corpus_script() -> ModuleType:
    path = ROOT / "scripts" / "make_bad_corpus.py"
    spec = importlib.util.spec_from_file_location("make_bad_corpus", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_cases() -> list[dict[str, Any]]:
    return list(json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))["cases"])


def upload_bytes(case: dict[str, Any]) -> bytes:
    if case.get("generated"):
        script = corpus_script()
        (built,) = [c for c in script.build_cases() if c.id == case["id"]]
        return bytes(script.case_bytes(built))
    return (CORPUS / case["stored_as"]).read_bytes()


def config_bytes(case: dict[str, Any]) -> bytes | None:
    if "config_raw" in case:
        return str(case["config_raw"]).encode()
    if "config" in case:
        return json.dumps(case["config"]).encode()
    return None


CASES = load_cases()
PARAMS = [
    pytest.param(c, id=c["id"], marks=[pytest.mark.slow] if c.get("generated") else [])
    for c in CASES
]


# --- the corpus itself --------------------------------------------------------------------------


def test_corpus_is_generated_and_up_to_date(tmp_path: Path) -> None:
    """The committed files are exactly what the script writes (nobody edited them by hand)."""
    written = corpus_script().write_corpus(tmp_path)
    committed = {p.name for p in CORPUS.iterdir() if p.is_file()}
    assert {p.name for p in written} == committed
    for path in written:
        assert (CORPUS / path.name).read_bytes() == path.read_bytes(), path.name
    assert sum((CORPUS / name).stat().st_size for name in committed) < 3 * 1024 * 1024


def test_corpus_covers_the_issue() -> None:
    ids = {c["id"] for c in CASES}
    assert len(CASES) >= 30
    assert {c["expect"] for c in CASES} == {"failure", "trains", "rejected"}
    for required in (
        "empty", "header_only", "one_row", "fewer_than_k_min", "binary_garbage", "png_renamed",
        "wrong_separator", "ragged_rows", "mixed_types", "all_missing_column", "all_constant",
        "duplicate_identifiers", "many_distinct_strings", "wide_2000_columns",
        "very_long_fields", "latin1_bytes", "formula_cells", "infinities_and_magnitudes",
        "dates_several_formats", "truncated_gzip", "config_unknown_keys",
        "config_missing_columns", "dataset_dotdot", "dataset_unicode",
        # issue 16: uploads that killed the worker, and Parquet types read wrongly
        "gzip_bomb", "parquet_400m_rows", "parquet_uncompressed_size", "wide_10000_columns",
        "config_forces_10000_categories", "config_nested_5000_levels",
        "parquet_nested_columns", "parquet_nested_named_feature", "parquet_decimals",
        "uppercase_suffix", "uppercase_gzip_suffix",
    ):  # fmt: skip
        assert required in ids, required
    assert (CORPUS / "png_renamed__photo.csv").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --- every case through the handler --------------------------------------------------------------


@pytest.mark.parametrize("case", PARAMS)
def test_bad_upload(
    case: dict[str, Any],
    stack: Stack,
    good_output: TrainingOutput,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner.configure(None)  # the handler's training run is rebuilt from these settings
    expect = case["expect"]
    dataset = VICTIM if expect == "rejected" else case["dataset"]
    seed_good_model(stack.store, good_output, dataset)
    raw_config = config_bytes(case)
    if raw_config is not None:
        stack.put_config(dataset, raw_config)
    current_before = stack.store.get_bytes(f"datasets/{dataset}/current.json")
    keys_before = stack.store.list_keys("")

    event = stack.upload(case["key"], upload_bytes(case))
    response = handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": []}, "the message must be acknowledged"
    api = api_handler(stack.store)
    if expect == "failure":
        _check_failure(case, stack, dataset, current_before, api)
    elif expect == "trains":
        _check_trained(case, stack, dataset, api, good_output)
    else:
        _check_rejected(case, stack, event, keys_before, current_before, api)


def _check_failure(
    case: dict[str, Any], stack: Stack, dataset: str, current_before: bytes, api: Any
) -> None:
    store = stack.store
    failures = store.list_keys(f"datasets/{dataset}/failures/")
    assert len(failures) == 1, failures
    report = json.loads(store.get_bytes(failures[0]))
    assert re.search(case["message"], report["error"]), report["error"]
    if "error_type" in case:
        assert report["error_type"] == case["error_type"], report
    assert report["source"]["key"] == case["key"]
    assert "Traceback" not in report["error"]
    # Nothing that failed touches current.json or publishes anything.
    assert store.get_bytes(f"datasets/{dataset}/current.json") == current_before
    assert list_versions(store, dataset) == [GOOD_VERSION]
    assert store.list_keys(f"datasets/{dataset}/versions/") == [
        k for k in store.list_keys(f"datasets/{dataset}/versions/") if GOOD_VERSION in k
    ]
    assert store.list_keys(f"datasets/{dataset}/claims/") == []
    # The previous model keeps answering; the API shows why the upload failed.
    assert_serves(api, dataset, GOOD_VERSION)
    status, body = api_call(api, "GET", f"/datasets/{dataset}/failures")
    assert status == 200
    assert [f["error"] for f in body["failures"]] == [report["error"]]


def _check_trained(
    case: dict[str, Any], stack: Stack, dataset: str, api: Any, good: TrainingOutput
) -> None:
    store = stack.store
    assert store.list_keys(f"datasets/{dataset}/failures/") == []
    pointer = read_current(store, dataset)
    assert pointer is not None
    assert pointer.version != GOOD_VERSION
    assert pointer.source_key == case["key"]
    manifest = read_manifest(store, dataset, pointer.version)
    for path in manifest.artifacts:
        read_verified_artifact(store, manifest, path)
    roles = {c.name: c.role for c in manifest.columns}
    for column, role in case.get("roles", {}).items():
        assert roles.get(column) == role, (column, roles.get(column), manifest.columns)
    assert sorted(list_versions(store, dataset)) == sorted([GOOD_VERSION, pointer.version])
    status, body = api_call(api, "GET", f"/datasets/{dataset}/segments")
    assert status == 200, body
    assert body["model_version"] == pointer.version
    status, body = api_call(
        api, "POST", f"/datasets/{dataset}/assign", body={"customers": [_known_customer(manifest)]}
    )
    assert status == 200, body
    assert body["model_version"] == pointer.version
    # A customer with no known feature is refused, naming the row (issue 16, item 7).
    status, body = api_call(api, "POST", f"/datasets/{dataset}/assign", body={"customers": [{}]})
    assert status == 422, body
    assert body["row"] == 0
    if case["id"] == "formula_cells":
        _check_formulas_neutralised(read_verified_artifact(store, manifest, "assignments.csv.gz"))
    if case["id"] == "html_injection":
        _check_html_escaped(read_verified_artifact(store, manifest, "report.html").decode())


def _known_customer(manifest: Manifest) -> dict[str, Any]:
    """A customer with every numeric and categorical feature at a value seen in training."""
    customer: dict[str, Any] = {}
    for column in manifest.columns:
        if not column.used:
            continue
        if column.role == "categorical" and column.categories:
            customer[column.name] = column.categories[0]
        elif column.role != "date" and column.min is not None:
            customer[column.name] = column.min
    assert customer, manifest.columns
    return customer


def _check_rejected(
    case: dict[str, Any],
    stack: Stack,
    event: dict[str, Any],
    keys_before: list[str],
    current_before: bytes,
    api: Any,
) -> None:
    # The same notification delivered directly (a manual re-drive) says why it was rejected.
    direct = json.loads(event["Records"][0]["body"])
    (result,) = handler(direct, FakeLambdaContext())["results"]
    assert result["status"] == "rejected"
    assert result["key"] == case["key"]
    assert re.search(case["message"], result["error"]), result["error"]
    # Nothing was written anywhere: no failure report, no claim, no version, no pointer.
    assert stack.store.list_keys("") == keys_before
    assert stack.store.get_bytes(f"datasets/{VICTIM}/current.json") == current_before
    assert_serves(api, VICTIM, GOOD_VERSION)


def _check_formulas_neutralised(blob: bytes) -> None:
    """Every id cell a spreadsheet would run as a formula starts with an apostrophe."""
    rows = list(csv.reader(io.StringIO(gzip.decompress(blob).decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[0] == "CustomerID"
    cells = [cell for row in body for cell in row]
    assert not [c for c in cells if c.startswith(ASSIGNMENTS_FORMULA_PREFIXES)], cells[:20]
    ids = [row[0] for row in body]
    assert "'=cmd|' /C calc'!A0" in ids
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in ids
    assert "C1010" in ids  # ordinary ids are left alone


def _check_html_escaped(html: str) -> None:
    """Values and column names from the upload are text in the report, never markup."""
    for payload in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>",
                    "<script>alert(3)</script>"):  # fmt: skip
        assert payload not in html, payload
    assert "alert(1)" in html or "alert(3)" in html  # the values are shown, escaped
