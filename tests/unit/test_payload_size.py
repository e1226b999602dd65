"""The response cap's size of a Lambda answer, counted without building it, against the answer
Mangum would build (a JSON string for text, base64 otherwise)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lambdas.api.middleware import lambda_payload_size

JSON = [(b"content-type", b"application/json")]


def _mangum_size(body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    kinds = dict(headers)
    if b"content-encoding" in kinds or not kinds.get(b"content-type", b"").startswith(
        (b"application/json", b"text/")
    ):
        return len(base64.b64encode(body))
    return len(json.dumps(body.decode("utf-8", "replace")))


@pytest.mark.parametrize("alphabet", ["ascii", "ascii-text", "utf-8", "any-bytes"])
def test_the_counted_size_is_the_built_size(alphabet: str) -> None:
    rng = np.random.default_rng(len(alphabet))
    text = 'ab "\\\b\f\n\r\t\x00\x01\x1f\x7f~é€😀'
    checked = 0
    for n in [0, 1, 2, 3, 5, 64, 1000] * 40:
        if alphabet == "ascii":
            body = rng.integers(0, 128, n, dtype=np.uint8).tobytes()
        elif alphabet == "ascii-text":
            body = "".join(rng.choice(list(text[:-3]), n)).encode()
        elif alphabet == "utf-8":
            body = "".join(rng.choice(list(text), n)).encode()
        else:
            body = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        for headers in (JSON, [(b"content-type", b"text/csv")], [(b"content-type", b"image/png")],
                        [*JSON, (b"content-encoding", b"gzip")]):  # fmt: skip
            assert lambda_payload_size(body, headers) == _mangum_size(body, headers), body
            checked += 1
    assert checked == 7 * 40 * 4


def test_an_assign_answer_is_counted_exactly() -> None:
    rows = [
        {"segment_name": 'The "careful" spenders', "text": "Age 31 vs segment mean 40.2\\n"}
    ] * 500
    body = json.dumps({"assignments": rows}, separators=(",", ":")).encode()
    assert lambda_payload_size(body, JSON) == len(json.dumps(body.decode()))
    assert lambda_payload_size(body, JSON) > len(body) + 500 * 4  # quotes escaped
