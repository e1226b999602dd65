"""The training run's rules on a local store with a fake engine (no AWS, no scikit-learn)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest

from shared.contract.config import DatasetConfig, parse_config
from shared.contract.layout import ModelLayout
from shared.contract.manifest import CurrentPointer, FailureReport
from shared.exceptions import (
    ChecksumMismatchError,
    DataValidationError,
    TrainingInProgressError,
    TransientStoreError,
)
from shared.store.base import (
    UploadInfo,
    list_versions,
    read_current,
    read_manifest,
    read_verified_artifact,
    write_current,
)
from shared.store.local import LocalModelStore, LocalRawUploadReader
from shared.training.run import (
    MAX_REPORT_ERROR_CHARS,
    RETENTION_GRACE,
    TrainingResult,
    TrainingRun,
    UploadEvent,
    apply_retention,
    claim_key,
    config_digest,
    promote_if_newer,
    version_id_for,
)
from tests.support.engine import FakeEngine, fake_csv

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
DEFAULT_CONFIG = config_digest(DatasetConfig())


@dataclass
class Env:
    raw_root: Path
    store: LocalModelStore
    engine: FakeEngine
    run: TrainingRun

    def upload(self, key: str, data: bytes, when: datetime = T0) -> UploadEvent:
        """Write an upload with a chosen modification time (the upload time)."""
        path = self.raw_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (when.timestamp(), when.timestamp()))
        return UploadEvent(key=key)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    raw_root = tmp_path / "raw"
    raw_root.mkdir()
    store = LocalModelStore(tmp_path / "models")
    engine = FakeEngine()
    run = TrainingRun(
        store=store,
        raw=LocalRawUploadReader(raw_root),
        max_upload_bytes=10_000,
        keep_versions=3,
        engine=engine,
        clock=lambda: T0 + timedelta(hours=1),
    )
    return Env(raw_root, store, engine, run)


# --- version ids ----------------------------------------------------------------------------


def _info(key: str = "uploads/mall/a.csv", when: datetime = T0, etag: str = "e1") -> UploadInfo:
    return UploadInfo(key=key, size=10, last_modified=when, etag=etag)


def test_version_id_is_upload_time_then_source_hash() -> None:
    vid = version_id_for(_info(), "0" * 64)
    assert vid.startswith("20250301T120000Z-")
    assert len(vid.split("-")[1]) == 10
    assert vid == version_id_for(_info(), "0" * 64)


@pytest.mark.parametrize(
    "other",
    [
        (_info(key="uploads/mall/b.csv"), "0" * 64),
        (_info(etag="e2"), "0" * 64),
        (_info(), "1" * 64),
    ],
)
def test_version_id_changes_with_key_revision_or_bytes(other: tuple[UploadInfo, str]) -> None:
    assert version_id_for(*other) != version_id_for(_info(), "0" * 64)


def test_version_id_changes_with_the_config_digest() -> None:
    other = config_digest(DatasetConfig(k_max=6))
    assert version_id_for(_info(), "0" * 64, other) != version_id_for(
        _info(), "0" * 64, DEFAULT_CONFIG
    )
    assert version_id_for(_info(), "0" * 64, other)[:17] == "20250301T120000Z-"


@pytest.mark.parametrize(
    "same",
    [
        b"",
        b"{}",
        b'{"k_min": 2, "k_max": 10}',
        b'{\n  "k_max": 10,\n  "k_min": 2\n}\n',
        b'{"algorithms": ["kmeans", "agglomerative", "dbscan", "gmm"], "exclude": []}',
    ],
)
def test_config_digest_is_the_effective_config(same: bytes) -> None:
    assert config_digest(parse_config(same)) == DEFAULT_CONFIG


@pytest.mark.parametrize(
    "changed",
    [
        b'{"k_max": 6}',
        b'{"algorithms": ["gmm", "kmeans", "agglomerative", "dbscan"]}',
        b'{"features": ["x"]}',
        b'{"exclude": ["y"]}',
    ],
)
def test_config_digest_changes_with_any_value_the_engine_reads(changed: bytes) -> None:
    assert config_digest(parse_config(changed)) != DEFAULT_CONFIG


def test_version_ids_sort_by_upload_time() -> None:
    ids = [version_id_for(_info(when=T0 + timedelta(seconds=s)), "0" * 64) for s in (59, 1, 3600)]
    assert sorted(ids) == [ids[1], ids[0], ids[2]]


def test_version_id_of_naive_time_is_read_as_utc() -> None:
    naive = _info(when=T0.replace(tzinfo=None))
    assert version_id_for(naive, None) == version_id_for(_info(), None)


# --- the happy path ------------------------------------------------------------------------


def test_publishes_version_with_manifest_and_current_last(env: Env) -> None:
    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(-1, 2, 3)))

    assert result.status == "published"
    assert result.current is True
    assert result.version is not None
    manifest = read_manifest(env.store, "mall", result.version)
    assert manifest.source.key == "uploads/mall/a.csv"
    assert manifest.source.size == len(fake_csv(-1, 2, 3))
    assert manifest.rows.read == 3
    assert manifest.warnings == ["fake engine"]
    assert set(manifest.artifacts) == {
        "preprocessor.skops",
        "models/kmeans-k2.skops",
        "profiles.json",
        "evaluation.json",
        "assignments.csv.gz",
    }
    assert manifest.artifacts["evaluation.json"].content_type == "application/json"
    labels = json.loads(read_verified_artifact(env.store, manifest, "models/kmeans-k2.skops"))
    assert labels == {"labels": [0, 1, 1]}
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == result.version
    assert pointer.source_last_modified == T0
    # no claim is left behind
    assert not env.store.exists(claim_key("mall", result.version))
    # the manifest's schema is written under the contract's name
    raw = json.loads(env.store.get_bytes(ModelLayout.manifest("mall", result.version)))
    assert "schema" in raw
    assert raw["engine"]["python"]


def test_config_and_previous_profiles_reach_the_engine(env: Env) -> None:
    first = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1)))
    (env.raw_root / "configs").mkdir()
    (env.raw_root / "configs" / "mall.json").write_text('{"k_max": 4}')
    env.run.run(env.upload("uploads/mall/b.csv", fake_csv(2, -2), T0 + timedelta(minutes=1)))

    first_call, second_call = env.engine.calls
    assert first_call.previous is None
    assert first_call.config is not None
    assert first_call.config.k_max == 10
    assert second_call.previous is not None
    assert second_call.previous.feature_names == ["x", "y"]
    assert second_call.config is not None
    assert second_call.config.k_max == 4
    assert second_call.filename == "b.csv"
    second = read_current(env.store, "mall")
    assert second is not None
    assert read_manifest(env.store, "mall", second.version).previous_version == first.version


# --- config is part of identity -----------------------------------------------------------


def _ticking_run(env: Env) -> TrainingRun:
    """The env's run with a clock that moves a minute per reading (runs happen in order)."""
    ticks = iter(range(10_000))
    return TrainingRun(
        store=env.store,
        raw=env.run.raw,
        max_upload_bytes=env.run.max_upload_bytes,
        keep_versions=10,
        engine=env.engine,
        clock=lambda: T0 + timedelta(hours=1, minutes=next(ticks)),
    )


