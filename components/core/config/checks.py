"""Validating a raw stack config: the models, then the rules across entries (unique names,
templates that exist and are well formed, free ports, plain-text secrets, hostnames),
every problem reported at once."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from components.core import (app_config, app_functions, app_migrations, buckets, connection_budget, hostnames, migrations,
                             template_files, template_policies)
from components.core.app_sql_rewrite import AppSqlRefused
from components.core.config.errors import ConfigError, describe
from components.core.config.models import Features, Ports, StackConfig
from components.core.config.rules import (
    NESTED_SECRET_KEYS,
    POOLER_TRANSACTION_PORT,
    SECRET_KEYS,
    TEMPLATE_NAME,
    available_templates,
)
from components.core.naming import ProjectNames


def _cross_checks(raw: dict[str, Any]) -> list[str]:
    """Checks across entries; run on the raw dict so they report even when fields fail."""
    projects = raw.get("projects") if isinstance(raw.get("projects"), list) else []
    entries = [(i, p) for i, p in enumerate(projects) if isinstance(p, dict)]
    templates_dir = raw.get("templatesDir")
    return [
        *_duplicate_names(entries),
        *_duplicate_buckets(entries),
        *_missing_templates(entries, Path(templates_dir) if isinstance(templates_dir, str) else None),
        *(["cloudflare: publishing needs `domain` too; set domain to your zone, e.g. example.com"]
          if raw.get("cloudflare") is not None and not raw.get("domain") else []),
        *(["publicUrl: set either publicUrl (your own reverse proxy or LAN) or cloudflare (a Cloudflare tunnel), "
           "not both"] if raw.get("publicUrl") is not None and raw.get("cloudflare") is not None else []),
    ]


def _duplicate_names(entries: list[tuple[int, dict]]) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for i, p in entries:
        name = p.get("name")
        if not isinstance(name, str):
            continue  # reported with the field
        if name in seen:
            problems.append(f"projects[{i}].name: {name!r} is already used by projects[{seen[name]}]; names must be unique")
        else:
            seen[name] = i
    return problems


def _duplicate_buckets(entries: list[tuple[int, dict]]) -> list[str]:
    """Within a project; across projects the `<project>-` prefix keeps bucket ids apart. A
    name may not be another bucket's id either: the gateway maps both to ids
    (components/core/kong_storage_lua.py)."""
    problems = []
    for i, p in entries:
        storage = p.get("storage") if isinstance(p.get("storage"), dict) else {}
        listed = storage.get("buckets") if isinstance(storage.get("buckets"), list) else []
        seen: dict[str, int] = {}
        for j, b in enumerate(listed):
            name = b.get("name") if isinstance(b, dict) else None
            if not isinstance(name, str):
                continue  # reported with the field
            if name in seen:
                problems.append(f"projects[{i}].storage.buckets[{j}].name: {name!r} is already used by "
                                f"projects[{i}].storage.buckets[{seen[name]}]; bucket names must be unique in a project")
            else:
                seen[name] = j
        project = p.get("name")
        for name, j in seen.items():
            other = name.removeprefix(f"{project}{buckets.SEPARATOR}") if isinstance(project, str) else name
            if other != name and other in seen:
                problems.append(f"projects[{i}].storage.buckets[{j}].name: {name!r} is the id of "
                                f"projects[{i}].storage.buckets[{seen[other]}] ({other!r}); clients name buckets "
                                f"by name or id on the project's URL, so give it another name")
    return problems


def _missing_templates(entries: list[tuple[int, dict]], templates_dir: Optional[Path]) -> list[str]:
    if templates_dir is not None and not templates_dir.is_dir():
        return [f"templatesDir: {str(templates_dir)!r} is not a folder"]
    available = available_templates(templates_dir)
    return [
        f"projects[{i}].template: {p['template']!r} is not a template; choose one of {', '.join(available)}"
        for i, p in entries
        if isinstance(p.get("template"), str) and TEMPLATE_NAME.fullmatch(p["template"]) and p["template"] not in available
    ]


def parse_config(raw: dict[str, Any],
                 secret_keys: frozenset[str] = frozenset((*SECRET_KEYS, *NESTED_SECRET_KEYS))) -> StackConfig:
    """Validate a raw namespace dict; raise ConfigError listing every problem."""
    problems = [
        f"{key}: is stored in plain text; set it with `pulumi config set --secret {key} ...`"
        for key in SECRET_KEYS
        if key in raw and key not in secret_keys
    ]
    problems += [
        f"{path}: is stored in plain text; set it with `pulumi config set --secret --path '{path}' ...`"
        for path in nested_secret_paths(raw)
        if path.split("[")[0].split(".")[0] not in secret_keys
    ]
    raw, app_problems = _with_app_settings(raw)
    problems += app_problems
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as err:
        problems += [line for e in err.errors() for line in describe(e, raw)]
        config = None
    problems += _cross_checks(raw) + _port_problems(raw)
    if config is not None:
        problems += (_route_problems(config) + _template_problems(config) + _functions_problems(config)
                     + _app_problems(config) + connection_budget.problems(config) + _cell_problems(config))
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def _with_app_settings(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each `supabaseDir` project's config.toml under its own keys of the stack config (which win)."""
    projects = raw.get("projects")
    if not isinstance(projects, list):
        return raw, []
    problems, entries = [], []
    for i, p in enumerate(projects):
        folder = p.get("supabaseDir") if isinstance(p, dict) else None
        if isinstance(folder, str):
            if not (Path(folder) / "migrations").is_dir() and not (Path(folder) / app_config.FILE).is_file():
                problems.append(f"projects[{i}].supabaseDir: {folder!r} is not a Supabase CLI folder (the one "
                                "holding config.toml and migrations/), relative to the stack's folder")
            else:
                try:
                    p = app_config.merged(p, Path(folder))
                    functions, found = app_functions.project_functions(p, Path(folder), f"projects[{i}]")
                    p, problems = {**p, "functions": functions}, problems + found
                except ValueError as err:  # tomllib.TOMLDecodeError
                    problems.append(f"projects[{i}].supabaseDir: {folder}/config.toml is not TOML ({err})")
        entries.append(p)
    return {**raw, "projects": entries}, problems


