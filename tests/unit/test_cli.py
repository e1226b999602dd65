"""The ``segments`` CLI without any service: parsing, exit codes, customers, tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cli.errors import CliError, ExitCode
from cli.main import build_parser, main, parse_customers
from cli.render import (
    assignments_table,
    comparison_table,
    format_number,
    segments_table,
    warnings_view,
)
from cli.train_command import dataset_from_filename
from cli.uploads import UploadedObject, _same_source, check_upload_name
from shared.contract.manifest import CurrentPointer, Manifest
from shared.store.base import write_current
from shared.store.local import LocalModelStore


def _text(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


# --- exit codes ------------------------------------------------------------------------------


def test_usage_error_exits_1_not_argparse_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["assign", "--dataset", "mall"])  # none of --file, --json, --transactions
    assert exc.value.code == ExitCode.INPUT == 1
    message = capsys.readouterr().err
    assert "one of the arguments --file --json --transactions is required" in message


def test_unknown_command_exits_1() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bogus"])
    assert exc.value.code == 1


def test_invalid_dataset_name_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("a,b\n1,2\n")
    code = main(["train", str(csv_file), "--dataset", "../etc", "--out", str(tmp_path / "out")])
    assert code == ExitCode.INPUT
    assert "'../etc' is invalid" in capsys.readouterr().err


def test_missing_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out")])
    assert code == ExitCode.INPUT
    assert "no such file" in capsys.readouterr().err


def test_wrong_extension_would_never_train(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"uploads must end with \.csv, \.csv\.gz, \.parquet") as e:
        check_upload_name(tmp_path / "customers.xlsx")
    assert e.value.code == ExitCode.INPUT


def test_unreachable_api_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on loopback: nothing listens there.
    code = main(["segments", "--dataset", "mall", "--api-url", "http://127.0.0.1:9"])
    assert code == ExitCode.UNREACHABLE == 3
    assert "cannot reach the API at http://127.0.0.1:9" in capsys.readouterr().err


def test_status_without_store_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELS_BUCKET", raising=False)
    assert main(["status"]) == ExitCode.INPUT
    assert "no model store" in capsys.readouterr().err


def test_env_supplies_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENTS_API_URL", "http://api.example:1234")
    monkeypatch.setenv("SEGMENTS_API_TOKEN", "t0k")
    args = build_parser().parse_args(["segments", "--dataset", "mall"])
    assert (args.api_url, args.token) == ("http://api.example:1234", "t0k")


# --- customers -------------------------------------------------------------------------------


def test_csv_customers_are_typed_by_the_training_reader() -> None:
    text = "\ufeffCustomerID,Gender,Age,Income\n7,Female,31,70.5\n8,Male,,x1\n"
    # Age has a blank, so it is a float column; Income holds text, so it stays text (the API
    # parses "70.5" as training would).
    assert parse_customers(text, fmt="csv") == [
        {"CustomerID": 7, "Gender": "Female", "Age": 31.0, "Income": "70.5"},
        {"CustomerID": 8, "Gender": "Male", "Age": None, "Income": "x1"},
    ]


@pytest.mark.parametrize("separator", ["\t", ";", "|", ","])
def test_csv_customers_sniff_the_separator_as_training_does(separator: str) -> None:
    text = separator.join(["ID", "Income", "Education"]) + "\n"
    text += "\n".join(separator.join([str(i), str(1000 * i), "PhD"]) for i in range(1, 4))
    assert parse_customers(text, fmt="csv") == [
        {"ID": i, "Income": 1000 * i, "Education": "PhD"} for i in range(1, 4)
    ]


def test_customer_files_read_gzip_parquet_and_utf16(tmp_path: Path) -> None:
    import gzip

    import pandas as pd

    from cli.customers import read_customers_file

    frame = pd.DataFrame({"Age": [31, 45], "Gender": ["Female", "Male"]})
    expected = [{"Age": 31, "Gender": "Female"}, {"Age": 45, "Gender": "Male"}]
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress(frame.to_csv(index=False, sep="\t").encode()))
    parquet = tmp_path / "c.parquet"
    frame.to_parquet(parquet)
    utf16 = tmp_path / "c.txt"
    utf16.write_bytes(frame.to_csv(index=False, sep="\t").encode("utf-16"))
    for path in (gz, parquet, utf16):
        assert read_customers_file(path) == expected, path


def test_parquet_dates_and_missing_values_become_json_values(tmp_path: Path) -> None:
    import pandas as pd

    from cli.customers import read_customers_file

    frame = pd.DataFrame(
        {
            "Last Purchase": pd.to_datetime(["2024-01-05", None]),
            "Income": [70.5, float("nan")],
            "Member": [True, False],
        }
    )
    path = tmp_path / "c.parquet"
    frame.to_parquet(path)
    rows = read_customers_file(path)
    assert rows == [
        {"Last Purchase": "2024-01-05T00:00:00", "Income": 70.5, "Member": True},
        {"Last Purchase": None, "Income": None, "Member": False},
    ]
    json.dumps(rows)  # every value is JSON-ready


def test_unreadable_customer_files_are_input_errors(tmp_path: Path) -> None:
    from cli.customers import read_customers_file

    image = tmp_path / "c.csv"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(CliError, match="PNG") as e:
        read_customers_file(image)
    assert e.value.code == ExitCode.INPUT
    with pytest.raises(CliError, match="cannot read"):
        read_customers_file(tmp_path / "absent.csv")


def test_customers_sharing_no_model_column_are_refused_naming_the_expected_ones() -> None:
    from cli.customers import check_columns

    expected = ["Annual Income (k$)", "Spending Score (1-100)"]
    one_column = [{"ID\tIncome\tSpending": "1\t20\t30"}]  # a file read with the wrong separator
    with pytest.raises(CliError) as e:
        check_columns(one_column, expected, source="new.csv")
    assert e.value.code == ExitCode.INPUT
    assert "'Annual Income (k$)', 'Spending Score (1-100)'" in e.value.message
    assert "'ID\\tIncome\\tSpending'" in e.value.message
    assert check_columns([{"Annual Income (k$)": 1}], expected, source="x") == [
        "Spending Score (1-100)"
    ]
    assert check_columns([{"a": 1}, {**dict.fromkeys(expected, 1)}], expected, source="x") == []


@pytest.mark.parametrize(
    "text",
    ['{"Age": 31}', '[{"Age": 31}]', '{"customers": [{"Age": 31}]}'],
)
def test_json_customers_accept_three_shapes(text: str) -> None:
    assert parse_customers(text, fmt="json") == [{"Age": 31}]


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1, 2]", "must be an object"), ("{not json", "not valid JSON"), ("[]", "no customers")],
)
def test_bad_customers_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(CliError, match=message) as e:
        parse_customers(text, fmt="json")
    assert e.value.code == ExitCode.INPUT


def test_dataset_from_filename() -> None:
    assert dataset_from_filename(Path("My Customers 2024.csv.gz")) == "my-customers-2024"
    assert dataset_from_filename(Path("___.csv")) == "dataset"


# --- matching an upload to its version or failure --------------------------------------------


def _obj(**kw: object) -> UploadedObject:
    base: dict[str, object] = {
        "bucket": "raw",
        "key": "uploads/mall/m.csv",
        "sha256": "a" * 64,
        "size": 10,
        "version_id": "v-2",
        "etag": "e2",
    }
    base.update(kw)
    return UploadedObject(**base)  # type: ignore[arg-type]


def test_same_source_needs_key_sha_and_object_version() -> None:
    source = {"key": "uploads/mall/m.csv", "sha256": "a" * 64, "version_id": "v-2", "etag": "e2"}
    assert _same_source(source, _obj())
    assert not _same_source({**source, "version_id": "v-1"}, _obj())  # an older upload
    assert not _same_source({**source, "key": "uploads/mall/other.csv"}, _obj())
    assert not _same_source({**source, "sha256": "b" * 64}, _obj())
    # Unversioned bucket: the ETag decides.
    assert _same_source({**source, "version_id": None}, _obj(version_id=None))
    assert not _same_source({**source, "version_id": None, "etag": "e1"}, _obj(version_id=None))
    # A failure report of a file too large to read has no sha256.
    assert _same_source({**source, "sha256": None}, _obj())


# --- tables ----------------------------------------------------------------------------------


def _segment(sid: int, name: str, size: int, income: float, z: float) -> dict[str, object]:
    return {
        "segment_id": sid,
        "name": name,
        "size": size,
        "share": size / 200,
        "numeric": {"Income": {"mean": income, "z": z}, "Age": {"mean": 40.0, "z": 0.0}},
        "distinctive": ["Income"],
    }


def test_segments_table_shows_sizes_shares_and_key_stats() -> None:
    payload = {
        "algorithm": "kmeans",
        "k": 2,
        "segments": [
            _segment(0, "High income", 120, 88.2, 1.2),
            _segment(1, "Low income", 80, 26.3, -1.1),
        ],
    }
    text = _text(segments_table(payload))
    assert "Segments (kmeans, k=2)" in text
    assert "High income" in text
    assert "Low income" in text
    assert "60%" in text
    assert "40%" in text
    assert "88.2 (+1.2)" in text
    assert "26.3 (-1.1)" in text
    # The distinctive feature comes first among the statistics columns.
    assert text.index("Income") < text.index("Age")


def test_comparison_table_stars_the_champion() -> None:
    rows = [
        {
            "algorithm": "kmeans",
            "k": 5,
            "n_segments": 5,
            "champion": True,
            "score": 0.5,
            "metrics": {"silhouette": 0.5539, "davies_bouldin": 0.572, "calinski_harabasz": 247.36},
            "eligible": True,
            "structure": {"verdict": "reasonable"},
        },
        {
            "algorithm": "dbscan",
            "k": None,
            "n_segments": 1,
            "eligible": False,
            "ineligible_reason": "it found 1 segment, too few to compare (metrics undefined)",
            "metrics": {
                "silhouette": None,
                "davies_bouldin": None,
                "calinski_harabasz": None,
                "noise_share": 0.05,
            },
        },
    ]
    text = _text(comparison_table(rows))
    assert "★ kmeans" in text
    assert "0.554" in text
    assert "247.4" in text
    assert "5%" in text
    kmeans_line = next(line for line in text.splitlines() if "kmeans" in line)
    dbscan_line = next(line for line in text.splitlines() if "dbscan" in line)
    assert "yes" in kmeans_line
    assert "reasonable" in kmeans_line
    assert " no " in dbscan_line


def test_warnings_are_printed_verbatim_one_per_line() -> None:
    warnings = [
        "The customers do not form distinct groups (silhouette 0.14): these 4 segments slice "
        "a continuum.",
        "1 column was not used to form the segments: '[bold]Notes' (free text).",
    ]
    text = _text(warnings_view(warnings))
    assert "2 warnings:" in text
    assert "! The customers do not form distinct groups" in text
    assert "'[bold]Notes'" in text  # a column name is never read as markup
    assert _text(warnings_view([])).strip() == ""


def test_assignments_table_keeps_request_order_and_ids() -> None:
    customers = [{"CustomerID": 11}, {"CustomerID": 12}]
    assignments = [
        {"segment_id": 3, "segment_name": "C", "distance": 0.25},
        {"segment_id": 1, "segment_name": "A", "distance": 1.5},
    ]
    text = _text(assignments_table(assignments, customers, id_column="CustomerID"))
    assert text.index("11") < text.index("12")
    assert "0.250" in text
    assert "1.500" in text


def test_format_number() -> None:
    assert format_number(float("nan")) == "-"
    assert format_number(True) == "yes"
    assert json.loads(json.dumps(format_number(3))) == "3"


def test_tables_show_data_with_square_brackets_verbatim() -> None:
    # Segment names and descriptions come from column names and category values: rich must not
    # read them as markup (a "[x]" would vanish and "[/]" would raise).
    from io import StringIO

    from rich.console import Console

    from cli.render import assignments_table, segments_view

    payload = {
        "segments": [
            {
                "segment_id": 0,
                "name": "High [bold]score[/]",
                "size": 3,
                "share": 1.0,
                "description": "Everyone in [x].",
            }
        ]
    }
    out = StringIO()
    console = Console(file=out, width=200, color_system=None)
    console.print(segments_view(payload))
    console.print(assignments_table([{"segment_id": 0, "segment_name": "A [b]"}]))
    text = out.getvalue()
    assert "High [bold]score[/]" in text
    assert "Everyone in [x]." in text
    assert "A [b]" in text


def _published(warnings: list[str]) -> Manifest:
    from datetime import UTC, datetime

    from shared.contract.config import DatasetConfig
    from shared.contract.manifest import (
        AlgorithmSummary,
        Metrics,
        RowCounts,
        SelectionInfo,
        SourceInfo,
    )
    from shared.engine.structure import structure_verdict

    return Manifest(
        version="v1",
        dataset="cards",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        source=SourceInfo(key="uploads/cards/cards.csv", sha256="0" * 64, size=1),
        rows=RowCounts(read=9000, used=9000, dropped=0),
        columns=[],
        config=DatasetConfig(),
        champion="kmeans",
        algorithms={
            "kmeans": AlgorithmSummary(
                n_segments=4,
                k=4,
                metrics=Metrics(silhouette=0.14, davies_bouldin=1.9, calinski_harabasz=900.0),
                artifact="models/kmeans-k4.skops",
                assignment_rule="nearest centre",
                fit_rows=9000,
                structure=structure_verdict(0.14, 0.15),
            )
        },
        selection=SelectionInfo(k_rule="test", champion_rule="test"),
        warnings=warnings,
    )


def _store_with_current(tmp_path: Path, version: str | None) -> LocalModelStore:
    store = LocalModelStore(tmp_path / "models")
    if version is not None:
        pointer = CurrentPointer(version=version, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
        write_current(store, "cards", pointer)
    return store


@pytest.mark.parametrize("output", ["table", "json"])
def test_upload_prints_the_versions_warnings(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output: str,
    tmp_path: Path,
) -> None:
    import argparse

    import cli.upload_command as upload_command
    from cli.uploads import WaitOutcome

    warnings = ["The customers do not form distinct groups (silhouette 0.14): slice a continuum."]
    obj = UploadedObject(
        bucket="raw",
        key="uploads/cards/cards.csv",
        sha256="0" * 64,
        size=1,
        version_id=None,
        etag="e",
    )
    store = _store_with_current(tmp_path, "v1")
    monkeypatch.setattr(upload_command, "_clients", lambda args: (None, store))
    monkeypatch.setattr(
        upload_command,
        "upload_with_progress",
        lambda *a, **k: (obj, WaitOutcome(manifest=_published(warnings), seconds=1.0)),
    )
    args = argparse.Namespace(
        dataset="cards",
        raw_bucket="raw",
        file=Path("cards.csv"),
        config=None,
        timeout=1.0,
        no_wait=False,
        output=output,
        api_url=None,
    )
    assert upload_command.run_upload(args) == 0
    out = capsys.readouterr().out
    if output == "json":
        assert json.loads(out)["warnings"] == warnings
    else:
        text = " ".join(out.split())  # the console wraps at its width
        assert "silhouette 0.140, no substantial structure" in text
        assert "1 warning:" in text
        assert "! The customers do not form distinct groups" in text
        assert "NOT current" not in text


class _RecordingApi:
    """Stands in for the remote API: answers ``segments`` and records what was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def segments(self, dataset: str, **params: Any) -> dict[str, Any]:
        self.calls.append({"dataset": dataset, **params})
        return {"segments": [{"segment_id": 0, "name": "Own segment", "size": 3, "share": 1.0}]}