def _write_config(env: Env, text: str | None) -> None:
    path = env.raw_root / "configs" / "mall.json"
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


def test_a_new_config_makes_a_new_version_of_the_same_upload(env: Env) -> None:
    run = _ticking_run(env)
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))

    first = run.run(event)
    _write_config(env, '{"k_max": 4}')
    second = run.run(event)
    _write_config(env, '{\n  "k_min": 2,\n  "k_max": 4\n}')  # same effective config
    third = run.run(event)

    assert (first.status, second.status, third.status) == ("published", "published", "duplicate")
    assert first.version != second.version
    assert third.version == second.version
    assert [call.config.k_max for call in env.engine.calls if call.config] == [10, 4]
    assert list_versions(env.store, "mall") == sorted([first.version, second.version])
    manifest = read_manifest(env.store, "mall", second.version or "")
    assert manifest.source.config_sha256 == config_digest(DatasetConfig(k_max=4))
    assert manifest.source.sha256 == _sha(fake_csv(1, -1))
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == second.version


def test_the_config_read_last_wins_for_one_upload(env: Env) -> None:
    run = _ticking_run(env)
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    _write_config(env, '{"k_max": 4}')
    with_config = run.run(event)
    _write_config(env, None)  # back to the defaults: a new version, made current
    without = run.run(event)
    _write_config(env, '{"k_max": 4}')  # and back again: a duplicate, current again
    again = run.run(event)

    assert (with_config.status, without.status, again.status) == (
        "published",
        "published",
        "duplicate",
    )
    assert (without.current, again.current) == (True, True)
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == with_config.version
    assert len(env.engine.calls) == 2


