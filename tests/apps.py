"""The open-source Supabase apps the import tests deploy, listed in tests/fixtures/apps/sources.json.

Their files are not committed: each is read at the pinned commit from a fetched mirror of
its repository (a bare git directory, /work/.mirror/<owner>+<name>/repo, or APPS_MIRROR), else
downloaded from raw.githubusercontent.com at that commit, and written to a cache folder laid
out as the app's own (`supabase/...`, `LICENSE`). A missing app is an error, never a skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = HERE / "fixtures" / "apps" / "sources.json"
CACHE = Path(os.environ.get("APPS_CACHE") or HERE.parent / "test-artifacts" / "apps")
MIRRORS = Path(os.environ.get("APPS_MIRROR") or "/work/.mirror")


def sources() -> dict[str, dict]:
    return {k: v for k, v in json.loads(SOURCES.read_text()).items() if not k.startswith("_")}


def _read(source: dict, path: str) -> bytes:
    mirror = MIRRORS / source["repo"].replace("/", "+") / "repo"
    if mirror.is_dir():
        return subprocess.run(["git", "--git-dir", str(mirror), "show", f"{source['commit']}:{path}"],
                              check=True, capture_output=True).stdout
    url = f"https://raw.githubusercontent.com/{source['repo']}/{source['commit']}/{path}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


def folder(app: str) -> Path:
    """The app's `supabase/` folder, materialized once."""
    source = sources()[app]
    root = CACHE / app / source["commit"]
    if not (root / ".complete").is_file():
        for path in source["files"]:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_read(source, path))
        (root / ".complete").write_text("")
    return root / "supabase"
