"""API function, HTTP API routes, JWT authorizer, throttling, access logs, CORS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.api import (
    ADMIN_ROUTES,
    ADMIN_SCOPE,
    API_HANDLER,
    CLI_CALLBACK_URL,
    OPEN_ROUTES,
    PREFLIGHT_HANDLER_CODE,
    PREFLIGHT_ROUTE,
    READ_ROUTES,
    READ_SCOPE,
)
from tests.infra.conftest import Synthesized

EXPECTED_OPEN = {
    "GET /health",
    "GET /auth/config",
    "GET /",
    "GET /docs",
    "GET /openapi.json",
    "GET /static/{proxy+}",
}
PROMOTE = "POST /datasets/{dataset}/versions/{version}/promote"
PREFLIGHT = "OPTIONS /{proxy+}"


def _routes(s: Synthesized) -> dict[str, dict[str, Any]]:
    routes = s.template.find_resources("AWS::ApiGatewayV2::Route")
    return {r["Properties"]["RouteKey"]: r["Properties"] for r in routes.values()}


def _function(s: Synthesized) -> dict[str, Any]:
    props: dict[str, Any] = s.resource(s.stack.api.function)["Properties"]
    return props


def test_route_tables_are_consistent() -> None:
    keys = [f"{m.value} {p}" for m, p in (*OPEN_ROUTES, *READ_ROUTES, *ADMIN_ROUTES)]
    assert len(keys) == len(set(keys))
    assert {f"{m.value} {p}" for m, p in OPEN_ROUTES} == EXPECTED_OPEN
    assert {f"{m.value} {p}" for m, p in ADMIN_ROUTES} == {PROMOTE}


def test_every_route_is_in_the_template(prod: Synthesized, dev: Synthesized) -> None:
    expected = {f"{m.value} {p}" for m, p in (*OPEN_ROUTES, *READ_ROUTES, *ADMIN_ROUTES)}
    assert set(_routes(prod)) == expected
    assert "POST /datasets/{dataset}/assign" in expected
    assert "GET /datasets" in expected
    # The preflight route exists only where CORS origins are configured.
    assert set(_routes(dev)) == expected | {PREFLIGHT}
    assert f"{PREFLIGHT_ROUTE[0].value} {PREFLIGHT_ROUTE[1]}" == PREFLIGHT


@pytest.mark.parametrize("route_key", sorted(EXPECTED_OPEN))
def test_open_routes_have_no_authorizer(prod: Synthesized, route_key: str) -> None:
    route = _routes(prod)[route_key]
    assert route["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in route


@pytest.mark.parametrize("variant", ["prod", "dev"])
def test_every_other_route_needs_a_jwt_with_a_scope(
    variant: str, request: pytest.FixtureRequest
) -> None:
    s: Synthesized = request.getfixturevalue(variant)
    authorizers = s.template.find_resources("AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1
    (authorizer_id,) = authorizers
    for key, route in _routes(s).items():
        if key in EXPECTED_OPEN or key == PREFLIGHT:
            continue
        assert route["AuthorizationType"] == "JWT", key
        assert route["AuthorizerId"] == {"Ref": authorizer_id}, key
        expected = [ADMIN_SCOPE] if key == PROMOTE else [READ_SCOPE]
        assert route["AuthorizationScopes"] == expected, key


def test_promote_needs_the_admin_scope(prod: Synthesized) -> None:
    assert _routes(prod)[PROMOTE]["AuthorizationScopes"] == ["segments/admin"]
    assert READ_SCOPE == "segments/read"


def test_authorizer_trusts_the_user_pool_and_its_clients(prod: Synthesized) -> None:
    authorizer = next(iter(prod.template.find_resources("AWS::ApiGatewayV2::Authorizer").values()))[
        "Properties"
    ]
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    pool_id = prod.logical_id(prod.stack.api.user_pool)
    assert {"Ref": pool_id} in authorizer["JwtConfiguration"]["Issuer"]["Fn::Join"][1]
    audience = authorizer["JwtConfiguration"]["Audience"]
    assert audience == [
        {"Ref": prod.logical_id(prod.stack.api.reader_client)},
        {"Ref": prod.logical_id(prod.stack.api.admin_client)},
        {"Ref": prod.logical_id(prod.stack.api.dashboard_client)},
        {"Ref": prod.logical_id(prod.stack.api.cli_client)},
    ]


def test_resource_server_scopes_and_machine_clients(prod: Synthesized) -> None:
    prod.template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {
            "Identifier": "segments",
            "Scopes": [
                {"ScopeName": "read", "ScopeDescription": "Read segments and assign customers"},
                {"ScopeName": "admin", "ScopeDescription": "Promote model versions"},
            ],
        },
    )
    reader = prod.resource(prod.stack.api.reader_client)["Properties"]
    admin = prod.resource(prod.stack.api.admin_client)["Properties"]
    for client in (reader, admin):
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
        assert client["GenerateSecret"] is True
    assert reader["AllowedOAuthScopes"] == [READ_SCOPE]
    assert sorted(admin["AllowedOAuthScopes"]) == sorted([READ_SCOPE, ADMIN_SCOPE])


def test_user_pool_is_closed(prod: Synthesized) -> None:
    props = prod.resource(prod.stack.api.user_pool)["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["MfaConfiguration"] == "ON"
    assert prod.resource(prod.stack.api.user_pool)["DeletionPolicy"] == "Retain"


def test_every_route_integrates_the_live_alias(prod: Synthesized) -> None:
    integrations = prod.template.find_resources("AWS::ApiGatewayV2::Integration")
    assert len(integrations) == 1
    (integration_id, integration) = next(iter(integrations.items()))
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert integration["Properties"]["IntegrationUri"] == {
        "Ref": prod.logical_id(prod.stack.api.alias)
    }
    target = {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}
    assert all(route["Target"] == target for route in _routes(prod).values())


def test_stage_throttles_and_writes_access_logs(prod: Synthesized) -> None:
    stage = prod.resource(prod.stack.api.stage)["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    throttle = stage["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] == 50
    assert throttle["ThrottlingBurstLimit"] == 100
    access = stage["AccessLogSettings"]
    assert access["DestinationArn"] == {
        "Fn::GetAtt": [prod.logical_id(prod.stack.api.access_logs), "Arn"]
    }
    assert "$context.requestId" in access["Format"]


def test_no_cross_origin_access_by_default(prod: Synthesized) -> None:
    """The dashboard is same-origin: without ``corsOrigins`` no other origin may call the API."""
    assert "CorsConfiguration" not in prod.resource(prod.stack.api.http_api)["Properties"]
    assert not [key for key in _routes(prod) if key.startswith("OPTIONS ")]


def test_cors_for_configured_origins_only(dev: Synthesized) -> None:
    cors = dev.resource(dev.stack.api.http_api)["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://dashboard.example.com", "http://localhost:8000"]
    assert "*" not in cors["AllowOrigins"]
    assert cors.get("AllowCredentials", False) is False
    assert set(cors["AllowMethods"]) == {"GET", "POST"}
    assert set(cors["AllowHeaders"]) == {"authorization", "content-type"}


def test_preflight_route_skips_the_authorizer(dev: Synthesized) -> None:
    """``ANY /{proxy+}`` carries the JWT authorizer; a preflight (no token) must not reach it.

    An ``OPTIONS`` route on the same path wins over ``ANY`` and has no authorizer.
    """
    routes = _routes(dev)
    preflight = routes[PREFLIGHT]
    assert preflight["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in preflight
    assert "AuthorizationScopes" not in preflight
    assert routes["ANY /{proxy+}"]["AuthorizationType"] == "JWT"
    assert "CorsConfiguration" in dev.resource(dev.stack.api.http_api)["Properties"]


def test_preflight_route_answers_204_from_its_own_function(dev: Synthesized) -> None:
    """The API function would answer OPTIONS with 405; the preflight function answers 204."""
    function = dev.stack.api.preflight_function
    assert function is not None
    function_id = dev.logical_id(function)
    integrations = dev.template.find_resources("AWS::ApiGatewayV2::Integration")
    (preflight_integration,) = [
        integration_id
        for integration_id, integration in integrations.items()
        if integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert _routes(dev)[PREFLIGHT]["Target"] == {
        "Fn::Join": ["", ["integrations/", {"Ref": preflight_integration}]]
    }
    props = dev.resource(function)["Properties"]
    assert props["Code"] == {"ZipFile": PREFLIGHT_HANDLER_CODE}
    assert props["MemorySize"] == 128
    namespace: dict[str, Any] = {}
    exec(compile(PREFLIGHT_HANDLER_CODE, "index.py", "exec"), namespace)
    assert namespace["handler"]({"requestContext": {"http": {"method": "OPTIONS"}}}, None) == {
        "statusCode": 204
    }


def test_no_preflight_function_without_cors(prod: Synthesized) -> None:
    assert prod.stack.api.preflight_function is None
    prod.template.resource_count_is("AWS::ApiGatewayV2::Integration", 1)


def test_api_function_is_an_image_with_its_own_command(prod: Synthesized) -> None:
    props = _function(prod)
    assert props["PackageType"] == "Image"
    assert props["ImageConfig"] == {"Command": [API_HANDLER]}
    assert API_HANDLER == "lambdas.api.main.handler"
    assert 2048 <= props["MemorySize"] <= 3008
    assert props["Timeout"] <= 30  # HTTP API's integration limit


def test_each_function_uses_its_image_target(prod: Synthesized, dev: Synthesized) -> None:
    assert prod.image_target(prod.stack.training.function) == "training"
    assert dev.image_target(dev.stack.training.function) == "training"
    # apiImageTarget: the lean "api" image by default (see DeploymentConfig), "training" in the
    # dev context (the whole runtime, one image for both functions).
    assert prod.image_target(prod.stack.api.function) == "api"
    assert dev.image_target(dev.stack.api.function) == "training"
    assert len(list(prod.outdir.glob("asset.*/Dockerfile"))) == 2
    assert len(list(dev.outdir.glob("asset.*/Dockerfile"))) == 1


def test_api_logs_are_json(prod: Synthesized) -> None:
    logging = _function(prod)["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == "INFO"
    assert logging["LogGroup"] == {"Ref": prod.logical_id(prod.stack.api.log_group)}


def test_api_environment(prod: Synthesized, dev: Synthesized) -> None:
    env = _function(prod)["Environment"]["Variables"]
    assert env["MODELS_BUCKET"] == {"Ref": prod.logical_id(prod.stack.storage.models_bucket)}
    assert env["RAW_BUCKET"] == {"Ref": prod.logical_id(prod.stack.storage.raw_bucket)}
    assert env["POWERTOOLS_SERVICE_NAME"] == "segments-api"
    assert env["MODEL_REFRESH_SECONDS"] == "30"
    assert "API_TOKENS" not in env
    assert "AUTH_MODE" not in env  # secure by default
    assert env["LOG_FORMAT"] == "json"
    assert env["API_DOCS"] == "false"  # Swagger UI would load from a CDN
    dev_env = _function(dev)["Environment"]["Variables"]
    assert dev_env["API_TOKENS"] == "reader-token"
    assert dev_env["ADMIN_TOKENS"] == "admin-token"


def test_provisioned_concurrency_only_behind_the_flag(prod: Synthesized, dev: Synthesized) -> None:
    assert "ProvisionedConcurrencyConfig" not in prod.resource(prod.stack.api.alias)["Properties"]
    dev_alias = dev.resource(dev.stack.api.alias)["Properties"]
    assert dev_alias["Name"] == "live"
    assert dev_alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}


def test_cognito_domain_is_unique_per_stack(prod: Synthesized, dev: Synthesized) -> None:
    def domain(s: Synthesized) -> Any:
        (props,) = [
            r["Properties"]
            for r in s.template.find_resources("AWS::Cognito::UserPoolDomain").values()
        ]
        return props["Domain"]

    assert domain(prod) == {"Fn::Join": ["", ["customersegments-", {"Ref": "AWS::AccountId"}]]}
    assert domain(dev) == {"Fn::Join": ["", ["customersegmentsdev-", {"Ref": "AWS::AccountId"}]]}


def _dashboard_url(s: Synthesized) -> dict[str, Any]:
    """The API's root URL as the template builds it (its endpoint and a slash)."""
    endpoint = {"Fn::GetAtt": [s.logical_id(s.stack.api.http_api), "ApiEndpoint"]}
    return {"Fn::Join": ["", [endpoint, "/"]]}