def test_a_new_config_never_makes_an_older_upload_current(env: Env) -> None:
    run = _ticking_run(env)
    old_event = env.upload("uploads/mall/a.csv", fake_csv(1, -1), T0)
    run.run(old_event)
    newer = run.run(env.upload("uploads/mall/b.csv", fake_csv(2, -2), T0 + timedelta(minutes=5)))
    _write_config(env, '{"k_max": 4}')

    retrained = run.run(old_event)

    assert (retrained.status, retrained.current) == ("published", False)
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == newer.version


def test_config_read_time_orders_versions_of_one_upload_only(env: Env) -> None:
    later_read = T0 + timedelta(hours=2)

    def pointer(version: str, key: str, read_at: datetime) -> CurrentPointer:
        return CurrentPointer(
            version=version,
            updated_at=T0,
            source_key=key,
            source_last_modified=T0,
            config_read_at=read_at,
        )

    # Two uploads made in the same second: the id decides (as retention's order does).
    assert promote_if_newer(env.store, "mall", pointer("v-b", "uploads/mall/b.csv", T0))
    assert not promote_if_newer(env.store, "mall", pointer("v-a", "uploads/mall/a.csv", later_read))
    # Two versions of one upload: the config read last decides.
    assert promote_if_newer(env.store, "mall", pointer("v-0", "uploads/mall/b.csv", later_read))
    current = read_current(env.store, "mall")
    assert current is not None
    assert current.version == "v-0"


# --- idempotency -----------------------------------------------------------------------------


def test_duplicate_delivery_trains_once(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    first = env.run.run(event)
    second = env.run.run(event)

    assert (first.status, second.status) == ("published", "duplicate")
    assert second.version == first.version
    assert len(env.engine.calls) == 1
    assert list_versions(env.store, "mall") == [first.version]


def test_duplicate_repairs_a_run_that_crashed_before_current(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    first = env.run.run(event)
    env.store.delete(ModelLayout.current("mall"))  # as if the run died after the manifest

    again = env.run.run(event)

    assert again.status == "duplicate"
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == first.version


def test_manual_promote_holds_against_earlier_uploads_only(env: Env) -> None:
    old = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1), T0))
    new_event = env.upload("uploads/mall/b.csv", fake_csv(2, -2), T0 + timedelta(minutes=5))
    new = env.run.run(new_event)
    assert old.version
    rollback_at = T0 + timedelta(minutes=10)
    write_current(
        env.store,
        "mall",
        CurrentPointer(version=old.version, updated_at=rollback_at, promoted=True),
    )

    redelivered = env.run.run(new_event)
    before_rollback = rollback_at - timedelta(seconds=1)
    late = env.run.run(env.upload("uploads/mall/c.csv", fake_csv(3, -3), before_rollback))
    after = env.run.run(env.upload("uploads/mall/d.csv", fake_csv(4, -4), T0 + timedelta(hours=1)))

    assert (redelivered.status, redelivered.current) == ("duplicate", False)
    assert (late.status, late.current) == ("published", False)
    assert (after.status, after.current) == ("published", True)
    assert new.version != after.version


