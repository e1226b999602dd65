"""Hostile or broken artifacts in the models bucket: refused with a clear 503, never executed.

Ways a version can be bad: a serving ``.npz`` holding a pickled object (with a manifest forged to
match it), bytes whose sha256 does not match the manifest, a version without a serving bundle
(published by an older run, or stripped, beside skops files carrying an untrusted type or
tampered bytes, which the API never reads), and a ``current.json`` pointing at a version that
does not exist. The untrusted payloads would create a marker file if any of
their code ran (``__setstate__``, ``__reduce__``, ``functools.partial(os.system, ...)``); the
tests assert it never appears, and prove the payload is live by loading it once with its type
explicitly trusted. An API container that already serves a good version keeps serving it; a
fresh container answers 503 naming the problem.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.contract.layout import (
    SERVING_PARAMS_PATH,
    ModelLayout,
    model_key,
    serving_arrays_path,
)
from shared.contract.manifest import CurrentPointer, Manifest
from shared.engine.persistence import load_artifact
from shared.exceptions import ArtifactError, UntrustedTypeError
from shared.settings import Settings
from shared.store.base import sha256_hex, write_current
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import (
    GOOD_VERSION,
    Stack,
    api_call,
    api_handler,
    assert_serves,
    seed_good_model,
)

DATASET = "shop"
BAD_VERSION = "20300101T000000Z-badbadbad0"


class Marker:
    """A payload: building it from a file (``__setstate__``) or reducing it writes a marker."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["path"]).write_text("code from an artifact ran")
        self.__dict__.update(state)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.path).write_text, ("code from an artifact ran",))


def marker_payload(marker: Path) -> bytes:
    import skops.io as sio

    return bytes(sio.dumps(Marker(str(marker))))


def system_payload(marker: Path) -> bytes:
    import skops.io as sio

    return bytes(sio.dumps(functools.partial(os.system, f"touch {marker}")))


PAYLOADS: dict[str, Callable[[Path], bytes]] = {
    "setstate": marker_payload,
    "os.system": system_payload,
}


def settings(stack: Stack, refresh: float) -> Settings:
    return Settings(
        models_bucket=stack.moto.resources.models_bucket,
        auth_mode="open",
        api_tokens_raw="",
        admin_tokens_raw="",
        model_refresh_seconds=refresh,
    )


def npz_payload(marker: Path) -> bytes:
    """A serving ``.npz`` whose array holds a pickled object (runs code if unpickled)."""
    from shared.serving.rules import CentroidRule, CoreSampleRule, MixtureRule

    names = {n for rule in (CentroidRule, CoreSampleRule, MixtureRule) for n in rule.arrays}
    hostile = np.array([Marker(str(marker))], dtype=object)
    buffer = io.BytesIO()
    arrays: dict[str, Any] = dict.fromkeys(sorted(names), hostile)
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _forge(store: S3ModelStore, manifest: Manifest, path: str, blob: bytes) -> Manifest:
    """Replace one artifact and rewrite the manifest to match it (an attacker with write
    access to the bucket); returns the forged manifest."""
    store.put_bytes(ModelLayout.artifact(DATASET, BAD_VERSION, path), blob)
    forged: Manifest = manifest.model_copy(deep=True)
    forged.artifacts[path].sha256 = sha256_hex(blob)
    forged.artifacts[path].size = len(blob)
    store.put_bytes(ModelLayout.manifest(DATASET, BAD_VERSION), forged.to_json().encode())
    return forged


def _without_serving_bundle(store: S3ModelStore, manifest: Manifest) -> Manifest:
    """The version as an older publisher wrote it: skops artifacts only (refused by the API)."""
    stripped: Manifest = manifest.model_copy(deep=True)
    for path in [p for p in stripped.artifacts if p.startswith("serving/")]:
        del stripped.artifacts[path]
        store.delete(ModelLayout.artifact(DATASET, BAD_VERSION, path))
    store.put_bytes(ModelLayout.manifest(DATASET, BAD_VERSION), stripped.to_json().encode())
    return stripped


