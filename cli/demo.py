"""``segments demo`` and ``segments stack``: the whole system on 127.0.0.1.

``demo`` starts the local stack (:class:`cli.localstack.LocalStack`), uploads the dataset config
to ``configs/<dataset>.json`` and the customer file to ``uploads/<dataset>/``, waits for the
training handler (called by the queue dispatcher, as Lambda would), prints the segments and the
algorithm comparison fetched from the API, then serves the API, its docs and the dashboard until
Ctrl-C (or exits at once with ``--exit-after-training``).
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    from cli.localstack import LocalStack

__all__ = ["default_data_dir", "resolve_port", "run_demo", "run_stack"]


def default_data_dir() -> Path:
    """``data/`` of the repository the CLI runs from (editable install), else ``./data``."""
    repo_data = Path(__file__).resolve().parent.parent / "data"
    return repo_data if repo_data.is_dir() else Path.cwd() / "data"


def resolve_port(host: str, port: int) -> tuple[int, bool]:
    """``(port, True)`` when ``port`` is free on ``host``, else ``(0, False)`` (pick any).

    Examples
    --------
    >>> resolve_port("127.0.0.1", 0)
    (0, True)
    """
    if port == 0:
        return 0, True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return 0, False
    return port, True


def _start_stack(port: int, *, api_tokens: str = "", admin_tokens: str = "") -> LocalStack:
    from cli.console import error_console
    from cli.localstack import LocalStack, LocalStackConfig

    api_port, free = resolve_port("127.0.0.1", port)
    if not free:
        error_console.print(f"[yellow]port {port} is busy; using a free port instead[/yellow]")
    started = time.perf_counter()
    with error_console.status("starting the local stack (moto S3+SQS, dispatcher, API)..."):
        try:
            config = LocalStackConfig(
                api_port=api_port, api_tokens=api_tokens, admin_tokens=admin_tokens
            )
            stack = LocalStack(config).start()
        except ModuleNotFoundError as e:
            raise CliError(
                f"cannot start the local stack: {e} (run `make demo` or "
                "`pip install -r requirements-dev.txt -e .`)",
                ExitCode.UNREACHABLE,
            ) from e
    error_console.print(
        f"local stack up in {time.perf_counter() - started:.1f} s: S3+SQS at "
        f"{stack.endpoint_url}, API at {stack.api_url}"
    )
    return stack


def _serve_until_interrupted(stack: LocalStack) -> None:
    from cli.console import error_console

    error_console.print("[dim]serving; press Ctrl-C to stop[/dim]")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        error_console.print("stopping...")


MALL_EXAMPLE = '{"customers": [{"Annual Income (k$)": 120, "Spending Score (1-100)": 85}]}'


def _print_endpoints(stack: LocalStack, dataset: str | None, example: str | None = None) -> None:
    from cli.console import console

    url = stack.api_url
    console.print()
    console.print(f"[bold]Dashboard[/bold]  {url}/", soft_wrap=True)
    console.print(f"[bold]API docs[/bold]   {url}/docs", soft_wrap=True)
    if dataset:
        console.print(
            f"[bold]Segments[/bold]   curl {url}/datasets/{dataset}/segments", soft_wrap=True
        )
    if dataset and example:
        console.print(
            f"[bold]Assign[/bold]     curl -X POST {url}/datasets/{dataset}/assign "
            f"-H 'content-type: application/json' -d '{example}'",
            soft_wrap=True,
        )
    console.print("[bold]CLI against this stack[/bold] (another shell):")
    console.print(
        f"  export SEGMENTS_API_URL={url} AWS_ENDPOINT_URL={stack.endpoint_url} "
        f"RAW_BUCKET={stack.raw_bucket} MODELS_BUCKET={stack.models_bucket} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1",
        soft_wrap=True,
    )


def run_demo(args: argparse.Namespace) -> int:
    """The main job; see the module docstring."""
    from cli.api_client import remote_api
    from cli.console import console, error_console
    from cli.render import comparison_table, segments_view
    from cli.upload_command import upload_with_progress
    from shared.contract.config import validate_dataset_name
    from shared.store.s3 import S3ModelStore

    validate_dataset_name(args.dataset)
    data_dir = default_data_dir()
    data = args.data or data_dir / "mall_customers.csv"
    config = args.config
    if config is None and args.data is None:
        config = data_dir / "mall_config.json"
    for path in (data, config):
        if path is not None and not path.is_file():
            raise CliError(f"no such file: {path}", ExitCode.INPUT)

    demo_started = time.perf_counter()
    stack = _start_stack(args.port, api_tokens=args.api_tokens, admin_tokens=args.admin_tokens)
    try:
        s3 = stack.client("s3")
        store = S3ModelStore(stack.models_bucket, client=s3)

        def note() -> str:
            stats = stack.dispatcher.stats if stack.dispatcher else None
            if stats is None:
                return ""
            state = "handler running" if stats.busy else "polling"
            text = f"dispatcher: {state}, {stats.received} message(s) received"
            if stats.last_error:
                text += f", last error: {stats.last_error[:80]}"
            return text

        def check() -> None:
            """Stop waiting once SQS has moved the upload's message to the dead-letter queue."""
            if stack.dlq_depth() > 0:
                stats = stack.dispatcher.stats if stack.dispatcher else None
                raise CliError(
                    "the upload's message reached the dead-letter queue after "
                    f"{stack.config.max_receive_count} failed attempts"
                    + (f"; last error: {stats.last_error}" if stats and stats.last_error else ""),
                    ExitCode.TRAINING_FAILED,
                )

        _obj, outcome = upload_with_progress(
            s3,
            store,
            raw_bucket=stack.raw_bucket,
            dataset=args.dataset,
            path=data,
            config=config,
            timeout=args.timeout,
            training_note=note,
            check=check,
        )
        assert outcome is not None
        if outcome.failure is not None:
            raise CliError(
                f"training refused {data}: {outcome.failure.error}", ExitCode.TRAINING_FAILED
            )
        manifest = outcome.manifest
        assert manifest is not None
        with remote_api(stack.api_url, token=_first_token(args)) as api:
            # This upload's version, whichever one another upload may have made current.
            segments = api.segments(args.dataset, version=manifest.version)
            evaluation = api.evaluation(args.dataset, version=manifest.version)
        console.print()
        console.print(
            segments_view(
                segments,
                title=f"{args.dataset}: {len(segments.get('segments', []))} segments "
                f"({segments.get('algorithm')}, k={segments.get('k')}, "
                f"version {manifest.version})",
            )
        )
        console.print()
        console.print(comparison_table(evaluation.get("comparison", [])))
        if evaluation.get("champion_reason"):
            console.print(f"[dim]{evaluation['champion_reason']}[/dim]")
        console.print(
            f"\ntrained in {outcome.seconds:.1f} s; demo ready in "
            f"{time.perf_counter() - demo_started:.1f} s"
        )
        _print_endpoints(stack, args.dataset, MALL_EXAMPLE if args.data is None else None)
        if not args.exit_after_training:
            _serve_until_interrupted(stack)
    finally:
        stack.stop()
    error_console.print("[dim]local stack stopped[/dim]")
    return ExitCode.OK


def _first_token(args: argparse.Namespace) -> str | None:
    """A token the demo's own calls can use when the local API enforces tokens."""
    for raw in (args.api_tokens, args.admin_tokens):
        tokens = [t.strip() for t in (raw or "").split(",") if t.strip()]
        if tokens:
            return tokens[0]
    return None


def run_stack(args: argparse.Namespace) -> int:
    """Start the local stack with nothing in it and serve until Ctrl-C."""
    stack = _start_stack(args.port, api_tokens=args.api_tokens, admin_tokens=args.admin_tokens)
    try:
        _print_endpoints(stack, None)
        _serve_until_interrupted(stack)
    finally:
        stack.stop()
    return ExitCode.OK