def test_claimed_version_raises_in_progress_and_leaves_the_claim(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    info = LocalRawUploadReader(env.raw_root).head(event.key)
    version = version_id_for(info, _sha(fake_csv(1, -1)), DEFAULT_CONFIG)
    claim = {"version": version, "claimed_at": (T0 + timedelta(minutes=55)).isoformat()}
    env.store.put_bytes(claim_key("mall", version), json.dumps(claim).encode())

    with pytest.raises(TrainingInProgressError, match="another worker"):
        env.run.run(event)

    assert env.engine.calls == []
    assert env.store.exists(claim_key("mall", version))
    assert issubclass(TrainingInProgressError, TransientStoreError)


def test_stale_claim_is_taken_over(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    info = LocalRawUploadReader(env.raw_root).head(event.key)
    version = version_id_for(info, _sha(fake_csv(1, -1)), DEFAULT_CONFIG)
    claim = {"version": version, "claimed_at": T0.isoformat()}  # an hour before the clock
    env.store.put_bytes(claim_key("mall", version), json.dumps(claim).encode())

    result = env.run.run(event)

    assert result.status == "published"
    assert not env.store.exists(claim_key("mall", version))


def test_concurrent_deliveries_train_once(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))
    env.engine.gate = threading.Event()
    outcomes: list[str] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            status = env.run.run(event).status
        except TrainingInProgressError:
            status = "in-progress"
        with lock:
            outcomes.append(status)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    # Wait until one worker holds the claim and is inside the engine, then let it finish.
    for _ in range(200):
        if env.engine.calls:
            break
        threading.Event().wait(0.01)
    env.engine.gate.set()
    for thread in threads:
        thread.join(timeout=10)

    assert len(env.engine.calls) == 1
    assert outcomes.count("published") == 1
    assert set(outcomes) <= {"published", "in-progress", "duplicate"}
    assert len(list_versions(env.store, "mall")) == 1
    # the retried deliveries (SQS redelivers the in-progress ones) find the version
    assert env.run.run(event).status == "duplicate"


# --- failures ----------------------------------------------------------------------------------


def test_invalid_upload_writes_failure_and_keeps_current(env: Env) -> None:
    good = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1), T0))
    bad = env.run.run(
        env.upload("uploads/mall/b.csv", b"\x89PNG garbage", T0 + timedelta(minutes=1))
    )

    assert bad.status == "failed"
    assert bad.failure_key is not None
    assert bad.failure_key.startswith("datasets/mall/failures/20250301T120100Z-")
    report = FailureReport.model_validate_json(env.store.get_bytes(bad.failure_key))
    assert (report.error_type, report.error) == (
        "NotATableError",
        "'b.csv' is not UTF-8 text (byte 0)",
    )
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == good.version
    assert list_versions(env.store, "mall") == [good.version]


def test_failure_report_carries_the_engine_message(env: Env) -> None:
    result = env.run.run(env.upload("uploads/mall/a.csv", b"a,b\n1,2\n"))

    assert result.status == "failed"
    assert result.failure_key
    report = FailureReport.model_validate_json(env.store.get_bytes(result.failure_key))
    assert report.error == "'a.csv' does not start with the header 'x,y'"
    assert report.error_type == "NotATableError"
    assert report.dataset == "mall"
    assert read_current(env.store, "mall") is None