@pytest.mark.parametrize("current", ["v2", None])
@pytest.mark.parametrize("output", ["table", "json"])
def test_upload_shows_its_own_versions_segments_and_says_when_it_is_not_current(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    output: str,
    current: str | None,
) -> None:
    """Another upload (v2) became current meanwhile: the CLI still shows v1's segments, from v1,
    and says plainly that v1 is not the version being served."""
    import argparse
    import contextlib

    import cli.api_client as api_client
    import cli.upload_command as upload_command
    from cli.uploads import WaitOutcome

    obj = UploadedObject(
        bucket="raw", key="uploads/cards/cards.csv", sha256="0" * 64, size=1, version_id=None,
        etag="e",
    )  # fmt: skip
    store = _store_with_current(tmp_path, current)
    api = _RecordingApi()
    monkeypatch.setattr(upload_command, "_clients", lambda args: (None, store))
    monkeypatch.setattr(
        upload_command,
        "upload_with_progress",
        lambda *a, **k: (obj, WaitOutcome(manifest=_published([]), seconds=1.0)),
    )
    monkeypatch.setattr(api_client, "remote_api", lambda *a, **k: contextlib.nullcontext(api))
    args = argparse.Namespace(
        dataset="cards", raw_bucket="raw", file=Path("cards.csv"), config=None, timeout=1.0,
        no_wait=False, output=output, api_url="http://api.test", token=None,
    )  # fmt: skip

    assert upload_command.run_upload(args) == 0

    out = capsys.readouterr().out
    if output == "json":
        body = json.loads(out)
        assert body["version"] == "v1"
        assert body["current"] is False
        assert body["current_version"] == current
        return
    text = " ".join(out.split())
    assert "version v1 is published but NOT current" in text
    assert ("cards serves v2" in text) if current else ("no current version" in text)
    assert api.calls == [{"dataset": "cards", "version": "v1"}]
    assert "Segments of version v1" in text
    assert "Own segment" in text


