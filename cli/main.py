"""``segments``: the command line of the customer-segmentation system.

Commands (``segments COMMAND --help`` for each):

- ``demo``     start the local stack, train on the Mall data, print the segments, serve the API
- ``stack``    start the local stack and serve it (no upload)
- ``upload``   put a customer file in the raw bucket and wait for its model (progress bar)
- ``train``    run the engine on a local file, no AWS at all; write a version folder + report
- ``assign``   assign customers to segments (over HTTP, or locally against ``--models-dir``)
- ``score``    score a whole customer file against the current model (local folder or bucket)
- ``segments`` show a model's segments
- ``status``   versions, the current one and recent failures of the datasets
- ``login``    sign in to a deployed API (browser + PKCE, or client credentials for CI)
- ``logout``   forget the stored tokens of an API

Endpoint, buckets and token come from flags or the environment: ``SEGMENTS_API_URL``,
``SEGMENTS_API_TOKEN``, ``RAW_BUCKET``, ``MODELS_BUCKET``, ``AWS_ENDPOINT_URL``; without a
token, the one ``segments login`` stored for that API URL is used (``SEGMENTS_CREDENTIALS``).

Exit codes: 0 ok; 1 usage or input error; 2 training failed (failure report); 3 service
unreachable or server error; 4 timed out waiting for training; 5 not found or no model yet;
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from cli.customers import check_columns, parse_customers, read_customers_file
from cli.errors import CliError, ExitCode

__all__ = ["build_parser", "main", "parse_customers"]

logger = logging.getLogger(__name__)

EPILOG = """\
environment:
  SEGMENTS_API_URL    API base URL (default http://127.0.0.1:8000)
  SEGMENTS_API_TOKEN  bearer token sent to the API (else the one `segments login` stored)
  SEGMENTS_CREDENTIALS  token file of `segments login` (default ~/.config/segments/credentials.json)
  SEGMENTS_CLIENT_SECRET  machine client secret for `segments login --client-id` (CI)
  RAW_BUCKET          raw-upload bucket (upload)
  MODELS_BUCKET       models bucket (upload, status)
  AWS_ENDPOINT_URL    S3 endpoint (moto server locally; unset for AWS)

exit codes:
  0 ok   1 usage/input error   2 training failed   3 service unreachable
  4 timed out waiting for training   5 not found / no model yet   130 interrupted
"""

ALGORITHM_CHOICES = ("kmeans", "agglomerative", "dbscan", "gmm", "autoencoder")
DEFAULT_TABLE_ROWS = 100


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors; ours is 1 (2 means 'training failed')."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.INPUT), f"{self.prog}: error: {message}\n")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (exposed for tests and docs).

    Examples
    --------
    >>> build_parser().parse_args(["status"]).command
    'status'
    """
    parser = _Parser(
        prog="segments",
        description="Customer segmentation: upload a customer table, get named segments.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def api_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--api-url",
            default=_env("SEGMENTS_API_URL", "http://127.0.0.1:8000"),
            help="API base URL (env SEGMENTS_API_URL)",
        )
        p.add_argument(
            "--token",
            default=_env("SEGMENTS_API_TOKEN"),
            help="bearer token (env SEGMENTS_API_TOKEN)",
        )
        p.add_argument(
            "--models-dir",
            type=Path,
            help="use a local model folder (from `segments train --out`) instead of the API",
        )

    def bucket_flags(p: argparse.ArgumentParser, *, raw: bool) -> None:
        if raw:
            p.add_argument(
                "--raw-bucket", default=_env("RAW_BUCKET"), help="raw bucket (env RAW_BUCKET)"
            )
        p.add_argument(
            "--models-bucket",
            default=_env("MODELS_BUCKET"),
            help="models bucket (env MODELS_BUCKET)",
        )
        p.add_argument(
            "--endpoint-url",
            default=_env("AWS_ENDPOINT_URL"),
            help="S3 endpoint, e.g. the local stack's moto server (env AWS_ENDPOINT_URL)",
        )

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-o",
            "--output",
            choices=("table", "json"),
            default="table",
            help="table for people (default), json for scripts",
        )

    demo = sub.add_parser(
        "demo",
        help="local stack + Mall data: train, print segments, serve API and dashboard",
        description="Start moto (S3+SQS), the queue dispatcher and the API on 127.0.0.1, "
        "upload the Mall data, wait for training, print the segments and the algorithm "
        "comparison, then serve until Ctrl-C.",
    )
    demo.add_argument("--port", type=int, default=8000, help="API port (busy: a free one)")
    demo.add_argument(
        "--exit-after-training",
        action="store_true",
        help="stop after printing the results instead of serving (scripts, tests)",
    )
    demo.add_argument("--dataset", default="mall", help="dataset name (default mall)")
    demo.add_argument("--data", type=Path, help="customer file (default data/mall_customers.csv)")
    demo.add_argument("--config", type=Path, help="dataset config (default data/mall_config.json)")
    demo.add_argument("--timeout", type=float, default=600, help="seconds to wait for training")

    stack = sub.add_parser("stack", help="start the local stack and serve it until Ctrl-C")
    stack.add_argument("--port", type=int, default=8000, help="API port (busy: a free one)")
    for p in (demo, stack):
        p.add_argument(
            "--api-tokens",
            default=_env("API_TOKENS", ""),
            help="read tokens the local API enforces, comma-separated (env API_TOKENS; "
            "default none: the local API is open)",
        )
        p.add_argument(
            "--admin-tokens",
            default=_env("ADMIN_TOKENS", ""),
            help="admin tokens the local API enforces (env ADMIN_TOKENS)",
        )

    login = sub.add_parser(
        "login",
        help="sign in to a deployed API and store its tokens (0600)",
        description="People: opens the sign-in page in a browser (authorization code + PKCE, "
        "redirect to http://localhost:8976/callback). CI: --client-id with "
        "SEGMENTS_CLIENT_SECRET (client credentials).",
    )
    login.add_argument(
        "--api-url",
        default=_env("SEGMENTS_API_URL", "http://127.0.0.1:8000"),
        help="API base URL (env SEGMENTS_API_URL)",
    )
    login.add_argument("--client-id", help="a machine client's id (client credentials, CI)")
    login.add_argument(
        "--scope", default="segments/read", help="scope of a machine token (default segments/read)"
    )
    login.add_argument(
        "--no-browser", action="store_true", help="print the sign-in URL instead of opening it"
    )
    logout = sub.add_parser("logout", help="forget the stored tokens of an API")
    logout.add_argument(
        "--api-url",
        default=_env("SEGMENTS_API_URL", "http://127.0.0.1:8000"),
        help="API base URL (env SEGMENTS_API_URL)",
    )

    upload = sub.add_parser(
        "upload", help="upload a customer file and wait for its model (progress bar)"
    )
    upload.add_argument("file", type=Path, help=".csv, .csv.gz or .parquet")
    upload.add_argument("--dataset", required=True, help="dataset name ([a-z0-9][a-z0-9-_]*)")
    upload.add_argument("--config", type=Path, help="dataset config JSON to upload first")
    upload.add_argument("--timeout", type=float, default=900, help="seconds to wait (default 900)")
    upload.add_argument("--no-wait", action="store_true", help="return once uploaded")
    bucket_flags(upload, raw=True)
    upload.add_argument(
        "--api-url",
        default=_env("SEGMENTS_API_URL"),
        help="if set, print the new segments from this API once trained",
    )
    upload.add_argument("--token", default=_env("SEGMENTS_API_TOKEN"), help="bearer token")
    json_flag(upload)

    train = sub.add_parser(
        "train", help="train on a local file, no AWS; write a version folder and report"
    )
    train.add_argument("file", type=Path, help="customer file (.csv, .csv.gz, .parquet)")
    train.add_argument("--config", type=Path, help="dataset config JSON")
    train.add_argument("--out", type=Path, required=True, help="model folder to publish into")
    train.add_argument("--dataset", help="dataset name (default: from the file name)")
    train.add_argument(
        "--take-over",
        action="store_true",
        help="take over the claim a killed run of the same file left in --out",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for a large file's streaming run (same result for any number)",
    )
    json_flag(train)

    assign = sub.add_parser("assign", help="assign customers to segments")
    assign.add_argument("--dataset", required=True)
    source = assign.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--file",
        type=Path,
        help="customers as any file training reads (.csv/.tsv/.txt, any separator, .csv.gz, "
        ".parquet) or .json",
    )
    source.add_argument("--json", dest="json_text", help="customers as JSON (object or list)")
    source.add_argument(
        "--transactions",
        type=Path,
        help="order lines (any file training reads) of a dataset trained on order lines: "
        "aggregated per customer with the training rules, then assigned",
    )
    assign.add_argument(
        "--as-of",
        help="with --transactions: the day (YYYY-MM-DD) recency is counted to (default: today)",
    )
    assign.add_argument("--algorithm", choices=ALGORITHM_CHOICES, help="default: the champion")
    assign.add_argument("--k", type=int, help="any k of the sweep (default: the chosen one)")
    assign.add_argument("--batch-size", type=int, default=1000, help="customers per request")
    assign.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_TABLE_ROWS,
        help=f"assignments shown in the table (default {DEFAULT_TABLE_ROWS}; 0: all); "
        "-o json always prints every one",
    )
    api_flags(assign)
    json_flag(assign)

    score = sub.add_parser(
        "score", help="score a whole customer file against a dataset's current model"
    )
    score.add_argument("file", type=Path, help="customer file (.csv, .csv.gz, .parquet)")
    score.add_argument("--dataset", required=True)
    score.add_argument("--out", type=Path, required=True, help="scores file: .csv.gz or .parquet")
    score.add_argument("--algorithm", choices=ALGORITHM_CHOICES, help="default: the champion")
    score.add_argument(
        "--models-dir", type=Path, help="a local model folder instead of the models bucket"
    )
    bucket_flags(score, raw=False)
    json_flag(score)

    segments = sub.add_parser("segments", help="show a model's segments")
    segments.add_argument("--dataset", required=True)
    segments.add_argument("--algorithm", choices=ALGORITHM_CHOICES, help="default: the champion")
    segments.add_argument("--k", type=int, help="any k of the sweep")
    api_flags(segments)
    json_flag(segments)

    status = sub.add_parser("status", help="versions, current version and failures")
    status.add_argument("--dataset", help="one dataset (default: all)")
    status.add_argument(
        "--models-dir", type=Path, help="a local model folder instead of the models bucket"
    )
    bucket_flags(status, raw=False)
    json_flag(status)
    return parser