def publish_bad_version(store: S3ModelStore, good: TrainingOutput, kind: str, marker: Path) -> str:
    """Publish a broken version of ``DATASET``; return what the refusal must mention."""
    if kind == "missing_version":
        return f"'{BAD_VERSION}'"
    manifest = seed_good_model(store, good, DATASET, version=BAD_VERSION, current=False)
    champion = manifest.algorithms[manifest.champion]
    serving_path = serving_arrays_path(model_key(manifest.champion, champion.k))
    assert serving_path in manifest.artifacts  # new versions are served from numpy bundles
    if kind == "sha256_mismatch_serving":
        key = ModelLayout.artifact(DATASET, BAD_VERSION, serving_path)
        blob = bytearray(store.get_bytes(key))
        blob[len(blob) // 2] ^= 0x01  # one flipped bit
        store.put_bytes(key, bytes(blob))
        return "sha256"
    if kind == "pickled_npz":
        _forge(store, manifest, serving_path, npz_payload(marker))
        return "refused"
    # Without a serving bundle the version is refused, whatever its skops files hold: the API
    # never reads them (the payloads stay in place to prove none of their code runs).
    manifest = _without_serving_bundle(store, manifest)
    if kind == "sha256_mismatch_skops":
        key = ModelLayout.artifact(DATASET, BAD_VERSION, champion.artifact)
        blob = bytearray(store.get_bytes(key))
        blob[len(blob) // 2] ^= 0x01
        store.put_bytes(key, bytes(blob))
    elif kind != "no_serving_bundle":
        payload = PAYLOADS[kind.removeprefix("untrusted_")](marker)
        _forge(store, manifest, champion.artifact, payload)
    return SERVING_PARAMS_PATH


def point_current_at_bad(store: S3ModelStore) -> None:
    pointer = CurrentPointer(version=BAD_VERSION, updated_at=datetime.now(UTC))
    write_current(store, DATASET, pointer)


KINDS = [
    "untrusted_setstate",
    "untrusted_os.system",
    "pickled_npz",
    "sha256_mismatch_serving",
    "sha256_mismatch_skops",
    "no_serving_bundle",
    "missing_version",
]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_current_version_is_refused_and_the_cached_model_keeps_serving(
    kind: str, stack: Stack, good_output: TrainingOutput, tmp_path: Path
) -> None:
    store = stack.store
    marker = tmp_path / "pwned"
    seed_good_model(store, good_output, DATASET)
    warm = api_handler(store, settings=settings(stack, refresh=0))
    assert_serves(warm, DATASET, GOOD_VERSION)  # this container caches the good version

    mention = publish_bad_version(store, good_output, kind, marker)
    point_current_at_bad(store)

    # The warm container re-reads current.json (refresh 0), refuses the new version and
    # keeps serving the last good one, for every route.
    for _ in range(2):
        assert_serves(warm, DATASET, GOOD_VERSION)
    status, body = api_call(warm, "GET", f"/datasets/{DATASET}/segments")
    assert (status, body["model_version"]) == (200, GOOD_VERSION)

    # A fresh container has nothing good cached: a clear 503, no stack trace.
    cold = api_handler(store, settings=settings(stack, refresh=0))
    status, body = api_call(
        cold, "POST", f"/datasets/{DATASET}/assign", body={"customers": [{"Age": 30}]}
    )
    assert status == 503, body
    assert body["error"] == "artifact_refused"
    assert mention in body["message"], body["message"]
    assert "Traceback" not in body["message"]
    # Asking for the bad version by name is refused the same way (never served).
    status, body = api_call(
        warm, "POST", f"/datasets/{DATASET}/assign", query={"version": BAD_VERSION},
        body={"customers": [{"Age": 30}]},
    )  # fmt: skip
    assert status in (404, 503) if kind == "missing_version" else status == 503, body

    assert not marker.exists(), "code from an untrusted artifact ran"


@pytest.mark.parametrize("kind", ["untrusted_setstate", "untrusted_os.system", "pickled_npz"])
def test_promote_refuses_an_untrusted_version_without_running_it(
    kind: str, stack: Stack, good_output: TrainingOutput, tmp_path: Path
) -> None:
    store = stack.store
    marker = tmp_path / "pwned"
    seed_good_model(store, good_output, DATASET)
    publish_bad_version(store, good_output, kind, marker)
    api = api_handler(store, settings=settings(stack, refresh=5))

    status, body = api_call(api, "POST", f"/datasets/{DATASET}/versions/{BAD_VERSION}/promote")

    assert status == 503, body
    assert body["error"] == "artifact_refused"
    assert store.get_bytes(ModelLayout.current(DATASET)).count(GOOD_VERSION.encode()) == 1
    assert not marker.exists()
    assert_serves(api, DATASET, GOOD_VERSION)


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_payloads_are_live_but_never_loaded(payload: str, tmp_path: Path) -> None:
    """The payloads really run code once trusted, so the tests above can fail."""
    import skops.io as sio

    marker = tmp_path / "pwned"
    blob = PAYLOADS[payload](marker)

    with pytest.raises(UntrustedTypeError) as refused:
        load_artifact(blob)
    assert not marker.exists()
    untrusted = sio.get_untrusted_types(data=blob)
    assert all(name in str(refused.value) for name in untrusted)

    loaded = sio.loads(blob, trusted=untrusted)  # what a careless loader would do
    if payload == "os.system":
        loaded()
    assert marker.exists()


def test_pickled_npz_is_live_but_refused_by_the_serving_loader(tmp_path: Path) -> None:
    from shared.serving.rules import load_serving_rule

    marker = tmp_path / "pwned"
    blob = npz_payload(marker)

    with pytest.raises(ArtifactError, match="refused"):
        load_serving_rule({"kind": "nearest_centroid", "n_features": 2}, blob)
    assert not marker.exists()

    with np.load(io.BytesIO(blob), allow_pickle=True) as npz:  # what a careless loader would do
        npz["centroids"]
    assert marker.exists()
