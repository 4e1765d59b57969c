"""The open-source Supabase apps the import tests deploy: test data, not code of this project.

Each lives in tests/fixtures/apps/<app>/ as its repository has it at the commit that
tests/fixtures/apps/sources.json pins (its `supabase/` folder's migrations, seed and
config.toml, and its licence file, unchanged), so the tests run offline and a reviewer
reads exactly what was deployed. sources.json names the repository, commit and licence.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

APPS = Path(__file__).parent / "fixtures" / "apps"
SOURCES = APPS / "sources.json"


def sources() -> dict[str, dict]:
    return {k: v for k, v in json.loads(SOURCES.read_text()).items() if not k.startswith("_")}


def folder(app: str) -> Path:
    """The app's `supabase/` folder, as its repository has it."""
    root = APPS / app
    missing = [path for path in sources()[app]["files"] if not (root / path).is_file()]
    assert not missing, f"{app}: {missing} missing from {root} (tests/fixtures/apps/sources.json)"
    return root / "supabase"


# Supabase's examples/edge-functions: its migration 20240423080303 ends `) tablespace;` with no
# name, which PostgreSQL (and so `supabase db reset`) refuses; the tests that deploy the app leave
# that one file out of a copy (`deployable`), and tests/test_app_import_functions.py asserts the refusal.
EDGE_FUNCTIONS = "supabase_edge_functions"
EDGE_FUNCTIONS_UNPARSABLE = "migrations/20240423080303_sentry-functions-challenge.sql"


def deployable(app: str, into: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """A copy of the app's `supabase/` folder at `into`/supabase, less the files `leave_out` names."""
    copy = into / "supabase"
    shutil.copytree(folder(app), copy)
    for path in leave_out:
        (copy / path).unlink()
    return copy
