"""``GET /auth/config``: how a client signs in. Open (the sign-in page needs it before a token).

It answers only public facts: the OAuth 2.0 endpoints of the Cognito domain and the ids of the
two public app clients (the dashboard's and the CLI's: no secret exists for them), the scopes
to ask for, and the mode:

- ``cognito`` when ``OAUTH_DOMAIN_URL`` and ``OAUTH_CLIENT_ID`` are set (the deployed stack):
  the dashboard signs people in with the authorization code flow and PKCE, ``segments login``
  with the same flow over a loopback redirect;
- ``token`` when only static tokens guard the app (``API_TOKENS``/``ADMIN_TOKENS``);
- ``open`` in ``AUTH_MODE=open`` without tokens (local use).
"""

from __future__ import annotations

from fastapi import APIRouter

from lambdas.api.dependencies import AppSettingsDep
from lambdas.api.schemas import AuthConfig
from shared.settings import Settings

__all__ = ["auth_config", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])


def auth_config(settings: Settings) -> AuthConfig:
    """What :func:`get_auth_config` answers for ``settings``.

    Examples
    --------
    >>> auth_config(Settings(auth_mode="open")).mode
    'open'
    >>> config = auth_config(Settings(oauth_domain_url="https://x.auth.eu-west-1.amazoncognito.com",
    ...                               oauth_client_id="abc"))
    >>> config.mode, config.token_url
    ('cognito', 'https://x.auth.eu-west-1.amazoncognito.com/oauth2/token')
    """
    domain = settings.oauth_domain_url.rstrip("/")
    if domain and settings.oauth_client_id:
        return AuthConfig(
            mode="cognito",
            authorize_url=f"{domain}/oauth2/authorize",
            token_url=f"{domain}/oauth2/token",
            logout_url=f"{domain}/logout",
            client_id=settings.oauth_client_id,
            cli_client_id=settings.oauth_cli_client_id or None,
            scopes=settings.oauth_scopes.split(),
        )
    return AuthConfig(mode="token" if settings.auth_enabled else "open")


@router.get("/config", response_model=AuthConfig, summary="How to sign in (no token needed)")
async def get_auth_config(settings: AppSettingsDep) -> AuthConfig:
    """The sign-in endpoints and public client ids, or the static-token / open mode."""
    return auth_config(settings)
