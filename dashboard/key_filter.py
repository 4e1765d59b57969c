"""Keeps service keys off the dashboard's pages.

The outputs the site is built from are meant to be public, but one mistake in the stack
program must not put a key that bypasses RLS on a web page: every string bound for a page
passes `Sanitizer`, and `check_pages` refuses a finished page that still holds one.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

import jwt

# Runs of base64url characters and dots: every JWT inside any string lies in one of them.
TOKENISH_RE = re.compile(r"[A-Za-z0-9_\-.]+")
SECRET_PLACEHOLDER = "[secret]"
# Upstream's opaque secret keys (components/core/opaque_keys.py): servers only, never a page.
SECRET_KEY_RE = re.compile(r"sb_secret_[A-Za-z0-9_-]+")


def _b64url_json(segment: str) -> Any:
    """Decode one JWT segment, or None: used only to tell a JWT from a hostname."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return None


def find_jwts(text: str) -> list[str]:
    """Every JWT-looking substring: three dot-separated segments whose first is a JSON header.

    All consecutive segment triples are tried, so a token glued to other dotted text
    (`x.<jwt>`, a URL) is still found.
    """
    found = []
    for run in TOKENISH_RE.findall(text):
        parts = run.split(".")
        for i in range(len(parts) - 2):
            header = _b64url_json(parts[i]) if len(parts[i]) >= 4 else None
            if isinstance(header, dict) and "alg" in header:
                found.append(".".join(parts[i : i + 3]))
    return found


def is_service_role(role: Any) -> bool:
    """The roles that bypass RLS: Supabase's `service_role` and our per-project `<p>_service`."""
    return isinstance(role, str) and (role == "service_role" or role.endswith("_service"))


def token_problem(token: str) -> str | None:
    """Why `token` must not be printed, or None when it is a non-service JWT."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "an unreadable JWT (it cannot be shown to be a non-service key)"
    role = claims.get("role")
    if is_service_role(role):
        return f"a JWT with role {role!r} (service keys never go into the dashboard)"
    if role is not None and not isinstance(role, str):
        return "a JWT with a non-string role claim"
    return None


@dataclass
class Sanitizer:
    """Vets every string bound for a page and collects warnings on the way."""

    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def items(self, value: Any, where: str) -> list:
        """`value` as a list: missing is empty, anything else is warned about and empty."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.warn(f"{where}: expected a list, ignored")
            return []
        return value

    def text(self, value: Any, where: str) -> str | None:
        """`value` as printable text, or None when it is missing, secret or a service key."""
        if value is None or value == SECRET_PLACEHOLDER:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.warn(f"{where}: ignored a {type(value).__name__} where text was expected")
            return None
        text = str(value)
        if SECRET_KEY_RE.search(text):
            self.warn(f"{where}: dropped an sb_secret_ key (secret keys never go into the dashboard)")
            self.dropped.extend(SECRET_KEY_RE.findall(text))
            return None
        for token in find_jwts(text):
            problem = token_problem(token)
            if problem:
                self.warn(f"{where}: dropped {problem}")
                self.dropped.append(token)
                return None
        return text


def check_pages(pages: dict[str, str], dropped: list[str]) -> None:
    """Last line of defence: refuse to write a page that holds a service key.

    `Sanitizer` should already have removed them; this catches a template that prints
    something the sanitizer never saw.
    """
    for name, html in pages.items():
        for token in dropped:
            if token in html:
                raise RuntimeError(f"refusing to write {name}: it contains a dropped key")
        if SECRET_KEY_RE.search(html):
            raise RuntimeError(f"refusing to write {name}: it contains an sb_secret_ key")
        for token in find_jwts(html):
            if token_problem(token):
                raise RuntimeError(f"refusing to write {name}: it contains {token_problem(token)}")
