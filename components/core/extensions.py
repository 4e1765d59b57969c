"""The stack's allowed extensions (config `extensions`) installed by the superuser.

Run on the superuser connection before any project's migrations, so an app's
`create extension <listed> ...` (a no-op of the app, components/core/app_sql_rewrite.py)
finds it installed in schema `extensions`. An extension the server does not ship fails
here, naming it, before any project runs.
"""
from __future__ import annotations

from typing import Sequence

import psycopg

from components.core.config.extensions import check_extensions
from components.core.sql_templates import render_named

TEMPLATE = "stack/extensions.sql.j2"


class ExtensionUnavailable(Exception):
    pass


def install(conn: psycopg.Connection, extensions: Sequence[str]) -> None:
    """`create extension if not exists` of each, in schema `extensions`, in one transaction."""
    names = check_extensions(list(extensions))
    available = {n for (n,) in conn.execute("select name from pg_catalog.pg_available_extensions")}
    missing = [n for n in names if n not in available]
    if missing:
        raise ExtensionUnavailable(f"extensions: {', '.join(missing)} not shipped by this PostgreSQL "
                                   "(pg_available_extensions); remove it from `extensions` or use an image that has it")
    with conn.transaction():
        conn.execute(render_named(TEMPLATE, extensions=names))
