"""What a template declares besides its migrations, in JSON files next to its SQL.

`realtime.json` lists the tables the project publishes to Realtime (`{"publish": [...]}`):
the project's SQL step adds them to the `supabase_realtime` publication as the superuser
that owns it (template SQL runs as the project's owner, who may not).

A template's quickstart: the requests its dashboard examples make.

`quickstart.json` in a template folder names the table anyone may read and the rows a
signed-in user of the project may insert, in order (a blog profile before its first post).
The dashboard turns it into curl, supabase-js and supabase-py examples, and the tests run
each of those requests against the template on a real PostgreSQL, so every example works
as written. A template without the file gets a read-only example of its first table.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Optional

FILE = "quickstart.json"
REALTIME_FILE = "realtime.json"
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class QuickstartError(ValueError):
    """A template's JSON file is malformed; the message names the file and the key."""


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise QuickstartError(f"{path}: not JSON ({err})") from None


@functools.lru_cache(maxsize=None)
def load(template_dir: Path) -> Optional[dict[str, Any]]:
    """The validated quickstart of a template folder, or None when it has none."""
    path = Path(template_dir) / FILE
    return validate(_read(path), path) if path.is_file() else None


@functools.lru_cache(maxsize=None)
def published(template_dir: Path) -> tuple[str, ...]:
    """The tables the template publishes to Realtime (none without realtime.json)."""
    path = Path(template_dir) / REALTIME_FILE
    if not path.is_file():
        return ()
    raw = _read(path)
    tables = raw.get("publish") if isinstance(raw, dict) and set(raw) == {"publish"} else None
    if not isinstance(tables, list) or not all(_identifier(t) for t in tables):
        raise QuickstartError(f"{path}: must be {{\"publish\": [table names]}}")
    return tuple(dict.fromkeys(tables))


def validate(raw: Any, path: Path) -> dict[str, Any]:
    """The quickstart `raw` in its normal form; QuickstartError names `path` and the bad key."""
    if not isinstance(raw, dict) or set(raw) - {"read", "signedIn"} or "read" not in raw:
        raise QuickstartError(f"{path}: must be an object with `read` and optional `signedIn`")
    read = raw["read"]
    if not isinstance(read, dict) or not _identifier(read.get("table")):
        raise QuickstartError(f"{path}: read.table must be a table name")
    select = read.get("select", "*")
    if select != "*" and not all(_identifier(c) for c in str(select).split(",")):
        raise QuickstartError(f"{path}: read.select must be * or column names separated by commas")
    steps = raw.get("signedIn", [])
    if not isinstance(steps, list) or not all(_step(s) for s in steps):
        raise QuickstartError(f"{path}: signedIn must be a list of {{table, insert: {{column: value}}}}")
    return {"read": {"table": read["table"], "select": select}, "signedIn": steps}


def _identifier(value: Any) -> bool:
    return isinstance(value, str) and IDENTIFIER.fullmatch(value) is not None


def _step(step: Any) -> bool:
    return (isinstance(step, dict) and set(step) == {"table", "insert"} and _identifier(step["table"])
            and isinstance(step["insert"], dict) and step["insert"]
            and all(_identifier(k) and isinstance(v, (str, int, float, bool)) for k, v in step["insert"].items()))
