"""Jinja2 for SQL: identifiers and values reach SQL only through psycopg's quoting.

`ident` quotes an identifier (after checking it is one we could have produced); `literal`
quotes a value. StrictUndefined turns a misspelt variable into an error, not empty SQL.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2
from psycopg import sql

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def ident(value: Any) -> str:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid SQL identifier here (a-z, 0-9, _; at most 63)")
    return sql.Identifier(value).as_string(None)


def literal(value: Any) -> str:
    return sql.Literal(value).as_string(None)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader("/"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["ident"] = ident
    env.filters["literal"] = literal
    return env


_ENV = _environment()


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def render_text(source: str, **context: Any) -> str:
    """Compiled once per distinct source: 500 projects on one template compile it once."""
    return _compiled(source).render(**context)


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> str:
    return path.read_text()


def render(path: Path, **context: Any) -> str:
    """For this repository's own sql/ files, which do not change while the program runs."""
    return render_text(_read(Path(path)), **context)


def render_named(relative: str, **context: Any) -> str:
    """Render a template of this repository's sql/ folder, e.g. 'projects/_archive.sql.j2'."""
    return render(SQL_ROOT / relative, **context)
