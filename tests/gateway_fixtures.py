"""Projects, keys and tokens for the gateway tests, made with the program's own key code
(components/core/signing_keys.py, project_keys.py, opaque_keys.py), as the lead's wiring of
components/resources/project.py fills ProjectGateway: each project's verifying keys are its
live generations with its own roles, and for `auth.mode: shared` also the stack's key with
["authenticated"] only."""
from __future__ import annotations

import hashlib
import time
from typing import Any, Optional

import jwt

from components.core import keys
from components.core.naming import ProjectNames
from components.core.project_keys import STACK_KEY_OWNER, ProjectKeySet, key_set
from components.core.signing_keys import SigningKey
from components.core.urls import project_path
from components.providers.kong_config import KongSettings, ProjectKeys, VerifyingKey
from components.resources.project_auth import service_name

SECRET = "test-jwt-secret-with-at-least-32-characters"
STACK_ANON, STACK_SERVICE = keys.sign(SECRET, "anon"), keys.sign(SECRET, "service_role")
STACK_KEY = SigningKey(STACK_KEY_OWNER, 1, "stack-seed-" + "s" * 53)
KEYSETS: dict[str, ProjectKeySet] = {}


def _random(name: str, n: int) -> str:
    text = hashlib.sha256(name.encode()).hexdigest() * 2
    return text[:n]


def project(name: str, hostname: Optional[str] = None, shared_auth: bool = False,
            generations: tuple[int, ...] = (1,)) -> ProjectKeys:
    names = ProjectNames(name, "shared" if shared_auth else "own")
    ks = key_set(name, names.anon, names.service, list(generations),
                 [f"seed-{name}-{g}-" + "x" * 48 for g in generations], _random(name, 44))
    KEYSETS[name] = ks
    own_roles = (names.anon, names.service) if shared_auth else (names.anon, names.authenticated, names.service)
    verifying = [VerifyingKey(k.kid, k.public_pem(), own_roles) for k in ks.live]
    if shared_auth:
        verifying.append(VerifyingKey(STACK_KEY.kid, STACK_KEY.public_pem(), ("authenticated",)))
    return ProjectKeys(name, ks.anon_jwt, ks.service_jwt, hostname, roles=tuple(names.api_roles()),
                       auth_host="auth" if shared_auth else service_name(name), prefix=project_path(name),
                       publishable_key=ks.publishable_key, secret_key=ks.secret_key, verifying_keys=tuple(verifying))


def settings(*projects: ProjectKeys, functions: bool = False, dashboard_hostname: Optional[str] = None,
             studio_hostname: Optional[str] = None) -> KongSettings:
    return KongSettings(STACK_ANON, STACK_SERVICE, "dashboard-password-0123", functions=functions,
                        dashboard_hostname=dashboard_hostname, studio_hostname=studio_hostname, projects=projects,
                        jwt_secret=SECRET)



# Two projects on their own hostnames, Edge Functions on, the dashboard and Studio published.
PUBLISHED = settings(project("blog", "blog-api.example.com"), project("shop", "shop-api.example.com"),
                     functions=True, dashboard_hostname="supabase.example.com", studio_hostname="studio.example.com")

def _claims(role: str, extra: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "7a0f3b4e-0000-4000-8000-000000000001", "role": role, "aud": "authenticated",
            "iat": now, "exp": now + 3600, **extra}


def signed_by(owner: str, role: str, **extra: Any) -> str:
    """A user token as GoTrue signs it: with the signing key of `owner` (a project, or "@stack")."""
    key = STACK_KEY if owner == STACK_KEY_OWNER else KEYSETS[owner].signing
    return key.sign(_claims(role, extra))


def hs256(role: str, **extra: Any) -> str:
    """A token signed with the stack's legacy HS256 secret."""
    return jwt.encode(_claims(role, extra), SECRET, algorithm="HS256")
