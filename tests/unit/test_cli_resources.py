"""The local resources are the CDK stack's: pin :mod:`cli.resources` against ``infra/``.

``infra/`` is read with :mod:`ast` (importing aws_cdk costs seconds); the synthesized template
itself is checked by ``tests/infra``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cli.resources import (
    MAX_RECEIVE_COUNT,
    SCORE_PREFIX,
    UPLOAD_PREFIX,
    UPLOAD_SUFFIXES,
    notification_configuration,
)
from shared.contract.layout import RawLayout

ROOT = Path(__file__).resolve().parents[2]


def _module(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text())


def _constant(module: ast.Module, name: str) -> object:
    for node in module.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name in targets and node.value is not None:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found")


def _default(module: ast.Module, class_name: str, argument: str) -> object:
    for node in ast.walk(module):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            init = next(
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
            )
            args = init.args
            for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                if arg.arg == argument and default is not None:
                    return ast.literal_eval(default)
    raise AssertionError(f"{class_name}.__init__ has no default for {argument}")


def test_notification_filter_matches_the_stack() -> None:
    stack = _module("infra/stack.py")
    assert _constant(stack, "UPLOAD_PREFIX") == UPLOAD_PREFIX == RawLayout.UPLOADS
    assert _constant(stack, "UPLOAD_SUFFIXES") == UPLOAD_SUFFIXES == RawLayout.SUFFIXES
    assert _constant(stack, "SCORE_PREFIX") == SCORE_PREFIX == RawLayout.SCORES


def test_dead_letter_after_the_stacks_receive_count() -> None:
    training = _module("infra/constructs/training.py")
    assert _default(training, "Training", "max_receive_count") == MAX_RECEIVE_COUNT


def test_one_rule_per_suffix_under_uploads_and_score() -> None:
    rules = notification_configuration("arn:aws:sqs:us-east-1:123456789012:q")[
        "QueueConfigurations"
    ]
    assert len(rules) == 2 * len(UPLOAD_SUFFIXES)
    assert len({r["Id"] for r in rules}) == len(rules)
    expected = [(p, s) for p in ("uploads/", "score/") for s in UPLOAD_SUFFIXES]
    for rule, (prefix, suffix) in zip(rules, expected, strict=True):
        assert rule["QueueArn"].endswith(":q")
        assert rule["Events"] == ["s3:ObjectCreated:*"]
        assert rule["Filter"]["Key"]["FilterRules"] == [
            {"Name": "prefix", "Value": prefix},
            {"Name": "suffix", "Value": suffix},
        ]
