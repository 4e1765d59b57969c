"""`extensions`: the PostgreSQL extensions the operator allows apps to ask for.

    extensions: [vector, http]

Supabase's hosted platform lets an app's migration run `create extension vector with schema
extensions`; here an extension is the stack's, shared by every project of the database, and
only the superuser may create most of them. So the operator lists the ones the stack installs
(sql/stack/extensions.sql.j2, in schema `extensions` as Supabase does) and an app's
`create extension` of a listed one becomes a no-op of that app
(components/core/app_sql_rewrite.py); any other is refused, naming this key.

An extension that reaches outside the database (another server, the server's files) would
let one project's code reach past every other project's roles, so it cannot be listed.
"""
from __future__ import annotations

import re

# PostgreSQL extension names as their control files name them (`uuid-ossp`, `pg_stat_statements`).
EXTENSION_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# Reach past the database: other servers (dblink, postgres_fdw), the server's files (file_fdw, adminpack, lo_*).
OUTSIDE = {
    "dblink": "it connects to other servers as any role",
    "postgres_fdw": "it connects to other servers as any role",
    "file_fdw": "it reads the server's files",
    "adminpack": "it writes the server's files",
    "plpython3u": "an untrusted language runs as the server's user",
    "plperlu": "an untrusted language runs as the server's user",
}


def check_extensions(value: list[str]) -> list[str]:
    """The list as given, or ValueError naming the entry and what to change."""
    seen: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not EXTENSION_NAME.fullmatch(name):
            raise ValueError(f"[{i}] {name!r} is not an extension name (lowercase letters, digits, `_`, `-`, "
                             "as in `create extension <name>`); fix the entry")
        if name in OUTSIDE:
            raise ValueError(f"[{i}] {name!r} cannot be shared by projects: {OUTSIDE[name]}; remove it")
        if name in seen:
            raise ValueError(f"[{i}] {name!r} is listed twice; remove one")
        seen.append(name)
    return seen
