"""The environment of one GoTrue (supabase/auth): the stack's own, or a project's.

One builder for both, so a project's auth container is configured exactly like the
stack's, except for what makes it the project's: its user pool schema
(`GOTRUE_DB_NAMESPACE`), its database login, the role its tokens carry
(`GOTRUE_JWT_DEFAULT_GROUP_NAME`, stored on each user at sign-up), the role its admin API
accepts (`GOTRUE_JWT_ADMIN_ROLES`), its audience/issuer and its public URL.

Names and semantics from supabase/auth at the pinned image's tag (v2.186.0):
internal/conf/configuration.go (envconfig prefix GOTRUE plus the struct's name, split_words;
a field with its own tag is read as GOTRUE_<STRUCT>_<TAG> or the bare tag: so the user pool's
schema is `DB_NAMESPACE`, as upstream's example.env spells it; `GOTRUE_DB_NAMESPACE` would be
ignored and GoTrue would migrate into `auth` — the real binary showed it), internal/api/signup.go (`user.SetRole(DefaultGroupName)`),
internal/tokens/service.go (claims: role = user.Role, aud = user.Aud, iss = JWT.Issuer),
internal/api/auth.go (`requireAdmin`: the token's role must be in AdminRoles),
internal/mailer/templatemailer (links = external URL resolved against absolute URL paths).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pulumi

from components.core.config import AuthSettings
from components.core.connection_budget import PROJECT_AUTH_POOL
from components.resources.service import Healthcheck

PORT = 9999
# A project's GoTrue serves few users, and a host runs hundreds of them: bounded pools stay
# inside Postgres's max_connections and idle ones give their connections back; the pool
# advisor (a sampler waking every 200 ms) is off; a tighter GC keeps the private heap small
# (bench/gotrue.py: idle RSS 32 -> 30 MB, 24 MB of it code pages shared by every auth-<p>).
PROJECT_TUNING = {"GOTRUE_DB_MAX_POOL_SIZE": str(PROJECT_AUTH_POOL), "GOTRUE_DB_CONN_MAX_IDLE_TIME": "60s",
                  "GOTRUE_DB_ADVISOR_ENABLED": "false", "GOGC": "50"}


def healthcheck() -> Healthcheck:
    """Upstream compose's check: GoTrue answers /health once its migrations ran."""
    return Healthcheck(["CMD", "wget", "--no-verbose", "--tries=1", "--spider", f"http://localhost:{PORT}/health"])


@dataclass(frozen=True)
class GoTrueIdentity:
    """What makes a GoTrue the stack's or one project's."""

    auth_url: str  # its public URL, .../auth/v1
    namespace: str  # schema of its user pool
    signed_in_role: str  # the `role` claim of its users' tokens
    admin_role: str  # the only role its admin API accepts
    audience: str
    default_site_url: str
    tuning: tuple[tuple[str, str], ...] = ()  # extra env (projects: PROJECT_TUNING)

    @property
    def issuer(self) -> str:
        return self.auth_url


def env(settings: AuthSettings, identity: GoTrueIdentity) -> dict[str, str]:
    """The plain (non-secret) environment."""
    path = urlparse(identity.auth_url).path.rstrip("/")
    verify = f"{path}/verify"  # absolute: GoTrue resolves it against the external URL
    values = {
        "GOTRUE_API_HOST": "0.0.0.0", "GOTRUE_API_PORT": str(PORT), "API_EXTERNAL_URL": identity.auth_url,
        "GOTRUE_DB_DRIVER": "postgres", "DB_NAMESPACE": identity.namespace,
        "GOTRUE_SITE_URL": settings.site_url or identity.default_site_url,
        "GOTRUE_URI_ALLOW_LIST": ",".join(settings.redirect_urls),
        "GOTRUE_DISABLE_SIGNUP": str(settings.signup == "closed").lower(),
        "GOTRUE_JWT_ADMIN_ROLES": identity.admin_role, "GOTRUE_JWT_AUD": identity.audience,
        "GOTRUE_JWT_DEFAULT_GROUP_NAME": identity.signed_in_role, "GOTRUE_JWT_ISSUER": identity.issuer,
        "GOTRUE_JWT_EXP": str(settings.jwt_expiry), "GOTRUE_EXTERNAL_EMAIL_ENABLED": "true",
        "GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED": "false",
        "GOTRUE_MAILER_AUTOCONFIRM": str(settings.confirms_automatically).lower(),
        "GOTRUE_MAILER_URLPATHS_INVITE": verify, "GOTRUE_MAILER_URLPATHS_CONFIRMATION": verify,
        "GOTRUE_MAILER_URLPATHS_RECOVERY": verify, "GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE": verify,
        "GOTRUE_EXTERNAL_PHONE_ENABLED": "false", "GOTRUE_SMS_AUTOCONFIRM": "false",
        **dict(identity.tuning),
    }
    if settings.smtp:
        smtp = settings.smtp
        values |= {"GOTRUE_SMTP_HOST": smtp.host, "GOTRUE_SMTP_PORT": str(smtp.port),
                   "GOTRUE_SMTP_ADMIN_EMAIL": smtp.sender, "GOTRUE_SMTP_USER": smtp.user or "",
                   "GOTRUE_SMTP_SENDER_NAME": smtp.sender_name or ""}
    for name, provider in settings.external.items():
        prefix = f"GOTRUE_EXTERNAL_{name.upper()}"
        values |= {f"{prefix}_ENABLED": str(provider.enabled).lower(), f"{prefix}_CLIENT_ID": provider.client_id,
                   f"{prefix}_REDIRECT_URI": f"{identity.auth_url}/callback"}
        if provider.url:
            values[f"{prefix}_URL"] = provider.url
    return values


def secret_env(settings: AuthSettings, database_url: pulumi.Input[str], jwt_secret: pulumi.Input[str],
               signing_keys: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """Secrets only: the database URL with its password, the JWT secret and signing keys (a
    JSON array of JWKs; GoTrue signs with the one whose key_ops has "sign"), SMTP and OAuth secrets."""
    values: dict[str, pulumi.Input[str]] = {"GOTRUE_DB_DATABASE_URL": database_url, "GOTRUE_JWT_SECRET": jwt_secret,
                                            "GOTRUE_JWT_KEYS": signing_keys}
    if settings.smtp and settings.smtp.password:
        values["GOTRUE_SMTP_PASS"] = pulumi.Output.secret(settings.smtp.password.get_secret_value())
    for name, provider in settings.external.items():
        values[f"GOTRUE_EXTERNAL_{name.upper()}_SECRET"] = pulumi.Output.secret(provider.secret.get_secret_value())
    return values
