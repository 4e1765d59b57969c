"""Rules across the cells of a deployment, on top of each cell's own config validation.

Each cell is validated as its `pulumi up` would validate it (parse_config); then what no
single stack can see: a cell name, a project or a public hostname in two cells, two cells
publishing the same port on the same host.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from cells.inventory import Cell
from components.core import hostnames
from components.core.config import ConfigError, StackConfig, parse_config, published_ports


def problems(cells: list[Cell]) -> list[str]:
    """Every problem of the deployment, one line each, prefixed with the stack it is in."""
    found: list[str] = []
    configs: dict[str, StackConfig] = {}
    for cell in cells:
        try:
            configs[cell.stack] = parse_config(cell.raw, cell.secret)
        except ConfigError as err:
            found += [f"{cell.stack}: {p}" for p in err.problems]
    found += _twice("cell.name", ((c.stack, c.name) for c in cells),
                    "a cell's name is its stack hostnames' (api-<cell>.<domain>); rename one")
    found += _twice("project", ((c.stack, p) for c in cells for p in c.projects),
                    "a project's schema, roles and hostname are its name, so it lives in one cell; remove it "
                    "from one (to move it: docs/cells.md, Moving a project)")
    found += _twice("hostname", ((stack, r.hostname) for stack, config in configs.items()
                                 for r in hostnames.routes(config)),
                    "public hostnames route to one cell; set hostnames.* or projects[].hostname apart")
    found += _twice("port", ((stack, port) for stack, config in configs.items() for port in _ports(config)),
                    "two cells on one Docker host need different ports (ports.kong, ports.postgres) or "
                    "bind addresses")
    return found


def _ports(config: StackConfig) -> list[str]:
    host = config.docker_host or "the local Docker host"
    return [f"{port} on {config.bind_address} of {host}" for _, port in published_ports(config.ports, config.features)]


def _twice(what: str, pairs: Iterable[tuple[str, str]], fix: str) -> list[str]:
    stacks: dict[str, list[str]] = defaultdict(list)
    for stack, value in pairs:
        if stack not in stacks[value]:
            stacks[value].append(stack)
    return [f"{what} {value!r} is in stacks {', '.join(where)}: {fix}"
            for value, where in sorted(stacks.items()) if len(where) > 1]