def _app_problems(config: StackConfig) -> list[str]:
    """Every statement of every app that cannot run in its project, found before anything runs."""
    found = []
    for i, p in enumerate(config.projects):
        if p.supabase_dir is None or not (p.supabase_dir / "migrations").is_dir():
            continue
        enabled, paths = app_config.project_seed(p)
        try:
            app_migrations.plan(p.supabase_dir, ProjectNames(p.name, p.auth.mode), paths, enabled,
                                config.extensions)
        except (AppSqlRefused, migrations.MigrationError) as err:
            problems = err.problems if isinstance(err, AppSqlRefused) else [str(err)]
            found += [f"projects[{i}].supabaseDir: {line}" for line in problems]
    return found


def published_ports(ports: Ports, features: Features) -> list[tuple[str, int]]:
    """(setting, port) of every port the stack publishes on the Docker host."""
    found = [("ports.kong", ports.kong), ("ports.postgres", ports.postgres)]
    return found + ([("features.pooler", POOLER_TRANSACTION_PORT)] if features.pooler else [])


def _port_problems(raw: dict[str, Any]) -> list[str]:
    """Two services on one host port: Docker would fail half-way through `pulumi up`.

    Checked on `ports` and `features` alone, so a clash shows even when other keys are bad.
    """
    try:
        ports, features = Ports.model_validate(raw.get("ports", {})), Features.model_validate(raw.get("features", {}))
    except ValidationError:
        return []  # reported per field
    seen: dict[int, str] = {}
    problems = []
    for setting, port in published_ports(ports, features):
        if port not in seen:
            seen[port] = setting
        elif setting == "features.pooler":
            problems.append(f"features.pooler: Supavisor publishes port {port}, which {seen[port]} already uses; "
                            f"choose another {seen[port]}")
        else:
            problems.append(f"{setting}: {port} is already the port of {seen[port]}; each published port must differ")
    return problems


def nested_secret_paths(raw: dict[str, Any]) -> list[str]:
    """Key paths of the secrets inside structured keys (SMTP passwords, OAuth client secrets, the S3 key) that are set."""
    blocks = [("auth", raw.get("auth"))]
    if isinstance(raw.get("projects"), list):
        blocks += [(f"projects[{i}].auth", p.get("auth")) for i, p in enumerate(raw["projects"]) if isinstance(p, dict)]
    found = []
    for path, auth in blocks:
        if not isinstance(auth, dict):
            continue
        if isinstance(auth.get("smtp"), dict) and "pass" in auth["smtp"]:
            found.append(f"{path}.smtp.pass")
        external = auth.get("external") if isinstance(auth.get("external"), dict) else {}
        found += [f"{path}.external.{name}.secret" for name, p in external.items() if isinstance(p, dict) and "secret" in p]
    if isinstance(raw.get("projects"), list):
        found += [f"projects[{i}].functions.secrets.{name}" for i, p in enumerate(raw["projects"]) if isinstance(p, dict)
                  for name in _function_secrets(p)]
        found += [path for i, p in enumerate(raw["projects"]) if isinstance(p, dict) for path in _key_seeds(i, p)]
    s3 = raw.get("backups", {}).get("s3") if isinstance(raw.get("backups"), dict) else None
    if isinstance(s3, dict) and "secretAccessKey" in s3:
        found.append("backups.s3.secretAccessKey")
    return found


