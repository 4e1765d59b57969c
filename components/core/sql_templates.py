"""Jinja2 for SQL: identifiers and values reach SQL only through psycopg's quoting.

`ident` quotes an identifier (after checking it is one we could have produced); `literal`
quotes a value. StrictUndefined turns a misspelt variable into an error, not empty SQL.

Templates may come from the user's `templatesDir`, and they are rendered on the machine
that runs `pulumi up`. So every template renders in an immutable sandbox (no attribute
walk to `__globals__`, no calls that mutate Python objects) whose loader sees only the
template's own folder: `{% include %}` cannot read `/etc/hostname`, `../x` or a symlink
that leads out of the folder.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable, Optional

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from psycopg import sql

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class TemplateRefused(Exception):
    """A template tried to leave its sandbox or its folder; the message says what it tried."""


def _defined(value: Any) -> Any:
    """A missing variable or key is an error that names it (StrictUndefined), never quoted SQL."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def ident(value: Any) -> str:
    value = _defined(value)
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid SQL identifier here (a-z, 0-9, _; at most 63)")
    return sql.Identifier(value).as_string(None)


def literal(value: Any) -> str:
    return sql.Literal(_defined(value)).as_string(None)


class FolderLoader(jinja2.FileSystemLoader):
    """Files of one folder only: `..` is refused by Jinja, a symlink leading out of it here."""

    def __init__(self, folder: Path):
        self.root = Path(folder).resolve()
        super().__init__(str(self.root), followlinks=False)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.root):
            raise jinja2.TemplateNotFound(f"{template} (it leads out of the template folder)")
        return source, filename, uptodate


@functools.lru_cache(maxsize=64)
def environment(folder: Optional[Path] = None) -> ImmutableSandboxedEnvironment:
    """The sandbox for templates of `folder` (None: no loader, so no include at all)."""
    env = ImmutableSandboxedEnvironment(
        loader=FolderLoader(folder) if folder is not None else None,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["ident"] = ident
    env.filters["literal"] = literal
    return env


@functools.lru_cache(maxsize=256)
def _compiled(source: str, folder: Optional[Path]) -> jinja2.Template:
    return environment(folder).from_string(source)


def render_text(source: str, folder: Optional[Path] = None, **context: Any) -> str:
    """Compiled once per distinct source: 500 projects on one template compile it once.

    A sandbox violation or an include outside `folder` raises TemplateRefused."""
    try:
        return _compiled(source, Path(folder).resolve() if folder is not None else None).render(**context)
    except jinja2.exceptions.SecurityError as err:
        raise TemplateRefused(f"refused by the template sandbox: {err}") from None
    except jinja2.TemplateNotFound as err:
        raise TemplateRefused(f"include/import of {err.name!r} refused: templates may only use files of "
                              f"their own folder ({folder})") from None


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> str:
    return path.read_text()


def render(path: Path, **context: Any) -> str:
    """For this repository's own template files, which do not change while the program runs."""
    path = Path(path)
    return render_text(_read(path), path.parent, **context)


def render_named(relative: str, **context: Any) -> str:
    """Render a template of this repository's sql/ folder, e.g. 'projects/_archive.sql.j2'."""
    return render(SQL_ROOT / relative, **context)
