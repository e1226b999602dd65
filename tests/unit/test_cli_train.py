"""``segments train --out`` and the local ``--models-dir`` mode: the whole engine, no AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from shared.store.base import list_versions, read_current
from shared.store.local import LocalModelStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MALL = ROOT / "data" / "mall_customers.csv"
CONFIG = ROOT / "data" / "mall_config.json"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    assert main(["train", str(MALL), "--config", str(CONFIG), "--out", str(out), "-o", "json"]) == 0
    return out


def test_train_publishes_the_version_layout_and_report(trained: Path) -> None:
    store = LocalModelStore(trained)
    (version,) = list_versions(store, "mall_customers")
    current = read_current(store, "mall_customers")
    assert current is not None
    assert current.version == version
    folder = trained / "datasets" / "mall_customers" / "versions" / version
    for name in (
        "manifest.json",
        "preprocessor.skops",
        "profiles.json",
        "evaluation.json",
        "plots.json",
        "report.html",
        "assignments.csv.gz",
        "models/kmeans-k5.skops",
    ):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["key"] == "uploads/mall_customers/mall_customers.csv"


def test_training_the_same_file_again_is_a_duplicate(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "train", str(MALL), "--config", str(CONFIG), "--out", str(trained), "-o", "json"
    )
    assert code == 0
    assert json.loads(out)["status"] == "duplicate"
    assert len(list_versions(LocalModelStore(trained), "mall_customers")) == 1


def test_local_segments_and_assign(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--dataset", "mall_customers", "--models-dir", str(trained), "-o", "json"]
    code, out, err = _run(capsys, "segments", *flags)
    assert code == 0, err
    segments = json.loads(out)
    assert segments["algorithm"] == "kmeans"
    assert len(segments["segments"]) == 5

    customer = {"Annual Income (k$)": 120, "Spending Score (1-100)": 90}
    code, out, err = _run(capsys, "assign", *flags, "--json", json.dumps(customer))
    assert code == 0, err
    (assignment,) = json.loads(out)["assignments"]
    by_id = {s["segment_id"]: s for s in segments["segments"]}
    assert by_id[assignment["segment_id"]]["numeric"]["Annual Income (k$)"]["z"] > 0.5


def test_local_assign_of_a_wrong_type_is_an_input_error(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "assign",
        "--dataset",
        "mall_customers",
        "--models-dir",
        str(trained),
        "--json",
        '{"Annual Income (k$)": "lots"}',
    )
    assert code == 1
    assert "Annual Income (k$)" in err


def test_unknown_dataset_is_not_found(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "segments", "--dataset", "nosuch", "--models-dir", str(trained))
    assert code == 5


def test_a_refused_file_exits_2_with_a_failure_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("a,b\n1,2\n3,4\n")
    code, _, err = _run(capsys, "train", str(tiny), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "rows" in err
    reports = list((tmp_path / "out" / "datasets" / "tiny" / "failures").glob("*.json"))
    assert len(reports) == 1
    code, out, _ = _run(capsys, "status", "--models-dir", str(tmp_path / "out"), "-o", "json")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["current_version"] is None
    assert entry["failure_count"] == 1


def test_train_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.normal(size=(1500, 4)), columns=["a", "b", "c", "d"]).round(4)
    noise["notes"] = [f"called on day {i} about the invoice" for i in range(1500)]
    data = tmp_path / "noise.csv"
    noise.to_csv(data, index=False)
    config = tmp_path / "noise.json"
    config.write_text('{"k_max": 5}')
    out_dir = tmp_path / "models"
    code, out, err = _run(
        capsys, "train", str(data), "--config", str(config), "--out", str(out_dir)
    )
    assert code == 0, err
    text = " ".join(out.split())  # the console wraps at its width
    assert "warnings:" in text
    assert "! The customers do not form distinct groups" in text
    assert "'notes'" in text  # the unused free-text column
    code, out, err = _run(
        capsys, "train", str(data), "--config", str(config), "--out", str(out_dir), "-o", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "duplicate"
    assert any("slice a continuum" in w for w in result["warnings"])


def test_local_assign_of_a_tab_file_reproduces_the_training_segments(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    tab = tmp_path / "mall.tsv"
    pd.read_csv(MALL).to_csv(tab, sep="\t", index=False)
    flags = ["--dataset", "mall_customers", "--models-dir", str(trained), "-o", "json"]

    code, out, err = _run(capsys, "assign", *flags, "--file", str(tab), "--batch-size", "64")

    assert code == 0, err
    body = json.loads(out)
    assert body["count"] == len(body["assignments"]) == 200
    assert not any(a.get("imputed") for a in body["assignments"])
    code, out, _ = _run(capsys, "segments", *flags)
    sizes = {s["segment_id"]: s["size"] for s in json.loads(out)["segments"]}
    counts: dict[int, int] = {}
    for assignment in body["assignments"]:
        counts[assignment["segment_id"]] = counts.get(assignment["segment_id"], 0) + 1
    assert counts == sizes  # K-Means on its training rows gives the training labels


def test_local_assign_of_a_file_without_model_columns_fails(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("id;age;city\n1;30;Paris\n2;41;Lyon\n")

    code, out, err = _run(
        capsys, "assign", "--dataset", "mall_customers", "--models-dir", str(trained),
        "--file", str(other),
    )  # fmt: skip

    assert code == 1
    assert out == ""
    message = " ".join(err.split())
    assert "shares no column with the model" in message
    assert "'Annual Income (k$)', 'Spending Score (1-100)'" in message


def test_mall_with_its_config_publishes_the_five_classic_names(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--dataset", "mall_customers", "--models-dir", str(trained), "-o", "json"]
    code, out, err = _run(capsys, "segments", *flags)

    assert code == 0, err
    body = json.loads(out)
    assert (body["algorithm"], body["k"]) == ("kmeans", 5)
    assert sorted(s["name"] for s in body["segments"]) == [
        "Average income, average spending",
        "High income, high spending",
        "High income, low spending",
        "Low income, high spending",
        "Low income, low spending",
    ]
    for segment in body["segments"]:
        assert segment["description"].startswith(f"{segment['size']} customers (")


def test_a_killed_runs_claim_is_one_line_and_take_over_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from shared.contract.config import DatasetConfig
    from shared.contract.layout import ModelLayout, RawLayout
    from shared.store.base import sha256_hex
    from shared.store.local import LocalRawUploadReader
    from shared.training.run import config_digest, version_id_for

    upload = tmp_path / "in" / "mall.csv"
    upload.parent.mkdir()
    upload.write_bytes(MALL.read_bytes())
    out = tmp_path / "models"
    # The claim a killed `segments train` of this very file left behind a minute ago.
    raw = tmp_path / "raw"
    (raw / "uploads" / "mall").mkdir(parents=True)
    (raw / "uploads" / "mall" / "mall.csv").symlink_to(upload)
    info = LocalRawUploadReader(raw).head(RawLayout.upload("mall", "mall.csv"))
    version = version_id_for(info, sha256_hex(upload.read_bytes()), config_digest(DatasetConfig()))
    claim = out / ModelLayout.claim("mall", version)
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"version": version, "claimed_at": datetime.now(UTC).isoformat()}))

    code, _, err = _run(capsys, "train", str(upload), "--out", str(out))

    assert code == 1
    assert "Traceback" not in err
    assert "is being trained by another worker since" in err
    assert "rerun with --take-over" in err
    assert len(err.strip().splitlines()) <= 3  # one message (the console may wrap it)

    code, _, err = _run(
        capsys, "train", str(upload), "--out", str(out), "--take-over", "-o", "json"
    )

    assert code == 0, err
    assert list_versions(LocalModelStore(out), "mall") == [version]
    assert not claim.exists()
