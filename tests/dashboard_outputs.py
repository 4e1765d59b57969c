"""Stack outputs of any size for the dashboard's tests and benchmark (bench/dashboard.py).

The projects are the three of tests/fixtures/outputs-3-projects.json (what the program
exports under mocks), repeated under new names with their URLs, keys and services made for
each name, and every third one with shared users: the index at 500 projects gets the same
shape of data the program gives it. `usage()` is a usage document as
sql/bootstrap/0008_project_usage.sql.j2 returns it, for the same projects.
"""
from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "outputs-3-projects.json"
SECRET = "dashboard-fixture-secret-not-used-anywhere-else-0123"
WORDS = ("alpha", "berry", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "jade", "kite", "lumen")


def base() -> dict:
    return json.loads(FIXTURE.read_text())


def names(count: int) -> list[str]:
    return [f"{WORDS[i % len(WORDS)]}_{i:03d}" for i in range(count)]


def _renamed(entry: dict, old: str, new: str, dashboard: str, shared: bool, rng: random.Random) -> dict:
    text = json.dumps(entry).replace(f"/project/{old}", f"/project/{new}").replace(f"{old}-", f"{new}-")
    project = json.loads(text)
    project["schema"] = new
    if project.get("hostname"):
        project["hostname"] = f"{new.replace('_', '-')}-api.example.com"
        project["url"] = f"https://{project['hostname']}"
        project["restUrl"], project["authUrl"] = f"{project['url']}/rest/v1", f"{project['url']}/auth/v1"
    project["anonKey"] = jwt.encode({"role": f"{new}_anon", "iss": "supabase", "iat": 1767225600}, SECRET,
                                    algorithm="HS256")
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    project["publishableKey"] = ("sb_publishable_" + "".join(rng.choice(alphabet) for _ in range(22)) + "_"
                                 + "".join(rng.choice(alphabet) for _ in range(8)))
    project["auth"]["mode"] = "shared" if shared else "own"
    label = new.replace("_", "-")
    project["services"] = ([{"name": "auth", "image": "supabase/gotrue:v2.177.0", "healthUrl": f"{dashboard}status/auth",
                             "shared": True}] if shared else
                           [{"name": f"auth-{label}", "image": "supabase/gotrue:v2.177.0",
                             "healthUrl": f"{dashboard}status/project/{label}", "shared": False}])
    return project


def outputs(count: int, dashboard: str | None = None) -> dict:
    """`count` projects; with `dashboard`, every health URL is under that origin's /status/."""
    data = base()
    dashboard = dashboard or data["dashboardUrl"]
    data["dashboardUrl"] = dashboard
    for service in data["services"]:
        if service.get("healthUrl"):
            service["healthUrl"] = f"{dashboard}status/{service['name']}"
    if count == 3:
        for name, project in data["projects"].items():
            for service in project["services"]:
                service["healthUrl"] = service["healthUrl"].replace(base()["dashboardUrl"], dashboard)
        return data
    rng = random.Random(count)
    originals = list(data["projects"].items())
    projects = {}
    for i, name in enumerate(names(count)):
        old, entry = originals[i % len(originals)]
        projects[name] = _renamed(copy.deepcopy(entry), old, name, dashboard, shared=i % 3 == 2, rng=rng)
    data["projects"] = projects
    return data


def usage(data: dict, now: datetime | None = None) -> dict:
    """A usage document for the projects of `data`: every 7th idle for weeks, every 5th growing."""
    now = now or datetime.now(timezone.utc)
    report = {}
    for i, (name, project) in enumerate(data["projects"].items()):
        shared = project["auth"]["mode"] == "shared"
        tables = {t["name"]: (i * 37) % 5000 + 3 for t in project.get("tables", [])}
        signed_in = now - (timedelta(days=30 + i) if i % 7 == 0 else timedelta(minutes=5 + i))
        report[name] = {
            "databaseBytes": 65536 + i * 8192, "rows": sum(tables.values()), "tables": tables,
            "rowsApproximate": False, "users": None if shared else i % 50 + 1,
            "lastSignInAt": None if shared else signed_in.isoformat(),
            "storageObjects": i % 9, "storageBytes": (i % 9) * 125_000,
            "lastMigration": {"version": 2, "filename": project.get("lastMigration") or "0001_schema.sql.j2",
                              "appliedAt": (now - timedelta(days=3)).isoformat()},
            "template": project["template"], "createdAt": (now - timedelta(days=40)).isoformat(),
            "growth": {"since": (now - timedelta(hours=24)).isoformat(), "databaseBytes": 8192 if i % 5 == 0 else 0,
                       "rows": 12 if i % 5 == 0 else 0, "users": 0, "storageBytes": 0},
        }
    return {"collectedAt": now.isoformat(), "projects": report}
