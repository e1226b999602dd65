"""``segments assign`` against a fake API: batching, counts, the training reader, column checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli.api_client import ApiClient
from cli.errors import CliError, ExitCode
from cli.main import main

INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"


@dataclass
class FakeResponse:
    status_code: int
    body: Any

    def json(self) -> Any:
        return self.body


@dataclass
class FakeApi:
    """Answers like the segment API: one assignment per customer, by income."""

    input_columns: list[str] = field(default_factory=lambda: [INCOME, SPENDING])
    versions: list[str] = field(default_factory=lambda: ["v1"])
    short_by: int = 0
    batches: list[list[dict[str, Any]]] = field(default_factory=list)

    def request(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> FakeResponse:
        if method == "GET":
            return FakeResponse(200, {"dataset": "mall", "input_columns": self.input_columns})
        customers = json["customers"]
        self.batches.append(customers)
        version = self.versions[min(len(self.batches), len(self.versions)) - 1]
        assignments = [
            {
                "segment_id": int((c.get(INCOME) or 0) >= 50),
                "segment_name": "High income" if (c.get(INCOME) or 0) >= 50 else "Low income",
            }
            for c in customers
        ]
        if self.short_by:
            assignments = assignments[: -self.short_by]
        body = {
            "dataset": "mall",
            "model_version": version,
            "algorithm": "kmeans",
            "k": 2,
            "count": len(assignments),
            "assignments": assignments,
        }
        return FakeResponse(200, body)


def _customers(n: int) -> list[dict[str, Any]]:
    return [{"CustomerID": i, INCOME: i % 100, SPENDING: 50} for i in range(n)]


# --- the client's batching ---------------------------------------------------------------------


def test_count_is_every_assignment_across_batches() -> None:
    fake = FakeApi()
    body = ApiClient(fake, "fake").assign("mall", _customers(2240), batch_size=1000)

    assert [len(b) for b in fake.batches] == [1000, 1000, 240]
    assert body["count"] == len(body["assignments"]) == 2240


def test_a_short_batch_is_an_error_not_a_silent_truncation() -> None:
    with pytest.raises(CliError, match="answered 999 assignments for 1,000 customers") as e:
        ApiClient(FakeApi(short_by=1), "fake").assign("mall", _customers(1500), batch_size=1000)
    assert e.value.code == ExitCode.UNREACHABLE


def test_a_model_change_between_batches_is_an_error() -> None:
    fake = FakeApi(versions=["v1", "v2"])
    with pytest.raises(CliError, match="changed from version v1 to v2"):
        ApiClient(fake, "fake").assign("mall", _customers(30), batch_size=10)


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()

    @contextmanager
    def api(_args: Any) -> Iterator[ApiClient]:
        yield ApiClient(fake, "fake")

    monkeypatch.setattr("cli.main._api", api)
    return fake


def _tab_file(tmp_path: Path, n: int, columns: tuple[str, ...] = ("CustomerID", INCOME, SPENDING)):
    lines = ["\t".join(columns)]
    lines += ["\t".join(str(v) for v in (i, i % 100, 50)[: len(columns)]) for i in range(n)]
    path = tmp_path / "new_customers.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _assign(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["assign", "--dataset", "mall", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_tab_file_is_read_like_training_and_counted_exactly(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tab_file(tmp_path, 2240)

    code, out, err = _assign(capsys, "--file", str(path), "-o", "json")

    assert code == 0, err
    body = json.loads(out)
    assert body["count"] == len(body["assignments"]) == 2240
    sent = [c for batch in fake_api.batches for c in batch]
    assert sent[7] == {"CustomerID": 7, INCOME: 7, SPENDING: 50}
    assert {a["segment_id"] for a in body["assignments"]} == {0, 1}


def test_the_table_says_when_it_shows_only_the_first_rows(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tab_file(tmp_path, 250)

    code, out, _ = _assign(capsys, "--file", str(path), "--rows", "10")

    assert code == 0
    assert "showing the first 10 of 250 assignments" in out
    assert "250 customers assigned" in out
    assert "Customers per segment" in out
    code, out, _ = _assign(capsys, "--file", str(path), "--rows", "0")
    assert "showing the first" not in out


def test_a_file_sharing_no_model_column_fails_naming_the_expected_columns(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tab_file(tmp_path, 20, columns=("id", "income_k", "score"))

    code, out, err = _assign(capsys, "--file", str(path), "-o", "json")

    assert code == ExitCode.INPUT
    assert out == ""
    assert INCOME in err
    assert SPENDING in err
    assert fake_api.batches == []  # nothing was assigned


def test_missing_model_columns_are_a_warning(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tab_file(tmp_path, 20, columns=("CustomerID", INCOME))

    code, out, err = _assign(capsys, "--file", str(path), "-o", "json")

    assert code == 0
    assert json.loads(out)["count"] == 20
    message = " ".join(err.split())  # the console wraps long lines
    assert "lacks 1 of the model's 2 columns (Spending Score (1-100))" in message


def test_assign_transactions_against_a_local_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--transactions``: order lines aggregated per customer, one answer per customer, in
    customer order, batched without splitting a customer (batch of 200 lines here)."""
    from shared.contract.config import DatasetConfig
    from shared.store.local import LocalModelStore
    from shared.training.pipeline import train_segments
    from tests.hardening.conftest import seed_good_model
    from tests.support.orders import planted_order_lines

    planted = planted_order_lines(45, seed=6)
    raw = planted.frame.to_csv(index=False).encode()
    out = train_segments(
        raw, filename="o.csv", config=DatasetConfig(algorithms=["kmeans"], k_max=4)
    )
    assert out.transactions is not None
    models = tmp_path / "models"
    seed_good_model(LocalModelStore(models), out, "orders")
    lines = tmp_path / "lines.csv"
    lines.write_bytes(raw)
    as_of = out.transactions.spec.as_of
    capsys.readouterr()  # the training run's logs
    code = main(
        ["assign", "--dataset", "orders", "--transactions", str(lines), "--as-of", as_of,
         "--models-dir", str(models), "-o", "json"]
    )  # fmt: skip
    assert code == ExitCode.OK
    printed = capsys.readouterr().out
    body = json.loads(printed[printed.index("{\n") :])  # after any log line of the in-process app
    assert body["count"] == 45
    ids = [a["customer_id"] for a in body["assignments"]]
    assert ids == sorted(ids, key=int)
    assert body["dropped_lines"] == out.transactions.dropped
    assert body["as_of"] == as_of

    client = ApiClient.__new__(ApiClient)
    calls: list[list[dict[str, Any]]] = []

    def fake_request(method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        calls.append(json["transactions"])
        customers = sorted({str(line["c"]) for line in json["transactions"]})
        return {"model_version": "v1", "as_of": "2024-01-01",
                "assignments": [{"customer_id": c} for c in customers]}  # fmt: skip

    client.request = fake_request  # type: ignore[method-assign]
    sent = [{"c": i % 7} for i in range(50)]
    merged = client.assign_transactions("d", sent, customer_column="c", batch_size=16)
    assert [a["customer_id"] for a in merged["assignments"]] == [str(i) for i in range(7)]
    for batch in calls:
        assert len(batch) <= 16 or len({line["c"] for line in batch}) == 1
    assert sum(len(b) for b in calls) == 50


def test_as_of_without_transactions_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "assign",
                "--dataset",
                "d",
                "--json",
                "{}",
                "--as-of",
                "2024-01-01",
                "--models-dir",
                str(tmp_path),
            ]
        )
        == ExitCode.INPUT
    )
    assert "--as-of applies to --transactions only" in capsys.readouterr().err
