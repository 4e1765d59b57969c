"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL) and fresh Pulumi mocks."""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import pg  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> str:
    """A server DSN where we may create databases and roles (DATABASE_URL or embedded)."""
    with pg.server(tmp_path_factory.mktemp("pg")) as dsn:
        yield dsn


@pytest.fixture
def db(pg_server) -> str:
    """A fresh database with the Supabase objects; project roles created in it are dropped after."""
    with pg.scratch_database(pg_server, f"t_{os.getpid()}_{next(_counter)}") as dsn:
        yield dsn


def pytest_report_header(config) -> list[str]:
    """Say which GoTrue the auth tests use, so a green run never hides the fallback."""
    from tests import gotrue

    found = gotrue.binary()
    if found:
        return [f"GoTrue: the real binary {found}"]
    error = gotrue.build_error()
    return [f"GoTrue: its documented behaviour (tests/gotrue.py); not built: {error or 'scripts/build-gotrue.sh not run'}"]
