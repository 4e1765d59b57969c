"""python -m cells: the cells of this project folder (stacks with a `cell` block), together.

    python -m cells list                        # each cell: host, address, projects of maxProjects
    python -m cells check                       # every cell's config, and rules across cells
    python -m cells preview [--changed]         # each cell's `pulumi preview`, --parallel at a time
    python -m cells up [--changed] [--yes]      # each cell's `pulumi up`; --changed: only cells whose
                                                # config or program changed since their last up
    python -m cells dashboard --out site/       # one dashboard and status page over all cells
    ... [--stack NAME ...]                      # only these stacks

Adding or reviewing one project stays `pulumi preview` / `pulumi up --stack <its cell>`
(README, Cells). The passphrase and backend are the ones of `source scripts/env.sh`.
Exit codes: 0 done, 1 a check failed or a cell's run failed, 2 bad usage.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional

from pulumi import automation as auto

from cells import checks, outputs, runner
from cells.inventory import Cell, read_cells
from components.core.config.cell import DEFAULT_MAX_PROJECTS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cells", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("."), help="the project folder (Pulumi.yaml)")
    parser.add_argument("--stack", action="append", help="only this stack (repeatable)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the cells and what they hold")
    commands.add_parser("check", help="validate every cell and the rules across cells")
    for verb in runner.VERBS:
        sub = commands.add_parser(verb, help=f"`pulumi {verb}` of each cell")
        sub.add_argument("--changed", action="store_true", help="only cells changed since their last up")
        sub.add_argument("--parallel", type=int, default=2, help="cells at a time (default 2)")
        if verb == "up":
            sub.add_argument("--yes", action="store_true", help="run without asking (as `pulumi up --yes`)")
    dash = commands.add_parser("dashboard", help="one dashboard over all cells")
    dash.add_argument("--out", type=Path, default=Path("site"))
    return parser


def _list(cells: list[Cell]) -> int:
    for c in cells:
        limit = c.get("maxProjects", DEFAULT_MAX_PROJECTS)
        print(f"{c.stack}\tcell {c.name}\t{c.get('dockerHost') or 'local docker'}\t{c.get('address') or '-'}\t"
              f"{len(c.projects)} of {limit} projects")
    return 0


def _check(cells: list[Cell], found: Optional[list[str]] = None) -> int:
    found = checks.problems(cells) if found is None else found
    for line in found:
        print(f"  - {line}")
    print(f"{len(cells)} cells, {sum(len(c.projects) for c in cells)} projects: "
          + (f"{len(found)} problems" if found else "ok"))
    return 1 if found else 0


def _run(cells: list[Cell], args: argparse.Namespace, work: Path) -> int:
    if args.command == "up" and not args.yes:
        print("`python -m cells up` changes every selected cell: preview first, then run it with --yes",
              file=sys.stderr)
        return 2
    found = checks.problems(cells)
    if found:
        return _check(cells, found)
    results = runner.run(cells, args.command, lambda s: auto.select_stack(s, work_dir=str(work)),
                         parallel=args.parallel, only_changed=args.changed, stack_dir=work)
    for r in results:
        print(r.line)
    return 1 if any(r.error for r in results) else 0


def _dashboard(cells: list[Cell], out: Path, work: Path) -> int:
    from dashboard.build import build_site

    per_stack = [(c.stack, outputs.public(auto.select_stack(c.stack, work_dir=str(work)).outputs())) for c in cells]
    for warning in build_site(outputs.merged(per_stack), out):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{out}/index.html: {len(cells)} cells")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work = args.dir.resolve()
    os.chdir(work)  # a config's folders (supabaseDir, templatesDir) are relative to it, as for `pulumi up`
    cells = read_cells(auto.LocalWorkspace(work_dir=str(work)), args.stack)
    if not cells:
        print(f"no stack of {work} has a `cell` block (docs/cells.md)", file=sys.stderr)
        return 1
    if args.command == "list":
        return _list(cells)
    if args.command == "check":
        return _check(cells)
    if args.command == "dashboard":
        return _dashboard(cells, args.out, work)
    return _run(cells, args, work)


if __name__ == "__main__":
    sys.exit(main())
