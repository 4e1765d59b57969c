"""Command line: `python -m dashboard build [--outputs FILE|-] [--out DIR] [--stack NAME]`.

Exit codes: 0 built (warnings may be printed), 2 the outputs could not be read (missing
file, bad JSON, no pulumi CLI), 1 the site could not be written. Errors are one line on
stderr, never a traceback: this runs in CI logs and in shells of people who did not
write it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .build import InputError, build_site

PULUMI_TIMEOUT_S = 120


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Generate the static project dashboard and status page.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build = commands.add_parser(
        "build",
        help="build the site from stack outputs",
        description="Build the site from `pulumi stack output --json` (never --show-secrets).",
    )
    build.add_argument(
        "--outputs", metavar="FILE",
        help="stack outputs as JSON; '-' reads stdin; default: run `pulumi stack output --json`",
    )
    build.add_argument("--out", metavar="DIR", default="site", help="output folder (default: site)")
    build.add_argument(
        "--stack", metavar="NAME",
        help="stack name to show (and to pass to pulumi); default: the outputs' `stack`, "
             "else $PULUMI_STACK",
    )
    return parser.parse_args(argv)


def run_pulumi(stack: str | None) -> str:
    """`pulumi stack output --json` without --show-secrets, so secrets arrive as "[secret]"."""
    command = ["pulumi", "stack", "output", "--json"]
    if stack:
        command += ["--stack", stack]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S)
    except FileNotFoundError:
        raise InputError(
            "the pulumi CLI is not installed or not on PATH "
            "(install it from https://www.pulumi.com/docs/install/ or pass --outputs FILE)"
        ) from None
    except subprocess.TimeoutExpired:
        raise InputError(f"`{' '.join(command)}` did not finish in {PULUMI_TIMEOUT_S} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise InputError(f"`{' '.join(command)}` failed: {reason}")
    return result.stdout


def read_text(source: str) -> str:
    """The text of a file or of stdin ('-'), with read errors turned into InputError."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"outputs file not found: {source}") from None
    except IsADirectoryError:
        raise InputError(f"outputs path is a directory, not a file: {source}") from None
    except UnicodeDecodeError:
        raise InputError(f"outputs file is not UTF-8 text: {source}") from None
    except OSError as error:
        raise InputError(f"cannot read outputs file {source}: {error.strerror}") from None


def load_outputs(source: str | None, stack: str | None) -> dict:
    """The outputs object from a file, stdin or pulumi itself."""
    if source is None:
        text, origin = run_pulumi(stack), "the output of `pulumi stack output --json`"
    else:
        text, origin = read_text(source), ("stdin" if source == "-" else source)
    if not text.strip():
        raise InputError(f"{origin} is empty; expected the JSON of `pulumi stack output --json`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{origin} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{origin} must be a JSON object of stack outputs, got a JSON {type(data).__name__}"
        )
    return data


def build(args: argparse.Namespace) -> int:
    try:
        outputs = load_outputs(args.outputs, args.stack)
        out = Path(args.out)
        warnings = build_site(outputs, out, stack=args.stack)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write the site to {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"dashboard written to {out / 'index.html'} and {out / 'status.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "build":
        return build(args)
    return 2  # argparse rejects unknown commands before this


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