def test_bad_config_is_a_failure(env: Env) -> None:
    (env.raw_root / "configs").mkdir()
    (env.raw_root / "configs" / "mall.json").write_text('{"k_maximum": 4}')

    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1)))

    assert result.status == "failed"
    assert result.error is not None
    assert "'k_maximum'" in result.error
    assert env.engine.calls == []


def test_too_large_upload_fails_before_reading(env: Env) -> None:
    result = env.run.run(env.upload("uploads/mall/a.csv", b"x,y\n" + b"1,2\n" * 3000))

    assert result.status == "failed"
    assert result.error == (
        "upload 'uploads/mall/a.csv' is 12,004 bytes; the limit is 10,000 bytes (MAX_UPLOAD_BYTES)"
    )
    assert env.engine.calls == []
    assert result.failure_key is not None
    report = json.loads(env.store.get_bytes(result.failure_key))
    assert report["source"]["size"] == 12_004


@pytest.mark.parametrize(
    "key", ["uploads/Mall/a.csv", "uploads/../a.csv", "uploads/-x/a.csv", "uploads/%2e%2e/a.csv"]
)
def test_invalid_dataset_name_is_rejected_without_writing(env: Env, key: str) -> None:
    result = env.run.run(UploadEvent(key=key))

    assert result.status == "rejected"
    assert result.error is not None
    assert "is invalid" in result.error
    assert env.store.list_keys("") == []


@pytest.mark.parametrize("key", ["configs/mall.json", "other/mall/a.csv", "uploads/a.csv"])
def test_keys_outside_uploads_dataset_are_ignored(env: Env, key: str) -> None:
    assert env.run.run(UploadEvent(key=key)).status == "ignored"
    assert env.engine.calls == []


def test_object_gone_since_event_is_ignored(env: Env) -> None:
    assert env.run.run(UploadEvent(key="uploads/mall/gone.csv")).status == "ignored"


def test_missing_artifact_publishes_nothing_and_reports_an_internal_error(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.engine.artifacts_to_drop = ("profiles.json",)

    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1)), request_id="req-7")

    assert result.status == "failed"
    assert result.error_type == "InternalError"
    report = json.loads(env.store.get_bytes(str(result.failure_key)))
    assert report["error"] == (
        "training stopped on an internal error (ArtifactError); the details are in the "
        "training log under request id req-7"
    )
    assert report["request_id"] == "req-7"
    assert "profiles.json" not in report["error"]  # no details in the report...
    assert "lacks artifact(s) ['profiles.json']" in caplog.text  # ...the log has them
    assert "Traceback" in caplog.text
    assert read_current(env.store, "mall") is None
    assert list_versions(env.store, "mall") == []
    assert env.store.list_keys("datasets/mall/claims/") == []


# --- ordering ------------------------------------------------------------------------------


def test_older_upload_processed_late_never_becomes_current(env: Env) -> None:
    old_event = env.upload("uploads/mall/old.csv", fake_csv(1, -1), T0)
    new_event = env.upload("uploads/mall/new.csv", fake_csv(2, -2), T0 + timedelta(minutes=1))

    new = env.run.run(new_event)
    old = env.run.run(old_event)

    assert (new.current, old.current) == (True, False)
    assert old.status == "published"
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == new.version
    assert list_versions(env.store, "mall") == [old.version, new.version]


def test_promote_ties_on_time_break_by_version_id(env: Env) -> None:
    a = CurrentPointer(version="20250301T120000Z-aaaa", updated_at=T0, source_last_modified=T0)
    b = a.model_copy(update={"version": "20250301T120000Z-bbbb"})

    assert promote_if_newer(env.store, "mall", b) is True
    assert promote_if_newer(env.store, "mall", a) is False
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == b.version


def test_corrupt_current_is_replaced(env: Env) -> None:
    env.store.put_bytes(ModelLayout.current("mall"), b"{not json")

    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1)))

    assert result.current is True


# --- retention ---------------------------------------------------------------------------


