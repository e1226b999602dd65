"""A small client of the segment API, over HTTP or in-process against a local model folder.

Every failure becomes a :class:`~cli.errors.CliError` with the exit code scripts rely on:
connection problems and 5xx -> ``UNREACHABLE``, 404 and "no model yet" 503 -> ``NOT_FOUND``,
other 4xx -> ``INPUT`` (with the API's own message, which names the field and row).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.errors import CliError, ExitCode
from shared.serving.transactions import customer_order

__all__ = ["ApiClient", "local_api", "remote_api"]

DEFAULT_TIMEOUT = 30.0


def _detail(response: Any) -> str:
    """The API's error message: FastAPI's ``detail`` (string or list of field errors)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):  # the API's ErrorResponse
        return str(body["message"])
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for err in detail[:5]:
            if isinstance(err, Mapping):
                loc = ".".join(str(p) for p in err.get("loc", []))
                parts.append(f"{loc}: {err.get('msg', err)}" if loc else str(err.get("msg", err)))
            else:
                parts.append(str(err))
        return "; ".join(parts)
    if isinstance(detail, Mapping):
        return str(detail.get("message") or detail.get("error") or detail)
    return str(detail)


def _error_code(response: Any) -> str | None:
    """The machine-readable ``error`` of the API's ErrorResponse (``no_model``, ...)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["error"]) if isinstance(body, dict) and "error" in body else None


class ApiClient:
    """Calls the routes of the HTTP contract and maps errors to exit codes.

    Parameters
    ----------
    http : httpx.Client or starlette TestClient
        Anything with ``request(method, url, params=, json=)`` returning an httpx-like response.
    where : str
        Shown in error messages ("http://127.0.0.1:8000", "models folder ./out").
    """

    def __init__(self, http: Any, where: str) -> None:
        self.http = http
        self.where = where

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise :class:`CliError`."""
        import httpx

        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, path, params=clean, json=json)
        except httpx.TimeoutException as e:
            raise CliError(
                f"the API at {self.where} did not answer in time ({e})", ExitCode.UNREACHABLE
            ) from e
        except httpx.TransportError as e:
            raise CliError(
                f"cannot reach the API at {self.where}: {e} "
                "(is it running? set --api-url or SEGMENTS_API_URL)",
                ExitCode.UNREACHABLE,
            ) from e
        status = response.status_code
        if status < 400:
            return response.json()
        message = f"{method} {path} -> {status}: {_detail(response)}"
        code = _error_code(response)
        if status in {401, 403}:
            raise CliError(message + " (set --token or SEGMENTS_API_TOKEN)", ExitCode.INPUT)
        if status == 404 or code == "no_model":
            raise CliError(message, ExitCode.NOT_FOUND)
        if status >= 500:
            raise CliError(message, ExitCode.UNREACHABLE)
        raise CliError(message, ExitCode.INPUT)

    # -- routes -------------------------------------------------------------------------------

    def health(self) -> Any:
        return self.request("GET", "/health")

    def datasets(self) -> Any:
        return self.request("GET", "/datasets")

    def segments(
        self,
        dataset: str,
        *,
        algorithm: str | None = None,
        k: int | None = None,
        version: str | None = None,
    ) -> Any:
        """``GET /datasets/{dataset}/segments`` of ``version`` (default: the current one)."""
        return self.request(
            "GET",
            f"/datasets/{dataset}/segments",
            params={"algorithm": algorithm, "k": k, "version": version},
        )

    def dataset(self, dataset: str) -> Any:
        """The current version's summary (``GET /datasets/{dataset}``), with its input columns."""
        return self.request("GET", f"/datasets/{dataset}")

    def evaluation(self, dataset: str, *, version: str | None = None) -> Any:
        """``GET /datasets/{dataset}/evaluation`` of ``version`` (default: the current one)."""
        return self.request("GET", f"/datasets/{dataset}/evaluation", params={"version": version})

    def versions(self, dataset: str) -> Any:
        return self.request("GET", f"/datasets/{dataset}/versions")

    def assign(
        self,
        dataset: str,
        customers: Sequence[Mapping[str, Any]],
        *,
        algorithm: str | None = None,
        k: int | None = None,
        batch_size: int = 1000,
    ) -> dict[str, Any]:
        """Assign ``customers`` in batches of ``batch_size``; one merged response.

        The merged ``count`` is the number of assignments received, which must equal the number
        of customers sent, batch by batch, from one model version.

        Raises
        ------
        CliError
            When a batch comes back with fewer or more assignments than it sent, or the model
            version changed between batches (a new version was published meanwhile: run again).
        """
        merged: dict[str, Any] | None = None
        assignments: list[Any] = []
        for start in range(0, max(len(customers), 1), batch_size):
            chunk = list(customers[start : start + batch_size])
            body = self.request(
                "POST",
                f"/datasets/{dataset}/assign",
                params={"algorithm": algorithm, "k": k},
                json={"customers": chunk},
            )
            received = list(body.get("assignments", []))
            if len(received) != len(chunk):
                raise CliError(
                    f"customers {start + 1:,}-{start + len(chunk):,}: the API answered "
                    f"{len(received):,} assignments for {len(chunk):,} customers",
                    ExitCode.UNREACHABLE,
                )
            if merged is None:
                merged = dict(body)
            elif body.get("model_version") != merged.get("model_version"):
                raise CliError(
                    f"the model of {dataset!r} changed from version {merged.get('model_version')} "
                    f"to {body.get('model_version')} while assigning (after {start:,} customers); "
                    "run the assignment again",
                    ExitCode.UNREACHABLE,
                )
            assignments.extend(received)
        assert merged is not None
        merged["assignments"] = assignments
        merged["count"] = len(assignments)
        return merged

    def assign_transactions(
        self,
        dataset: str,
        lines: Sequence[Mapping[str, Any]],
        *,
        customer_column: str,
        as_of: str | None = None,
        algorithm: str | None = None,
        k: int | None = None,
        batch_size: int = 10_000,
    ) -> dict[str, Any]:
        """Assign the customers of order ``lines``; batches never split a customer's lines.

        Lines are grouped by ``customer_column`` and the groups packed into calls of at most
        ``batch_size`` lines (a customer with more lines goes alone); the merged answer lists
        every customer once, in the order the API sorts them.

        Raises
        ------
        CliError
            When the model version changed between batches, or the answers disagree on as_of.
        """
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for line in lines:
            groups.setdefault(str(line.get(customer_column)), []).append(line)
        batches: list[list[Mapping[str, Any]]] = [[]]
        for group in groups.values():
            if batches[-1] and len(batches[-1]) + len(group) > batch_size:
                batches.append([])
            batches[-1].extend(group)
        merged: dict[str, Any] | None = None
        assignments: list[Any] = []
        dropped: dict[str, int] = {}
        for batch in batches:
            body = self.request(
                "POST",
                f"/datasets/{dataset}/assign-transactions",
                params={"algorithm": algorithm, "k": k},
                json={"transactions": batch, "as_of": as_of},
            )
            if merged is None:
                merged = dict(body)
            elif (body.get("model_version"), body.get("as_of")) != (
                merged.get("model_version"),
                merged.get("as_of"),
            ):
                raise CliError(
                    f"the model of {dataset!r} or the day changed while assigning (version "
                    f"{merged.get('model_version')} -> {body.get('model_version')}); run the "
                    "assignment again",
                    ExitCode.UNREACHABLE,
                )
            assignments.extend(body.get("assignments", []))
            for reason, n in (body.get("dropped_lines") or {}).items():
                dropped[reason] = dropped.get(reason, 0) + int(n)
        assert merged is not None
        order = customer_order([str(a["customer_id"]) for a in assignments])
        merged["assignments"] = [assignments[i] for i in order]
        merged["count"] = len(assignments)
        merged["lines"] = len(lines)
        merged["dropped_lines"] = dropped
        return merged