# --- customers ------------------------------------------------------------------------------


def _load_customers(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    """The customers to assign and where they come from (for messages)."""
    if args.json_text is not None:
        return parse_customers(args.json_text, fmt="json"), "--json"
    path: Path = args.file
    return read_customers_file(path), str(path)


# --- commands -------------------------------------------------------------------------------


def credentials_path() -> Path:
    """Where ``segments login`` keeps tokens (``SEGMENTS_CREDENTIALS`` overrides)."""
    explicit = _env("SEGMENTS_CREDENTIALS")
    if explicit:
        return Path(explicit)
    config_home = _env("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "segments" / "credentials.json"


def _api(args: argparse.Namespace) -> Any:
    from cli.api_client import local_api, remote_api

    if getattr(args, "models_dir", None) is not None:
        return local_api(args.models_dir, token=args.token)
    token = args.token
    if not token:
        from cli.login import TokenStore

        token = TokenStore(credentials_path()).access_token(args.api_url)
    return remote_api(args.api_url, token=token)


def cmd_login(args: argparse.Namespace) -> int:
    from cli.console import console
    from cli.login import TokenStore, client_credentials, fetch_sign_in_config, login_in_browser

    config = fetch_sign_in_config(args.api_url)
    if args.client_id:
        secret = _env("SEGMENTS_CLIENT_SECRET")
        if not secret:
            raise CliError("--client-id needs the client's secret in SEGMENTS_CLIENT_SECRET")
        tokens = client_credentials(config.token_url, args.client_id, secret, scope=args.scope)
    else:
        tokens = login_in_browser(config, open_url=print if args.no_browser else None)
    store = TokenStore(credentials_path())
    store.put(args.api_url, tokens)
    console.print(f"signed in to {args.api_url}; tokens stored in {store.path} (mode 0600)")
    return ExitCode.OK


def cmd_logout(args: argparse.Namespace) -> int:
    from cli.console import console
    from cli.login import TokenStore

    removed = TokenStore(credentials_path()).remove(args.api_url)
    console.print(f"signed out of {args.api_url}" if removed else f"no tokens for {args.api_url}")
    return ExitCode.OK


def cmd_assign(args: argparse.Namespace) -> int:
    """Assign every customer; the JSON ``count`` is the number of customers assigned."""
    from rich.markup import escape

    from cli.console import console, error_console, print_json
    from cli.render import assignments_table, segment_counts

    if args.transactions is not None:
        return _assign_transactions(args)
    if args.as_of is not None:
        raise CliError("--as-of applies to --transactions only", ExitCode.INPUT)
    customers, source = _load_customers(args)
    if args.batch_size < 1:
        raise CliError("--batch-size must be >= 1", ExitCode.INPUT)
    if args.rows < 0:
        raise CliError("--rows must be >= 0", ExitCode.INPUT)
    with _api(args) as api:
        expected = api.dataset(args.dataset).get("input_columns") or []
        missing = check_columns(customers, expected, source=source)
        if missing:
            error_console.print(
                f"[yellow]warning:[/yellow] {escape(source)} lacks {len(missing)} of the model's "
                f"{len(expected)} columns ({escape(', '.join(missing))}); they are imputed as in "
                "training"
            )
        body = api.assign(
            args.dataset, customers, algorithm=args.algorithm, k=args.k, batch_size=args.batch_size
        )
    if args.output == "json":
        print_json(body)
        return ExitCode.OK
    assignments = body.get("assignments", [])
    count = int(body.get("count", len(assignments)))
    shown = count if args.rows == 0 else min(args.rows, count)
    id_column = next(
        (c for c in customers[0] if c.lower() in {"customerid", "customer_id", "id", "cust_id"}),
        None,
    )
    console.print(assignments_table(assignments[:shown], customers, id_column=id_column))
    if shown < count:
        console.print(
            f"[yellow]showing the first {shown:,} of {count:,} assignments[/yellow] "
            "(--rows 0 shows all; -o json prints every one)"
        )
    console.print(segment_counts(assignments))
    console.print(
        f"[dim]{count:,} customer{'s' if count != 1 else ''} assigned; {args.dataset} version "
        f"{body.get('model_version')}, {body.get('algorithm')} k={body.get('k')}[/dim]"
    )
    return ExitCode.OK


def _assign_transactions(args: argparse.Namespace) -> int:
    """``assign --transactions FILE``: one answer per customer of the order lines."""
    from cli.console import console, print_json
    from cli.render import segment_counts, transaction_assignments_table

    lines = read_customers_file(args.transactions)
    with _api(args) as api:
        detail = api.dataset(args.dataset)
        summary = detail.get("transactions")
        if not summary:
            raise CliError(
                f"{args.dataset} was trained on a customer table, not on order lines; assign "
                "its customers with --file",
                ExitCode.INPUT,
            )
        body = api.assign_transactions(
            args.dataset,
            lines,
            customer_column=summary["spec"]["columns"]["customer"],
            as_of=args.as_of,
            algorithm=args.algorithm,
            k=args.k,
        )
    if args.output == "json":
        print_json(body)
        return ExitCode.OK
    assignments = body.get("assignments", [])
    count = len(assignments)
    shown = count if args.rows == 0 else min(args.rows, count)
    console.print(transaction_assignments_table(assignments[:shown]))
    if shown < count:
        console.print(
            f"[yellow]showing the first {shown:,} of {count:,} customers[/yellow] "
            "(--rows 0 shows all; -o json prints every one)"
        )
    console.print(segment_counts(assignments))
    dropped = body.get("dropped_lines") or {}
    left_out = "; ".join(f"{n:,} {why}" for why, n in sorted(dropped.items()))
    console.print(
        f"[dim]{len(lines):,} order lines -> {count:,} customer{'s' if count != 1 else ''} "
        f"assigned (recency to {body.get('as_of')}"
        + (f"; left out: {left_out}" if left_out else "")
        + f"); {args.dataset} version {body.get('model_version')}, {body.get('algorithm')} "
        f"k={body.get('k')}[/dim]"
    )
    return ExitCode.OK


def cmd_segments(args: argparse.Namespace) -> int:
    from cli.console import console, print_json
    from cli.render import segments_view

    with _api(args) as api:
        body = api.segments(args.dataset, algorithm=args.algorithm, k=args.k)
    if args.output == "json":
        print_json(body)
        return ExitCode.OK
    console.print(
        segments_view(
            body,
            title=f"{args.dataset}: segments ({body.get('algorithm')}"
            f"{'' if body.get('k') is None else ', k=' + str(body['k'])}, "
            f"version {body.get('model_version')})",
        )
    )
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from cli.status import run_status

    return run_status(args)


def cmd_upload(args: argparse.Namespace) -> int:
    from cli.upload_command import run_upload

    return run_upload(args)


def cmd_score(args: argparse.Namespace) -> int:
    from cli.score_command import run_score

    return run_score(args)


def cmd_train(args: argparse.Namespace) -> int:
    from cli.train_command import run_train

    return run_train(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(args)


def cmd_stack(args: argparse.Namespace) -> int:
    from cli.demo import run_stack

    return run_stack(args)


COMMANDS = {
    "assign": cmd_assign,
    "segments": cmd_segments,
    "status": cmd_status,
    "upload": cmd_upload,
    "train": cmd_train,
    "score": cmd_score,
    "demo": cmd_demo,
    "stack": cmd_stack,
    "login": cmd_login,
    "logout": cmd_logout,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) the documented exit code."""
    args = build_parser().parse_args(argv)
    # The CLI reports problems itself; library warnings only with -v.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    from cli.console import print_error

    try:
        return int(COMMANDS[args.command](args))
    except CliError as e:
        print_error(e.message)
        return int(e.code)
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except Exception as e:
        from shared.exceptions import DataValidationError, NotFoundError

        if isinstance(e, DataValidationError):
            print_error(str(e))
            return int(ExitCode.INPUT)
        if isinstance(e, NotFoundError):
            print_error(str(e))
            return int(ExitCode.NOT_FOUND)
        raise


if __name__ == "__main__":
    sys.exit(main())
