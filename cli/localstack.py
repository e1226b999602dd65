"""The whole system on one machine: moto server (S3 + SQS), the queue dispatcher, the API.

:class:`LocalStack` starts, in this process:

1. ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (a free port), with the buckets, queue,
   dead-letter queue and S3 -> SQS notification of the CDK stack (:mod:`cli.resources`);
2. a :class:`~cli.dispatcher.QueueDispatcher` that polls the queue and calls
   ``lambdas.training.handler.handler`` as Lambda's SQS event source would;
3. the FastAPI app (``lambdas.api.main:app``) under uvicorn on 127.0.0.1.

The environment variables of the deployed functions (``RAW_BUCKET``, ``MODELS_BUCKET``,
``AWS_ENDPOINT_URL``, fake credentials, region) are set in ``os.environ`` while the stack runs and
restored by :meth:`LocalStack.stop`, so the handler and the app read them through
``shared.settings`` exactly as in Lambda.

Examples
--------
>>> with LocalStack() as stack:  # doctest: +SKIP
...     stack.s3.upload_file("data/mall_customers.csv", stack.raw_bucket, "uploads/mall/m.csv")
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from cli.dispatcher import QueueDispatcher
from cli.resources import MAX_RECEIVE_COUNT, StackNames, StackResources, create_stack_resources

if TYPE_CHECKING:
    from shared.contract.manifest import Manifest

__all__ = ["LocalStack", "LocalStackConfig", "free_port"]

logger = logging.getLogger(__name__)

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``.

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted connections
    # only when the listening socket's proto says TCP. Without it every response (headers and
    # body are two writes) waited ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


@dataclass(frozen=True)
class LocalStackConfig:
    """Options of the local stack.

    ``api_port=0`` picks a free port. ``visibility_timeout_seconds`` is short (the deployed
    queue uses 90 minutes) so a batch item reported as failed is retried within seconds.
    """

    host: str = "127.0.0.1"
    api_port: int = 0
    region: str = "us-east-1"
    names: StackNames = field(default_factory=StackNames)
    visibility_timeout_seconds: int = 30
    max_receive_count: int = MAX_RECEIVE_COUNT
    batch_size: int = 1
    poll_wait_seconds: int = 1
    model_refresh_seconds: float = 1.0
    api_tokens: str = ""
    """``API_TOKENS`` of the local API (comma-separated); with either token list set, the
    API enforces them, otherwise it runs in ``AUTH_MODE=open`` (local use only)."""
    admin_tokens: str = ""
    log_level: str = "WARNING"
    serve_api: bool = True
    handler: Callable[[dict[str, Any], Any], Any] | None = None
    """The training handler; default ``lambdas.training.handler.handler`` (tests inject fakes)."""
    extra_env: dict[str, str] = field(default_factory=dict)


class LocalStack:
    """Start and stop the local stack; see the module docstring.

    Parameters
    ----------
    config : LocalStackConfig, optional
        Options; the defaults pick free ports.
    """

    _running: ClassVar[LocalStack | None] = None
    """The stack running in this process: there can be one (it owns os.environ and moto's
    in-process backends, which every moto server of the process shares)."""

    def __init__(self, config: LocalStackConfig | None = None) -> None:
        self.config = config or LocalStackConfig()
        self.resources: StackResources | None = None
        self.dispatcher: QueueDispatcher | None = None
        self._moto: Any = None
        self._endpoint_url: str | None = None
        self._api_port: int | None = None
        self._uvicorn: Any = None
        self._uvicorn_thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}

    # -- addresses ----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The moto server's URL (the ``AWS_ENDPOINT_URL`` of everything local)."""
        if self._endpoint_url is None:
            raise RuntimeError("the local stack is not started")
        return self._endpoint_url

    @property
    def api_url(self) -> str:
        """The API's base URL, e.g. ``http://127.0.0.1:8000``."""
        if self._api_port is None:
            raise RuntimeError("the local stack's API is not started")
        return f"http://{self.config.host}:{self._api_port}"

    @property
    def raw_bucket(self) -> str:
        return self.config.names.raw_bucket

    @property
    def models_bucket(self) -> str:
        return self.config.names.models_bucket

    @property
    def env(self) -> dict[str, str]:
        """The environment of the deployed functions, pointed at this stack."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "RAW_BUCKET": self.raw_bucket,
            "MODELS_BUCKET": self.models_bucket,
            "MODEL_REFRESH_SECONDS": str(self.config.model_refresh_seconds),
            "API_TOKENS": self.config.api_tokens,
            "ADMIN_TOKENS": self.config.admin_tokens,
            # Open only while no token is set (shared.settings): a local stack needs no sign-in.
            "AUTH_MODE": "open",
            "LOG_LEVEL": self.config.log_level,
            "POWERTOOLS_SERVICE_NAME": "segments-local",
            "POWERTOOLS_METRICS_NAMESPACE": "CustomerSegments",
            "POWERTOOLS_LOG_LEVEL": self.config.log_level,
            # EMF metrics go to stdout in Lambda; locally they would only clutter the terminal.
            "POWERTOOLS_METRICS_DISABLED": "true",
            **FAKE_CREDENTIALS,
        }
        env.update(self.config.extra_env)
        return env

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` against the moto server (one per service)."""
        if service in self._clients:
            return self._clients[service]
        import boto3

        self._clients[service] = boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.config.region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )
        return self._clients[service]

    def dlq_depth(self) -> int:
        """Messages in the dead-letter queue (uploads whose training kept failing)."""
        if self.resources is None:
            return 0
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.resources.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def train(
        self,
        path: str | os.PathLike[str],
        *,
        dataset: str,
        config: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
    ) -> Manifest:
        """Upload ``path`` (and ``config`` first) like a user would and wait for the version.

        Goes the whole way: S3 put -> notification -> SQS -> dispatcher -> training handler ->
        models bucket. For tests and scripts (no output).

        Raises
        ------
        cli.errors.CliError
            ``TRAINING_FAILED`` with the failure report's message, or ``TIMEOUT``.
        """
        from pathlib import Path

        from cli.errors import CliError, ExitCode
        from cli.uploads import existing_state, upload_config, upload_file, wait_for_training
        from shared.store.s3 import S3ModelStore

        s3 = self.client("s3")
        store = S3ModelStore(self.models_bucket, client=s3)
        seen_versions, seen_failures = existing_state(store, dataset)
        if config is not None:
            upload_config(s3, self.raw_bucket, dataset, Path(config))
        obj = upload_file(s3, self.raw_bucket, dataset, Path(path))
        outcome = wait_for_training(
            store,
            dataset,
            obj,
            seen_versions=seen_versions,
            seen_failures=seen_failures,
            timeout=timeout,
            poll_seconds=0.25,
        )
        if outcome.failure is not None:
            raise CliError(outcome.failure.error, ExitCode.TRAINING_FAILED)
        assert outcome.manifest is not None
        return outcome.manifest

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start moto server, create the resources, start the dispatcher and the API."""
        running = LocalStack._running
        if running is not None and running is not self:
            raise RuntimeError(
                "another LocalStack is running in this process; stop it first (they would "
                "share os.environ and moto's backends)"
            )
        LocalStack._running = self
        started = time.perf_counter()
        try:
            self._start_moto()
            self._apply_env()
            self.resources = create_stack_resources(
                self.client("s3"),
                self.client("sqs"),
                names=self.config.names,
                region=self.config.region,
                visibility_timeout_seconds=self.config.visibility_timeout_seconds,
                max_receive_count=self.config.max_receive_count,
            )
            self.dispatcher = QueueDispatcher(
                self.client("sqs"),
                self.resources.queue_url,
                self.resources.queue_arn,
                handler=self.config.handler,
                batch_size=self.config.batch_size,
                wait_seconds=self.config.poll_wait_seconds,
                region=self.config.region,
            )
            # Import the handler now, in this thread, so the first upload does not pay for it
            # and an import error surfaces here rather than in the polling thread.
            self.dispatcher._handler()
            self._fresh_training_container()
            self.dispatcher.start()
            if self.config.serve_api:
                self._start_api()
        except BaseException:
            self.stop()
            raise
        logger.info("local stack up in %.1f s", time.perf_counter() - started)
        return self

    def stop(self) -> None:
        """Stop the API, the dispatcher and moto server; restore the environment."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            if self._uvicorn_thread is not None:
                self._uvicorn_thread.join(10)
            self._uvicorn = None
            self._uvicorn_thread = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
            self._fresh_training_container()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._clients = {}
        self._restore_env()
        if LocalStack._running is self:
            LocalStack._running = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts --------------------------------------------------------------------------------

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        if self.config.log_level.upper() != "DEBUG":
            # moto server logs every request through werkzeug at INFO.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

        self._moto = ThreadedMotoServer(ip_address=self.config.host, port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._endpoint_url = f"http://{host}:{port}"
        # moto server keeps its state in this process' backends (shared with any earlier
        # stack or mock in the process): start from a clean slate.
        from urllib.request import Request, urlopen

        with urlopen(Request(f"{self._endpoint_url}/moto-api/reset", method="POST"), timeout=10):
            pass

    def _fresh_training_container(self) -> None:
        """Like a Lambda cold start: the handler rebuilds its store and reader from the env.

        The training runner caches them per process (per container in Lambda); an earlier stack
        in this process would leave them pointed at its moto server.
        """
        if self.config.handler is None:
            from lambdas.training import runner

            runner.configure(None)

    def _apply_env(self) -> None:
        from shared.settings import get_settings

        for name, value in self.env.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        for name in ("AWS_PROFILE",):
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.pop(name, None)
        get_settings.cache_clear()

    def _restore_env(self) -> None:
        if not self._saved_env:
            return
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        from shared.settings import get_settings

        get_settings.cache_clear()

    def _start_api(self) -> None:
        import uvicorn

        from lambdas.api.main import create_app

        # A fresh app per stack: the module-level ``app`` caches its store (bucket, endpoint).
        app = create_app()
        sock = _bind(self.config.host, self.config.api_port)
        self._api_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level=self.config.log_level.lower(),
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        self._uvicorn_thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
        )
        self._uvicorn_thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._uvicorn_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.api_url}")
            time.sleep(0.02)
