"""The open-source Supabase apps the import tests deploy: test data, not code of this project.

Each lives in tests/fixtures/apps/<app>/ as its repository has it at the commit that
tests/fixtures/apps/sources.json pins (its `supabase/` folder's migrations, seed and
config.toml, and its licence file, unchanged), so the tests run offline and a reviewer
reads exactly what was deployed. sources.json names the repository, commit and licence.
"""
from __future__ import annotations

import json
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
