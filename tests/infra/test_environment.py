"""The environment wired into both functions matches the settings contract."""

from __future__ import annotations

import pytest

from infra.config import DeploymentConfig
from infra.stack import function_environment
from shared.settings import ENV, Settings

#: Variables read by libraries rather than shared/settings.py.
LIBRARY_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "JOBLIB_MULTIPROCESSING"}
CONTRACT = {v for k, v in vars(ENV).items() if k.isupper()}


def test_names_are_settings_or_library_variables() -> None:
    envs = function_environment(
        DeploymentConfig(api_tokens="a", admin_tokens="b"), raw_bucket="r", models_bucket="m"
    )
    for function, env in envs.items():
        unknown = set(env) - CONTRACT - LIBRARY_VARIABLES
        assert not unknown, f"{function} has variables no one reads: {unknown}"


@pytest.mark.parametrize("function", ["training", "api"])
def test_values_parse_with_the_settings_model(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = function_environment(DeploymentConfig(), raw_bucket="raw-b", models_bucket="models-b")
    for name, value in env[function].items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.raw_bucket == "raw-b"
    assert settings.models_bucket == "models-b"
    assert settings.keep_versions == 10


def test_tokens_only_when_configured() -> None:
    env = function_environment(DeploymentConfig(), raw_bucket="r", models_bucket="m")
    assert ENV.API_TOKENS not in env["api"]
    with_tokens = function_environment(
        DeploymentConfig(api_tokens="t1,t2", admin_tokens="adm"), raw_bucket="r", models_bucket="m"
    )
    assert with_tokens["api"][ENV.API_TOKENS] == "t1,t2"
    assert with_tokens["api"][ENV.ADMIN_TOKENS] == "adm"
    assert ENV.API_TOKENS not in with_tokens["training"]


@pytest.mark.parametrize(
    "config", [DeploymentConfig(), DeploymentConfig(api_tokens="t", admin_tokens="a")]
)
def test_deployed_api_is_secure_by_default(
    config: DeploymentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AUTH_MODE in the deployed environment: the app enforces gateway scopes or tokens."""
    env = function_environment(config, raw_bucket="r", models_bucket="m")["api"]
    assert ENV.AUTH_MODE not in env
    monkeypatch.delenv(ENV.AUTH_MODE, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().auth_enabled