def _cell_problems(config: StackConfig) -> list[str]:
    """A cell holds at most maxProjects, and a remote cell must be reachable from here."""
    cell = config.cell
    if cell is None:
        return []
    found = []
    if len(config.projects) > cell.max_projects:
        found.append(f"projects: cell {cell.name!r} holds {len(config.projects)} projects, over its cell.maxProjects "
                     f"{cell.max_projects}; place new projects in another cell's stack (docs/cells.md, Adding a "
                     "cell) or raise cell.maxProjects")
    if cell.remote and not cell.address:
        found.append(f"cell.address: is required with cell.dockerHost {cell.docker_host!r}: this machine reaches "
                     "the cell's Postgres and Kong at that address (e.g. the host's private IP)")
    if cell.loopback_only(config.bind_address):
        found.append(f"bindAddress: {config.bind_address} publishes cell {cell.name!r}'s ports on the loopback of "
                     f"{cell.docker_host}, which neither this machine nor the edge can reach; set bindAddress to "
                     f"the host's private address ({cell.address or 'cell.address'})")
    return found


def _functions_problems(config: StackConfig) -> list[str]:
    """Functions are served only by the stack's edge runtime. An app's own functions are an error
    too, not a warning: its client calls them (`functions.invoke`), and a deploy that silently
    leaves them out would fail only when a user gets there."""
    if config.features.functions:
        return []
    return [f"projects[{i}].supabaseDir: the app has Edge Functions ({', '.join(p.functions.names)} in "
            f"{p.functions.dir}) and they need the stack's edge runtime; set features.functions: true"
            if p.supabase_dir is not None else
            f"projects[{i}].functions: needs the stack's edge runtime; set features.functions: true"
            for i, p in enumerate(config.projects) if p.functions is not None]


def _key_seeds(i: int, project: dict) -> list[str]:
    """`projects[i].keys.seeds.<kind>.<generation>` of each seed set (config/key_seeds.py)."""
    keys = project.get("keys") if isinstance(project.get("keys"), dict) else {}
    if "seeds" not in keys:
        return []
    seeds = keys["seeds"]
    if not isinstance(seeds, dict):
        return [f"projects[{i}].keys.seeds"]
    return [f"projects[{i}].keys.seeds.{kind}" + (f".{g}" if isinstance(given, dict) else "")
            for kind, given in seeds.items() for g in (given if isinstance(given, dict) else [None])]


def _function_secrets(project: dict) -> list[str]:
    functions = project.get("functions") if isinstance(project.get("functions"), dict) else {}
    return list(functions.get("secrets") or {}) if isinstance(functions.get("secrets"), dict) else []


def _template_problems(config: StackConfig) -> list[str]:
    """Each template in use must have well-formed migrations, quickstart and policies: found now,
    not mid-`up`. Policies render per project (its names and buckets), so they are checked per project."""
    found: list[str] = []
    broken: set[str] = set()
    templated = [p for p in config.projects if p.supabase_dir is None]
    for template in sorted({p.template for p in templated} & set(available_templates(config.templates_dir))):
        where = [i for i, p in enumerate(config.projects) if p.template == template and p.supabase_dir is None][0]
        folder = config.template_path(template)
        try:
            migrations.discover(folder)
            template_files.load(folder)
            template_files.published(folder)
            template_policies.load(folder)
        except (migrations.MigrationError, template_files.QuickstartError) as err:
            found.append(f"projects[{where}].template: {err}")
            broken.add(template)
    return found + _policy_problems(config, broken)


def _policy_problems(config: StackConfig, broken: set[str]) -> list[str]:
    """The template's policies.json rendered for each project that uses it, every statement parsed."""
    available = set(available_templates(config.templates_dir)) - broken
    found = []
    for i, p in enumerate(config.projects):
        if p.template not in available or p.supabase_dir is not None:
            continue
        names = ProjectNames(p.name, p.auth.mode)
        try:
            template_policies.for_project(config.template_path(p.template), names,
                                          buckets.spec(p.name, p.storage.buckets), p.template)
        except template_policies.PolicyError as err:
            found.append(f"projects[{i}].template: {err}")
    return found


def _route_problems(config: StackConfig) -> list[str]:
    """Public hostnames clash only once defaults are applied, so this runs on the parsed config."""
    return hostnames.route_problems(config)