def test_upper_case_suffixes_are_kept_and_mixed_case_ones_lowered(tmp_path: Path) -> None:
    """S3 notification suffixes are case-sensitive: every name the CLI uploads matches a rule."""
    from shared.contract.layout import RawLayout

    for name, expected in [("MALL.CSV", "MALL.CSV"), ("Mall.Csv", "Mall.csv"),
                           ("a.PARQUET", "a.PARQUET"), ("b.csv.GZ", "b.csv.gz")]:  # fmt: skip
        uploaded = check_upload_name(tmp_path / name)
        assert uploaded == expected
        assert uploaded.endswith(RawLayout.SUFFIXES)


def test_upload_waits_past_a_last_delivery_report_until_the_outcome(tmp_path: Path) -> None:
    """The last delivery's "previous attempts ran out of memory or time" report is provisional:
    `segments upload` keeps waiting for what that attempt concludes, and quotes the report only
    if nothing else comes before its timeout."""
    from datetime import UTC, datetime

    from cli.uploads import find_outcome, wait_for_training
    from shared.contract.manifest import FailureReport
    from shared.store.local import LocalModelStore

    store = LocalModelStore(tmp_path)
    obj = UploadedObject(bucket="raw", key="uploads/shop/a.csv", sha256="ab" * 32, size=3,
                         version_id=None, etag="e1")  # fmt: skip
    key = "datasets/shop/failures/f1.json"

    def report(error_type: str, error: str) -> None:
        document = FailureReport(id="f1", dataset="shop", error=error, error_type=error_type,
                                 source={"bucket": "raw", "key": obj.key, "etag": "e1"},
                                 created_at=datetime.now(UTC))  # fmt: skip
        store.put_bytes(key, document.model_dump_json().encode())

    report("PreviousAttemptsFailedError", "previous attempts ran out of memory or time (x)")
    seen_versions: set[str] = set()
    seen_failures: set[str] = set()
    found = find_outcome(store, "shop", obj, seen_versions=seen_versions,
                         seen_failures=seen_failures)  # fmt: skip
    assert found is None
    with pytest.raises(CliError, match=r"training did not finish: previous attempts ran out") as e:
        wait_for_training(store, "shop", obj, seen_versions=set(), seen_failures=set(),
                          timeout=0.0, poll_seconds=0.0)  # fmt: skip
    assert e.value.code == ExitCode.TRAINING_FAILED

    report("InternalError", "training stopped on an internal error (KeyError)")  # same key
    found = find_outcome(store, "shop", obj, seen_versions=seen_versions,
                         seen_failures=seen_failures)  # fmt: skip
    assert found is not None
    assert found.failure is not None
    assert found.failure.error_type == "InternalError"


def test_algorithm_choices_are_every_algorithm_a_config_may_name() -> None:
    # The CLI keeps its own tuple (it starts without importing pydantic): it must not drift.
    from cli.main import ALGORITHM_CHOICES
    from shared.contract.config import ALL_ALGORITHMS

    assert ALGORITHM_CHOICES == ALL_ALGORITHMS
