"""Context parsing of the deployment options."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.config import CONTEXT_KEYS, DeploymentConfig


def test_defaults_are_production_safe() -> None:
    config = DeploymentConfig.from_node(App().node)
    assert config == DeploymentConfig()
    assert config.allow_destroy is False
    assert config.api_provisioned_concurrency == 0
    assert config.api_tokens == ""
    assert config.cors_origins == ()
    assert config.queue_visibility_timeout_minutes == 90


def test_defaults_fit_a_fresh_account() -> None:
    """New accounts: 3,008 MB per function, 10 concurrent executions, none reservable."""
    config = DeploymentConfig()
    assert config.training_memory_mb == 3008
    assert config.training_reserved_concurrency == 0
    assert config.api_memory_mb <= 3008
    assert config.api_provisioned_concurrency == 0
    assert config.training_max_concurrency <= 10


def test_sizes_are_raised_by_context() -> None:
    config = DeploymentConfig.from_node(
        App(context={"trainingMemoryMb": "10240", "trainingReservedConcurrency": "2"}).node
    )
    assert config.training_memory_mb == 10240
    assert config.training_reserved_concurrency == 2


def test_strings_from_the_command_line_are_typed() -> None:
    app = App(
        context={
            "allowDestroy": "true",
            "apiProvisionedConcurrency": "3",
            "corsOrigins": "https://a.example, https://b.example",
        }
    )
    config = DeploymentConfig.from_node(app.node)
    assert config.allow_destroy is True
    assert config.api_provisioned_concurrency == 3
    assert config.cors_origins == ("https://a.example", "https://b.example")


def test_json_values_from_cdk_json_are_accepted() -> None:
    config = DeploymentConfig.from_node(
        App(context={"allowDestroy": False, "corsOrigins": ["https://a.example"]}).node
    )
    assert config.allow_destroy is False
    assert config.cors_origins == ("https://a.example",)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("allowDestroy", "maybe", "not a boolean"),
        ("trainingMemoryMb", "20000", "trainingMemoryMb=20000"),
        ("trainingMaxConcurrency", "1", "trainingMaxConcurrency=1"),
        ("apiProvisionedConcurrency", "-1", "apiProvisionedConcurrency=-1"),
        ("trainingReservedConcurrency", "-1", "trainingReservedConcurrency=-1"),
        ("apiImageTarget", "full", "apiImageTarget='full'"),
        ("corsOrigins", "dashboard.example.com", "not an origin"),
        ("corsOrigins", "https://dashboard.example.com/app", "not an origin"),
        ("corsOrigins", "http://dashboard.example.com", "plain http is allowed for localhost"),
        ("corsOrigins", "*,https://dashboard.example.com", "must stand alone"),
        ("dashboardUrls", "https://segments.example.com", "not a URL like"),
        ("dashboardUrls", "http://segments.example.com/", "plain http is allowed for localhost"),
        ("apiDocs", "sometimes", "not a boolean"),
    ],
)
def test_bad_values_are_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeploymentConfig.from_node(App(context={key: value}).node)


def test_every_context_key_maps_to_a_field() -> None:
    fields = set(DeploymentConfig.__dataclass_fields__)
    assert set(CONTEXT_KEYS.values()) <= fields


def test_deploy_guide_documents_every_option_and_the_fresh_account_defaults() -> None:
    from infra.stack import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    for key in CONTEXT_KEYS:
        assert f"`{key}`" in guide, key
    first_steps = guide[: guide.index("## 1. Prerequisites")]
    defaults = DeploymentConfig()
    assert f"`trainingMemoryMb`, default `{defaults.training_memory_mb}`" in first_steps
    assert "`trainingReservedConcurrency`, default `0`" in first_steps
    assert defaults.training_reserved_concurrency == 0
    assert "get-account-settings" in first_steps


def test_secure_defaults_for_people() -> None:
    """No API docs from a CDN and the lean image unless asked; extra dashboard URLs parse."""
    defaults = DeploymentConfig()
    assert defaults.api_docs is False
    assert defaults.api_image_target == "api"
    config = DeploymentConfig.from_node(
        App(context={"dashboardUrls": "https://a.example/,http://localhost:8000/"}).node
    )
    assert config.dashboard_urls == ("https://a.example/", "http://localhost:8000/")
