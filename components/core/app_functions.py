"""A `supabaseDir` app's own Edge Functions: `<supabaseDir>/functions/<name>/index.ts` served as the
project's `projects[].functions`, exactly as a template project's (config/functions.py).

What comes from where:

| setting | from |
|---|---|
| the functions | `<supabaseDir>/functions`, every `<name>/index.ts` (the CLI's layout; `_shared` ships along) |
| `verifyJwt` | config.toml's `[functions.<name>] verify_jwt` (the CLI's default: true), overridden per function by the stack config's `projects[].functions.verifyJwt` |
| `disabled` | config.toml's `[functions.<name>] enabled = false`, plus the stack config's `projects[].functions.disabled` (not served: the function's folder is not shipped) |
| `secrets` | the stack config's `projects[].functions.secrets` only (Pulumi secrets), never config.toml: the CLI keeps them out of it too (`supabase secrets set`, `.env`) |

The other keys of `[functions.<name>]` (supabase/cli pkg/config/config.go `function`: enabled,
verify_jwt, import_map, entrypoint, static_files) are reported by `warnings` when set to
something this stack does not do: the edge runtime here serves `<name>/index.ts` with its own
imports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from components.core import app_config
from components.core.config.functions import ENTRYPOINT, FunctionsConfig, function_names

FOLDER = "functions"
STACK_KEYS = frozenset({"verifyJwt", "secrets", "disabled"})  # what the stack config may add to an app's


def names(supabase_dir: Path) -> list[str]:
    return function_names(Path(supabase_dir) / FOLDER)


def _sections(supabase_dir: Path) -> dict[str, dict[str, Any]]:
    found = app_config.load(supabase_dir).get("functions", {})
    return {k: v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def toml_verify_jwt(supabase_dir: Path) -> dict[str, bool]:
    """config.toml's explicit `verify_jwt` of the functions the folder has (unset: true, as the CLI)."""
    present = set(names(supabase_dir))
    return {name: section["verify_jwt"] for name, section in _sections(supabase_dir).items()
            if name in present and isinstance(section.get("verify_jwt"), bool)}


def toml_disabled(supabase_dir: Path) -> list[str]:
    """The functions config.toml turns off (`enabled = false`), among those the folder has."""
    present = set(names(supabase_dir))
    return sorted(name for name, section in _sections(supabase_dir).items()
                  if name in present and section.get("enabled") is False)


def project_functions(project: dict[str, Any], supabase_dir: Path,
                      where: str) -> tuple[Optional[FunctionsConfig], list[str]]:
    """The project's FunctionsConfig (None: the app has no function and the stack config sets none),
    and the problems, each naming its key path. `project` is the raw `projects[i]` entry."""
    stack = project.get("functions")
    if stack is None and not names(supabase_dir):
        return None, []
    if not isinstance(stack, (dict, type(None))):
        return None, [f"{where}.functions: must be an object of verifyJwt and secrets (the functions are the "
                      f"app's own, in {supabase_dir}/{FOLDER})"]
    stack = stack or {}
    if "dir" in stack:
        return None, [f"{where}.functions.dir: a supabaseDir project serves its app's own {supabase_dir}/{FOLDER}; "
                      "remove dir (verifyJwt and secrets stay)"]
    unknown = sorted(set(stack) - STACK_KEYS)
    if unknown:
        return None, [f"{where}.functions.{key}: not a setting of an app's functions (they are its own, in "
                      f"{supabase_dir}/{FOLDER}); the stack config may set {', '.join(sorted(STACK_KEYS))}"
                      for key in unknown]
    if not names(supabase_dir):
        return None, [f"{where}.functions: {supabase_dir}/{FOLDER} holds no function (<name>/{ENTRYPOINT}), so "
                      "verifyJwt and secrets apply to nothing; remove functions"]
    overrides = stack.get("verifyJwt", {})
    verify = {**toml_verify_jwt(supabase_dir), **overrides} if isinstance(overrides, dict) else overrides
    try:
        disabled = stack.get("disabled", [])
        disabled = sorted({*toml_disabled(supabase_dir), *disabled}) if isinstance(disabled, list) else disabled
        return FunctionsConfig.from_supabase_dir(Path(supabase_dir), verify, stack.get("secrets"), disabled), []
    except ValidationError as err:
        return None, [_problem(where, e) for e in err.errors()]


def _problem(where: str, error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if loc == "dir":
        return f"{where}.supabaseDir: its {FOLDER} folder {message}"
    return f"{where}.functions{'.' + loc if loc else ''}: {message}"


def _is_index(supabase_dir: Path, name: str, entrypoint: str) -> bool:
    """The CLI reads `entrypoint` relative to the supabase folder; only `functions/<name>/index.ts` is served."""
    folder = Path(supabase_dir).resolve()
    return (folder / entrypoint).resolve() == folder / FOLDER / name / ENTRYPOINT


def warnings(supabase_dir: Path, where: str) -> list[str]:
    """`[functions.<name>]` settings this stack cannot honour, and sections naming no function of the folder."""
    present = set(names(supabase_dir))
    found, absent = [], []
    for name, section in sorted(_sections(supabase_dir).items()):
        if name not in present:
            absent.append(name)
            continue
        key = f"functions.{name}"
        if section.get("import_map"):
            found.append(f"{where}: {key}.import_map in config.toml is not applied: the edge runtime runs "
                         f"{name}/{ENTRYPOINT} with the imports it names; write full npm:/jsr:/https: specifiers "
                         f"or a deno.json beside it")
        if section.get("entrypoint") and not _is_index(supabase_dir, name, str(section["entrypoint"])):
            found.append(f"{where}: {key}.entrypoint = {section['entrypoint']!r} in config.toml cannot be honoured: "
                         f"this stack serves {name}/{ENTRYPOINT}; make that file the entrypoint")
        if section.get("static_files"):
            found.append(f"{where}: {key}.static_files in config.toml are not bundled: only files under "
                         f"{supabase_dir}/{FOLDER} ship with the function; move them there")
    if absent:
        found.append(f"{where}: config.toml configures functions with no folder in {supabase_dir}/{FOLDER} "
                     f"({', '.join(absent)}); nothing is served for them")
    return found