@contextmanager
def remote_api(url: str, *, token: str | None = None) -> Iterator[ApiClient]:
    """An :class:`ApiClient` over HTTP at ``url`` (optionally with a bearer token)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=DEFAULT_TIMEOUT) as http:
        yield ApiClient(http, url)


@contextmanager
def local_api(models_dir: Path, *, token: str | None = None) -> Iterator[ApiClient]:
    """An :class:`ApiClient` on the API app in this process, serving ``models_dir``.

    The app reads ``MODELS_DIR`` through ``shared.settings`` and uses a local model store; no
    network and no AWS are involved. It runs with ``AUTH_MODE=open`` (the caller can read the
    folder anyway); tokens in ``API_TOKENS``/``ADMIN_TOKENS``, if set, are still enforced.
    """
    if not models_dir.is_dir():
        raise CliError(f"models folder {models_dir} does not exist", ExitCode.INPUT)
    from shared.settings import Settings, get_settings

    saved = {name: os.environ.get(name) for name in ("MODELS_DIR", "LOG_LEVEL")}
    os.environ["MODELS_DIR"] = str(models_dir.resolve())
    # No server runs: the app's own logs (the open-authorization warning a server must print,
    # which model it loaded) follow the CLI's level, so they show only with -v.
    os.environ["LOG_LEVEL"] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    get_settings.cache_clear()
    try:
        with warnings.catch_warnings():
            # Starlette's TestClient warns (a UserWarning subclass) that it wants httpx2; httpx
            # is what we pin and it works.
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        from lambdas.api.main import create_app

        app = create_app(settings=Settings(auth_mode="open"))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with TestClient(app, headers=headers, raise_server_exceptions=False) as http:
            yield ApiClient(http, f"models folder {models_dir}")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