@pytest.mark.parametrize("client", ["dashboard_client", "cli_client"])
def test_people_sign_in_with_public_pkce_clients(prod: Synthesized, client: str) -> None:
    """Authorization code flow, no secret (PKCE), the managed login pages, read scope only."""
    props = prod.resource(getattr(prod.stack.api, client))["Properties"]
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(props["AllowedOAuthScopes"]) == sorted(["openid", "email", READ_SCOPE])
    assert ADMIN_SCOPE not in props["AllowedOAuthScopes"]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    assert props["EnableTokenRevocation"] is True
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    # No password flows through Cognito's API (an absent list would allow SRP and custom auth):
    # people sign in on the managed login pages only; refresh tokens still work.
    assert props["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert props["AccessTokenValidity"] == 60


def test_sign_in_callbacks(prod: Synthesized, dev: Synthesized) -> None:
    dashboard = prod.resource(prod.stack.api.dashboard_client)["Properties"]
    assert dashboard["CallbackURLs"] == [_dashboard_url(prod)]
    assert dashboard["LogoutURLs"] == [_dashboard_url(prod)]
    cli = prod.resource(prod.stack.api.cli_client)["Properties"]
    assert cli["CallbackURLs"] == [CLI_CALLBACK_URL] == ["http://localhost:8976/callback"]
    extra = dev.resource(dev.stack.api.dashboard_client)["Properties"]["CallbackURLs"]
    assert extra == [_dashboard_url(dev), "https://segments.example.com/"]


def test_the_api_tells_clients_how_to_sign_in(prod: Synthesized) -> None:
    env = _function(prod)["Environment"]["Variables"]
    api = prod.stack.api
    assert env["OAUTH_CLIENT_ID"] == {"Ref": prod.logical_id(api.dashboard_client)}
    assert env["OAUTH_CLI_CLIENT_ID"] == {"Ref": prod.logical_id(api.cli_client)}
    assert env["OAUTH_SCOPES"] == "openid email segments/read"
    domain = json.dumps(env["OAUTH_DOMAIN_URL"])
    assert prod.logical_id(api.domain) in domain
    assert "amazoncognito.com" in domain
    outputs = prod.raw["Outputs"]
    assert outputs["DashboardUrl"]["Value"] == _dashboard_url(prod)
    assert outputs["DashboardClientId"]["Value"] == {"Ref": prod.logical_id(api.dashboard_client)}
    assert outputs["CliClientId"]["Value"] == {"Ref": prod.logical_id(api.cli_client)}