@pytest.fixture
def spaced(env: Env) -> Env:
    """The env with a clock that moves an hour per reading: each run publishes longer than the
    retention grace period after the previous one, so the grace period spares nothing."""
    ticks = iter(range(10_000))
    env.run.clock = lambda: T0 + timedelta(hours=1 + next(ticks))
    return env


def test_retention_keeps_newest_and_current(spaced: Env) -> None:
    env = spaced
    results = [_upload_nth(env, i) for i in range(5)]
    versions = [r.version for r in results]

    assert list_versions(env.store, "mall") == versions[-3:]
    assert results[3].deleted_versions == (versions[0],)
    assert results[4].deleted_versions == (versions[1],)
    assert env.store.list_keys(ModelLayout.version("mall", versions[0])) == []


def test_retention_keeps_a_promoted_old_current(spaced: Env) -> None:
    env = spaced
    versions = [_upload_nth(env, i).version for i in range(1, 4)]
    assert versions[0] is not None
    promoted = CurrentPointer(
        version=versions[0], updated_at=T0 + timedelta(hours=1), promoted=True
    )
    write_current(env.store, "mall", promoted)
    late = _upload_nth(env, 4)  # uploaded before the promote: published, not current

    kept = list_versions(env.store, "mall")
    assert late.current is False
    assert kept == [versions[0], versions[1], versions[2], late.version]  # newest 3 + current
    assert late.deleted_versions == ()
    takeover = _upload_nth(env, 99)  # uploaded after the promote: current again
    assert takeover.current is True
    assert takeover.deleted_versions == (versions[0], versions[1])
    assert list_versions(env.store, "mall") == [versions[2], late.version, takeover.version]


def test_retention_ignores_folders_without_manifest(spaced: Env) -> None:
    env = spaced
    env.store.put_bytes(ModelLayout.artifact("mall", "00000000T000000Z-partial", "a.json"), b"{}")
    for i in range(4):
        _upload_nth(env, i)

    assert env.store.exists(ModelLayout.artifact("mall", "00000000T000000Z-partial", "a.json"))


def test_retention_spares_versions_published_within_the_grace_period(env: Env) -> None:
    """Runs finishing within the grace period of each other delete nothing yet."""
    results = [_upload_nth(env, i) for i in range(5)]

    assert all(r.deleted_versions == () for r in results)
    assert len(list_versions(env.store, "mall")) == 5
    later = T0 + timedelta(hours=1) + RETENTION_GRACE + timedelta(seconds=1)
    assert apply_retention(env.store, "mall", 3, now=later) == [r.version for r in results[:2]]


def test_retention_refuses_keep_below_one(env: Env) -> None:
    with pytest.raises(ValueError, match="keep_versions=0"):
        apply_retention(env.store, "mall", 0)


# --- integrity ---------------------------------------------------------------------------


def test_tampered_artifact_is_refused(env: Env) -> None:
    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv(1, -1)))
    assert result.version is not None
    env.store.put_bytes(
        ModelLayout.artifact("mall", result.version, "models/kmeans-k2.skops"), b"evil"
    )
    manifest = read_manifest(env.store, "mall", result.version)

    with pytest.raises(ChecksumMismatchError, match="refusing to load it"):
        read_verified_artifact(env.store, manifest, "models/kmeans-k2.skops")


def _upload_nth(env: Env, i: int) -> TrainingResult:
    """Upload and train the i-th of a series of uploads, a minute apart."""
    event = env.upload(f"uploads/mall/{i}.csv", fake_csv(i + 1, -1), T0 + timedelta(minutes=i))
    return env.run.run(event)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_an_error_with_no_safe_place_to_report_propagates_for_a_retry(env: Env) -> None:
    """When storage itself fails (not transiently), no report can be written: the error goes
    back to the queue (retried, then dead-lettered) instead of being swallowed."""
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))

    class BrokenRaw(LocalRawUploadReader):
        def head(self, key: str, *, version_id: str | None = None) -> UploadInfo:
            raise PermissionError("access denied to the raw bucket")

    env.run.raw = BrokenRaw(env.raw_root)
    with pytest.raises(PermissionError, match="access denied"):
        env.run.run(event)
    assert env.store.list_keys("datasets/") == []


