"""API: the API function behind an HTTP API, guarded by a Cognito JWT authorizer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.function import image_function
from infra.nag import acknowledge

__all__ = [
    "ADMIN_ROUTES",
    "ADMIN_SCOPE",
    "API_HANDLER",
    "CLI_CALLBACK_URL",
    "OPEN_ROUTES",
    "PREFLIGHT_HANDLER_CODE",
    "PREFLIGHT_ROUTE",
    "READ_ROUTES",
    "READ_SCOPE",
    "SIGN_IN_SCOPES",
    "SegmentsApi",
]

#: Image command of the API function (contract: lambdas/api/main.py:handler).
API_HANDLER = "lambdas.api.main.handler"
RESOURCE_SERVER = "segments"
READ_SCOPE = f"{RESOURCE_SERVER}/read"
ADMIN_SCOPE = f"{RESOURCE_SERVER}/admin"

#: Where ``segments login`` listens for the authorization code (loopback redirect, RFC 8252);
#: Cognito matches callback URLs exactly, so the port is fixed (cli/login.py uses the same).
CLI_CALLBACK_URL = "http://localhost:8976/callback"
#: Scopes people get when they sign in (dashboard, CLI): read and assign, not promote.
SIGN_IN_SCOPES = ("openid", "email", READ_SCOPE)

GET, POST, ANY = apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST, apigwv2.HttpMethod.ANY
#: Only with CORS origins configured: CORS preflight requests carry no ``Authorization`` header,
#: and without this route ``ANY /{proxy+}`` (JWT) would match them and answer 401. A route with
#: an explicit method wins over ``ANY`` for the same path (see SegmentsApi).
PREFLIGHT_ROUTE: tuple[apigwv2.HttpMethod, str] = (apigwv2.HttpMethod.OPTIONS, "/{proxy+}")
#: The preflight route's integration: an empty 204. API Gateway replaces any CORS headers of an
#: integration's response with those of the API's CORS configuration, so the answer only needs
#: a 2xx status; the FastAPI app would answer OPTIONS with 405.
PREFLIGHT_HANDLER_CODE = """\
def handler(event, context):
    return {"statusCode": 204}
