"""Whole-file scoring through the local stack: API score job -> presigned PUT to the moto server
-> S3 notification -> queue -> dispatcher -> training handler -> scores in the models bucket."""

from __future__ import annotations

import gzip
import io
import json
import time
from urllib.request import Request, urlopen

import pandas as pd
import requests

from tests.e2e.conftest import MALL_CSV, TrainedStack


def _call(stack: TrainedStack, method: str, path: str, body: object = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = Request(f"{stack.stack.api_url}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    with urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def test_a_score_job_scores_the_uploaded_file(mall_stack: TrainedStack) -> None:
    status, job = _call(mall_stack, "POST", "/datasets/mall/score-jobs", {"format": "csv.gz"})
    assert status == 201
    assert job["upload_url"].startswith(mall_stack.stack.endpoint_url)  # the moto server
    put = requests.put(job["upload_url"], data=gzip.compress(MALL_CSV.read_bytes()), timeout=30)
    assert put.status_code == 200, put.text

    deadline = time.monotonic() + 120
    while True:
        _, report = _call(mall_stack, "GET", job["status_url"])
        if report["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert report["status"] == "done", report
    assert report["model_version"] == mall_stack.manifest.version
    assert report["rows"] == 200
    download = requests.get(report["outputs"]["csv.gz"]["url"], timeout=30)
    scores = pd.read_csv(io.BytesIO(download.content), compression="gzip")
    assert len(scores) == 200
    assert set(scores.columns) >= {"segment_id", "segment_name", "confidence", "outlier"}
