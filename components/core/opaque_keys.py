"""Opaque API keys in upstream's format: `sb_publishable_...` and `sb_secret_...`.

As supabase/supabase docker/utils/add-new-auth-keys.sh makes them: the prefix, 22 random
characters, `_`, then the first 8 characters of base64url(sha256("<project ref>|<prefix +
random>")). The checksum lets a client, a log scrubber or a secret scanner tell a real key
from a typo without asking the server; the project's name is the ref, so a key names the
project it belongs to. The gateway maps each key to the project's own JWT (it is never a
token itself): a leaked publishable key is exactly as open as the anon key it stands for.
"""
from __future__ import annotations

import base64
import hashlib
import re

PUBLISHABLE = "sb_publishable_"
SECRET = "sb_secret_"
RANDOM_LENGTH = 22
_SHAPE = re.compile(r"(sb_publishable_|sb_secret_)([A-Za-z0-9_-]{22})_([A-Za-z0-9_-]{8})")


def checksum(ref: str, intermediate: str) -> str:
    digest = hashlib.sha256(f"{ref}|{intermediate}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:8]


def make(prefix: str, ref: str, random_part: str) -> str:
    """The key for `random_part` (a pulumi-random value of RANDOM_LENGTH URL-safe characters)."""
    if prefix not in (PUBLISHABLE, SECRET):
        raise ValueError(f"unknown opaque key prefix {prefix!r}")
    if len(random_part) != RANDOM_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", random_part):
        raise ValueError(f"an opaque key's random part is {RANDOM_LENGTH} URL-safe characters")
    intermediate = prefix + random_part
    return f"{intermediate}_{checksum(ref, intermediate)}"


def is_valid(key: str, ref: str) -> bool:
    """Well-formed, and its checksum is `ref`'s: a key of another project fails here."""
    m = _SHAPE.fullmatch(key)
    return bool(m) and checksum(ref, m.group(1) + m.group(2)) == m.group(3)
