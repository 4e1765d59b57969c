"""What a project holds in the database, read the same way by the dump (its manifest's
counts), the restore (what it would replace) and the move (what arrived): its tables, their
rows, and the Storage rows of its buckets (`<project>-...`)."""
from __future__ import annotations

from typing import Sequence

import psycopg
from psycopg import sql

# Storage's table -> the column that names the bucket.
STORAGE_KEYS = {"buckets": "id", "objects": "bucket_id"}


def tables(conn: psycopg.Connection, schemas: list[str]) -> list[tuple[str, str]]:
    """(schema, table) of every plain or partitioned table (not a partition) of `schemas`."""
    return conn.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'p') and not c.relispartition order by 1, 2",
        (schemas,)).fetchall()


def rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    return conn.execute(sql.SQL("select count(*) from {}.{}").format(
        sql.Identifier(schema), sql.Identifier(table))).fetchone()[0]


def holds_rows(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute(sql.SQL("select exists (select from {}.{})").format(
        sql.Identifier(schema), sql.Identifier(table))).fetchone()[0]


def filled_tables(conn: psycopg.Connection, schemas: list[str], skipped: Sequence[str] = ()) -> list[str]:
    """`schema.table` of the tables of `schemas` that hold rows, less `skipped` (GoTrue's migration
    records: what a restore or a move may replace without calling it data)."""
    return [f"{s}.{t}" for s, t in tables(conn, schemas) if f"{s}.{t}" not in skipped and holds_rows(conn, s, t)]


def storage_rows(conn: psycopg.Connection, table: str, project: str) -> int:
    """Rows of storage.<table> (buckets or objects) of the project's buckets."""
    return conn.execute(sql.SQL("select count(*) from storage.{} where pg_catalog.starts_with({}, %s)").format(
        sql.Identifier(table), sql.Identifier(STORAGE_KEYS[table])), (f"{project}-",)).fetchone()[0]