"""
#: Routes without an authorizer: health check, sign-in configuration, dashboard page, its
#: static files, API docs.
OPEN_ROUTES: tuple[tuple[apigwv2.HttpMethod, str], ...] = (
    (GET, "/health"),
    (GET, "/auth/config"),
    (GET, "/"),
    (GET, "/docs"),
    (GET, "/openapi.json"),
    (GET, "/static/{proxy+}"),
)
#: Routes that need a token with the read scope. ``ANY /{proxy+}`` catches routes added
#: to the app later, so a new route is never open by accident.
READ_ROUTES: tuple[tuple[apigwv2.HttpMethod, str], ...] = (
    (GET, "/datasets"),
    (GET, "/datasets/{proxy+}"),
    (POST, "/datasets/{dataset}/assign"),
    (ANY, "/{proxy+}"),
)
#: Routes that need the admin scope.
ADMIN_ROUTES: tuple[tuple[apigwv2.HttpMethod, str], ...] = (
    (POST, "/datasets/{dataset}/versions/{version}/promote"),
)

#: One JSON line per request (HTTP API $context variables), easy to query in Logs Insights.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "method": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "clientId": "$context.authorizer.claims.client_id",
    }
)


def _default_domain_prefix(stack: Stack) -> str:
    name = "".join(c if c.isalnum() else "-" for c in stack.stack_name.lower()).strip("-")
    return f"{name[:30]}-{stack.account}"


def _cors(origins: Sequence[str]) -> apigwv2.CorsPreflightOptions | None:
    """The HTTP API's CORS configuration for ``origins`` (``None`` when there are none)."""
    if not origins:
        return None
    return apigwv2.CorsPreflightOptions(
        allow_origins=list(origins),
        allow_methods=[apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
        allow_headers=["authorization", "content-type"],
        allow_credentials=False,
        max_age=Duration.hours(1),
    )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """``IAccessLogSettings`` is a jsii interface, not a struct: Python must implement it."""

    def __init__(self, destination: apigwv2.IAccessLogDestination) -> None:
        self._destination = destination

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class SegmentsApi(Construct):
    """API function (container image) + HTTP API + Cognito user pool for people and machines.

    Authorization is a JWT authorizer backed by a Cognito user pool; clients send an access
    token as ``Authorization: Bearer <token>``. Four app clients exist:

    - ``DashboardClient`` and ``CliClient``: public clients (no secret) for people, with the
      authorization code grant and PKCE through the pool's managed login pages (hosted UI) and
      the scopes :data:`SIGN_IN_SCOPES`. The dashboard's callback and sign-out URL is the API's
      own root (plus ``dashboard_urls``), the CLI's :data:`CLI_CALLBACK_URL`. The function gets
      their ids and the domain (``OAUTH_*``) and tells clients at ``GET /auth/config``.
    - ``ReaderClient`` (``segments/read``) and ``AdminClient`` (``segments/read`` and
      ``segments/admin``): machine clients with secrets and the client-credentials grant (CI,
      services).

    Every route except :data:`OPEN_ROUTES` needs a token; promote needs the admin scope.

    CORS: the dashboard is served by the API itself (same origin), so by default no other
    origin is allowed and the API has no CORS configuration. With ``cors_origins`` set, the
    HTTP API gets a CORS configuration for exactly those origins (GET/POST, the
    ``authorization`` and ``content-type`` headers, credentials never allowed: the token
    travels in a header, not a cookie), and :data:`PREFLIGHT_ROUTE` is added without an
    authorizer, integrated with a tiny function that answers 204
    (:data:`PREFLIGHT_HANDLER_CODE`); API Gateway puts the configured CORS headers on that
    answer. The route keeps preflights away from the JWT authorizer of ``ANY /{proxy+}``
    ("Configuring CORS for an HTTP API with a $default route and an authorizer" in the API
    Gateway developer guide).

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    image
        The image asset of the API function (Dockerfile target ``api`` or ``training``).
    environment
        Environment variables of the function (the stack builds them from one dict).
    memory_mb, timeout_seconds
        Function sizing; more memory also buys CPU, hence lower latency.
    provisioned_concurrency
        Warm instances on the ``live`` alias (0: none, the default).
    cors_origins
        Origins allowed to call the API from a browser page of another origin (the
        dashboard is same-origin); empty (default): none, no CORS configuration.
    throttle_rate_limit, throttle_burst_limit
        Stage-wide throttling (requests per second, burst).
    log_level
        Application log level of the function's JSON logs.
    cognito_domain_prefix
        Prefix of the Cognito hosted domain (globally unique in the region); default
        ``<stack name, lower case>-<account id>``, so a dev stack beside prod does not clash.
    dashboard_urls
        More URLs the dashboard is served at (a custom domain), allowed as sign-in callback
        and sign-out URLs beside the API's own root.
    allow_destroy
        Delete the user pool and log groups with the stack (dev stacks).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecr_assets.DockerImageAsset,
        environment: Mapping[str, str],
        memory_mb: int = 2048,
        timeout_seconds: int = 29,
        provisioned_concurrency: int = 0,
        cors_origins: Sequence[str] = (),
        throttle_rate_limit: int = 50,
        throttle_burst_limit: int = 100,
        cognito_domain_prefix: str = "",
        log_level: str = "INFO",
        dashboard_urls: Sequence[str] = (),
        allow_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.DESTROY if allow_destroy else RemovalPolicy.RETAIN

        # --- function -------------------------------------------------------------------
        self.log_group, self.role, self.function = image_function(
            self,
            image=image,
            handler=API_HANDLER,
            description="Segments HTTP API (lambdas/api/main.py, FastAPI + Mangum).",
            role_description="API function: reads model versions, writes current.json on promote.",
            memory_mb=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            environment=environment,
            removal=removal,
            log_level=log_level,
        )
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name="live",
            version=self.function.current_version,
            provisioned_concurrent_executions=provisioned_concurrency or None,
        )

        # --- identity -------------------------------------------------------------------
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection, compromised-credential checks) is billed "
            "per monthly active user; here only admins create users, MFA (TOTP) is required and "
            "self sign-up is off. Turn it on in the console when the pool serves many people.",
        )
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER,
            scopes=[
                cognito.ResourceServerScope(
                    scope_name="read", scope_description="Read segments and assign customers"
                ),
                cognito.ResourceServerScope(
                    scope_name="admin", scope_description="Promote model versions"
                ),
            ],
        )
        read = cognito.OAuthScope.custom(READ_SCOPE)
        admin = cognito.OAuthScope.custom(ADMIN_SCOPE)
        self.reader_client = self._machine_client("ReaderClient", [read])
        self.admin_client = self._machine_client("AdminClient", [read, admin])
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=cognito_domain_prefix or _default_domain_prefix(Stack.of(self))
            ),
        )

        # --- HTTP API -------------------------------------------------------------------
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Customer segments API",
            create_default_stage=False,
            cors_preflight=_cors(cors_origins),
        )
        # People sign in with these (the callback of the dashboard is the API's root).
        self.dashboard_url = f"{self.http_api.api_endpoint}/"
        self.dashboard_client = self._sign_in_client(
            "DashboardClient", [self.dashboard_url, *dashboard_urls], refresh=Duration.hours(12)
        )
        self.cli_client = self._sign_in_client(
            "CliClient", [CLI_CALLBACK_URL], refresh=Duration.days(7)
        )
        authorizer = authorizers.HttpUserPoolAuthorizer(
            "JwtAuthorizer",
            self.user_pool,
            user_pool_clients=[
                self.reader_client,
                self.admin_client,
                self.dashboard_client,
                self.cli_client,
            ],
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=removal
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs)
            ),
        )
        integration = integrations.HttpLambdaIntegration("Lambda", self.alias)
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for method, path in OPEN_ROUTES:
            route = self._add_route(method, path, integration)
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                f"{method.value} {path} is public on purpose (health check, sign-in "
                "configuration, dashboard shell, static files or API docs); it returns no "
                "customer data.",
            )
        for method, path in READ_ROUTES:
            self._add_route(method, path, integration, authorizer, [READ_SCOPE])
        for method, path in ADMIN_ROUTES:
            self._add_route(method, path, integration, authorizer, [ADMIN_SCOPE])
        self.preflight_function: lambda_.Function | None = None
        if cors_origins:
            self.preflight_function = self._preflight_function(removal)
            method, path = PREFLIGHT_ROUTE
            route = self._add_route(
                method,
                path,
                integrations.HttpLambdaIntegration("Preflight", self.preflight_function),
            )
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "CORS preflight: browsers send OPTIONS without credentials; the answer is an "
                "empty 204 with the configured origins' CORS headers, no data.",
            )

    @property
    def url(self) -> str:
        """Base URL of the API's default stage."""
        return self.http_api.api_endpoint

    @property
    def token_url(self) -> str:
        """OAuth2 token endpoint of the Cognito domain."""
        return f"{self.domain.base_url()}/oauth2/token"

    def _preflight_function(self, removal: RemovalPolicy) -> lambda_.Function:
        """The preflight route's function: 128 MB, 3 s, its own log group and role."""
        scope = Construct(self, "Preflight")
        log_group = logs.LogGroup(
            scope, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CORS preflight function: writes its own logs only.",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            scope,
            "Function",
            description="Answers CORS preflight requests with 204 (headers from the HTTP API).",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_inline(PREFLIGHT_HANDLER_CODE),
            memory_size=128,
            timeout=Duration.seconds(3),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )

    @property
    def sign_in_environment(self) -> dict[str, str]:
        """The function's ``OAUTH_*`` variables (``GET /auth/config`` answers them)."""
        return {
            "OAUTH_DOMAIN_URL": self.domain.base_url(),
            "OAUTH_CLIENT_ID": self.dashboard_client.user_pool_client_id,
            "OAUTH_CLI_CLIENT_ID": self.cli_client.user_pool_client_id,
            "OAUTH_SCOPES": " ".join(SIGN_IN_SCOPES),
        }

    def _sign_in_client(
        self, construct_id: str, callback_urls: list[str], *, refresh: Duration
    ) -> cognito.UserPoolClient:
        """A public client (no secret) for people: authorization code + PKCE, managed login."""
        scopes = [
            cognito.OAuthScope.OPENID,
            cognito.OAuthScope.EMAIL,
            cognito.OAuthScope.custom(READ_SCOPE),
        ]
        client = self.user_pool.add_client(
            construct_id,
            generate_secret=False,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=scopes,
                callback_urls=callback_urls,
                logout_urls=callback_urls,
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=refresh,
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        # With no flow set, CDK omits ExplicitAuthFlows and Cognito then allows SRP and custom
        # auth through its API; the managed login pages need none of them, refreshes only this.
        cfn_client = client.node.default_child
        assert isinstance(cfn_client, cognito.CfnUserPoolClient)
        cfn_client.explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
        client.node.add_dependency(self.resource_server)
        return client

    def _machine_client(
        self, construct_id: str, scopes: list[cognito.OAuthScope]
    ) -> cognito.UserPoolClient:
        client = self.user_pool.add_client(
            construct_id,
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True), scopes=scopes
            ),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
        )
        client.node.add_dependency(self.resource_server)
        return client

    def _add_route(
        self,
        method: apigwv2.HttpMethod,
        path: str,
        integration: apigwv2.HttpRouteIntegration,
        authorizer: authorizers.HttpUserPoolAuthorizer | None = None,
        scopes: list[str] | None = None,
    ) -> apigwv2.HttpRoute:
        (route,) = self.http_api.add_routes(
            path=path,
            methods=[method],
            integration=integration,
            authorizer=authorizer or apigwv2.HttpNoneAuthorizer(),
            authorization_scopes=scopes,
        )
        self.routes[f"{method.value} {path}"] = route
        return route
