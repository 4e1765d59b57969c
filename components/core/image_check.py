"""Compare the pinned images (components/core/images.py) with an upstream docker-compose.yml.

    python -m components.core.image_check                     # against the list stored in tests/fixtures
    python -m components.core.image_check docker-compose.yml  # against a compose file you downloaded
    python -m components.core.image_check docker-compose.yml docker-compose.pg17.yml docker-compose.kong.yml  # and the overrides pinned

Prints one line per difference and exits 1 when there is any, 0 when the pins match, 2 when
the file cannot be read. No network: fetch the compose file yourself (README, "Upgrading").
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping, Optional

import yaml

from components.core.images import IMAGES, OVERRIDE_PINS, OWN_SERVICES, UPSTREAM_COMMIT

STORED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "upstream-images.json"


# Upstream override file name -> (its service, the pin here it sets), from images.OVERRIDE_PINS.
OVERRIDE_FILES = {Path(pin.path).name: (pin.service, key) for key, pin in OVERRIDE_PINS.items()}


class UnreadableCompose(Exception):
    """The file is not a compose file (or the stored list) this check can read."""


class _ComposeLoader(yaml.SafeLoader):
    """YAML with the Compose specification's merge tags (`!override`, `!reset`), which
    upstream's override files use (docker-compose.kong.yml: `ports: !override`)."""


for _tag in ("!override", "!reset"):
    _ComposeLoader.add_constructor(_tag, lambda loader, node: (
        loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)))


def compose_images(text: str) -> dict[str, str]:
    """service -> image of a docker-compose.yml or of an override file."""
    try:
        services = (yaml.load(text, Loader=_ComposeLoader) or {}).get("services")
    except (yaml.YAMLError, AttributeError) as err:
        raise UnreadableCompose(f"not a compose file: {err}") from None
    if not isinstance(services, dict):
        raise UnreadableCompose("no `services:` mapping")
    return {name: spec["image"] for name, spec in services.items() if isinstance(spec, dict) and spec.get("image")}


def stored_images(path: Path = STORED) -> tuple[str, dict[str, str]]:
    """The commit and image list recorded in tests/fixtures/upstream-images.json, with the pins
    of the override files it records (as the keys of this table they set)."""
    data = json.loads(path.read_text())
    images = _without_overridden(data["images"])
    for name, override in data.get("overrides", {}).items():
        images |= _override_images(name, override["images"])
    return data["commit"], images


def _without_overridden(images: Mapping[str, str]) -> dict[str, str]:
    """A compose file's images without the services whose pin follows an override file instead
    (the compose file's kong:2.8.1 is not what the kong pin is compared with)."""
    return {name: ref for name, ref in images.items() if name not in OVERRIDE_PINS}


def _override_images(path: str, images: Mapping[str, str]) -> dict[str, str]:
    """The pins an override file's images stand for, keyed as images.IMAGES keys them."""
    known = OVERRIDE_FILES.get(Path(path).name)
    if known is None:
        raise UnreadableCompose(f"{path}: not an override this check knows ({', '.join(OVERRIDE_FILES)})")
    service, key = known
    return {key: images[service]} if service in images else {}


def differences(pinned: Mapping[str, str], upstream: Mapping[str, str]) -> list[str]:
    """One line per service whose image differs, or that only one side runs. A pin that follows
    an override file (images.OVERRIDE_PINS) is compared with that file's image, when it was read."""
    lines = []
    for service in sorted(set(pinned) | set(upstream)):
        mine, theirs = pinned.get(service), upstream.get(service)
        pin = OVERRIDE_PINS.get(service)
        if mine == theirs or (theirs is None and (service in OWN_SERVICES or pin is not None)):
            continue
        source = f"upstream's {pin.path}" if pin else "upstream"
        if theirs is None:
            lines.append(f"{service}: pinned {mine}; upstream has no such service")
        elif mine is None:
            lines.append(f"{service}: upstream runs {theirs}; this stack has no such service")
        else:
            lines.append(f"{service}: pinned {mine}, {source} {theirs}")
    return lines


def read(source: Optional[str], overrides: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """(what was compared, images) from a compose file and its overrides, or from the stored list."""
    if source is None:
        commit, images = stored_images()
        return f"the stored upstream list (supabase/supabase {commit[:12]})", images
    images = _without_overridden(compose_images(_text(source)))
    for path in overrides:
        images |= _override_images(path, compose_images(_text(path)))
    return " + ".join((source, *overrides)), images


def _text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as err:
        raise UnreadableCompose(f"cannot read {path}: {err.strerror}") from None


def main(argv: list[str]) -> int:
    try:
        label, upstream = read(argv[0] if argv else None, tuple(argv[1:]))
    except UnreadableCompose as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    lines = differences(IMAGES, upstream)
    print(f"components/core/images.py (from {UPSTREAM_COMMIT[:12]}) vs {label}: "
          + (f"{len(lines)} difference{'s' if len(lines) != 1 else ''}" if lines else "the same images"))
    for line in lines:
        print(f"  {line}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