def test_transient_errors_propagate_and_write_nothing(env: Env) -> None:
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1))

    def slow(*args: object, **kwargs: object) -> NoReturn:
        raise TransientStoreError("S3 answered SlowDown")

    env.run.engine = slow
    with pytest.raises(TransientStoreError):
        env.run.run(event, final_attempt=None)
    assert env.store.list_keys("datasets/") == []


def test_a_failure_report_keeps_a_bounded_message(env: Env) -> None:
    def engine(data: bytes, **kwargs: Any) -> Any:
        raise DataValidationError("cell " + "x" * 500_000 + " is bad")

    env.run.engine = engine
    result = env.run.run(env.upload("uploads/mall/a.csv", fake_csv()))

    assert result.status == "failed"
    assert result.failure_key
    report = FailureReport.model_validate_json(env.store.get_bytes(result.failure_key))
    assert report.error_type == "DataValidationError"
    assert report.error.startswith("cell xxx")
    assert len(report.error) == MAX_REPORT_ERROR_CHARS + 3
    assert result.error == report.error


# --- two uploads within one second ----------------------------------------------------------


@pytest.mark.parametrize("later", ["a.csv", "b.csv"])
@pytest.mark.parametrize("published_last", ["earlier", "later"])
def test_uploads_in_one_second_are_ordered_by_event_time(
    env: Env, later: str, published_last: str
) -> None:
    """Both objects have the same Last-Modified second: the event time (ms) decides, not the
    hash in the version id, whichever run finishes last."""
    earlier = "b.csv" if later == "a.csv" else "a.csv"
    times = {earlier: T0 + timedelta(milliseconds=120), later: T0 + timedelta(milliseconds=870)}
    events = {
        name: replace(
            env.upload(f"uploads/mall/{name}", fake_csv(i + 1, -1), T0), event_time=times[name]
        )
        for i, name in enumerate(sorted(times))
    }
    order = [later, earlier] if published_last == "earlier" else [earlier, later]

    results = {name: env.run.run(events[name]) for name in order}

    assert results[later].current is True
    assert results[earlier].current is (published_last == "later")
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.version == results[later].version
    assert pointer.source_event_time == times[later]


def test_an_event_time_of_a_replaced_object_is_not_used(env: Env) -> None:
    """The event names an older ETag than the object now there: its time is not the object's."""
    event = env.upload("uploads/mall/a.csv", fake_csv(1, -1), T0)
    stale = replace(event, etag="an-older-etag", event_time=T0 + timedelta(milliseconds=5))

    result = env.run.run(stale)

    assert result.status == "published"
    pointer = read_current(env.store, "mall")
    assert pointer is not None
    assert pointer.source_event_time is None


def test_retention_orders_versions_of_one_second_by_event_time(spaced: Env) -> None:
    """Ids of one upload second sort by hash; retention keeps the latest by event time."""
    env = spaced
    names = ["a.csv", "b.csv", "c.csv"]
    results = [
        env.run.run(
            replace(
                env.upload(f"uploads/mall/{name}", fake_csv(i + 1, -1), T0),
                event_time=T0 + timedelta(milliseconds=100 * (i + 1)),
            )
        )
        for i, name in enumerate(names)
    ]
    last = results[-1].version
    assert last is not None

    deleted = apply_retention(env.store, "mall", 1, now=T0 + timedelta(days=2))

    assert list_versions(env.store, "mall") == [last]
    assert sorted(deleted) == sorted(str(r.version) for r in results[:-1])
    assert read_manifest(env.store, "mall", last).source.event_time == T0 + timedelta(
        milliseconds=300
    )
