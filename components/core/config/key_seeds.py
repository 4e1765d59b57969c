"""`projects[].keys.seeds` (secret): the key seeds of a project that moved here from another cell.

A project's keys are pure functions of its seeds (components/core/project_keys.py), which
pulumi-random draws once per stack. A project re-created in another cell's stack would draw
new ones, and every key, token and session issued by its old cell would fail. So the seeds
of the old cell (its `projectKeySeeds` output) can be given here, generation -> seed, and a
generation with a seed gets no pulumi-random seed of its own (ProjectCredentials): nothing
in the new cell's state could later replace it with a different key (docs/cells.md,
"Moving a project").
"""
from __future__ import annotations

import re
from typing import Optional

from pydantic import SecretStr, ValidationInfo, field_validator

from components.core import opaque_keys
from components.core.config.rules import ConfigModel
from components.core.signing_keys import SEED_LENGTH

# kind -> (length, alphabet, in words): what ProjectCredentials draws for that kind.
SHAPES = {
    "signing": (SEED_LENGTH, re.compile(r"[A-Za-z0-9]+"), "letters and digits"),
    "api": (2 * opaque_keys.RANDOM_LENGTH, re.compile(r"[A-Za-z0-9_-]+"), "letters, digits, '_' and '-'"),
}
FROM_SOURCE = "copy it from the source cell's `pulumi stack output projectKeySeeds --show-secrets`"


class KeySeeds(ConfigModel):
    """generation (as text, the way `--path` keys are) -> seed, per kind of key."""

    signing: Optional[dict[str, SecretStr]] = None
    api: Optional[dict[str, SecretStr]] = None

    @field_validator("signing", "api")
    @classmethod
    def _shape(cls, v: Optional[dict[str, SecretStr]], info: ValidationInfo) -> Optional[dict[str, SecretStr]]:
        """Exactly what the source drew: a cut-off copy is a different key, so it is refused."""
        length, alphabet, chars = SHAPES[info.field_name]
        for generation, seed in (v or {}).items():
            if not generation.isdigit() or not 1 <= int(generation) <= 1000:
                raise ValueError(f"{generation!r} is not a key generation (a number from 1 to 1000)")
            text = seed.get_secret_value()
            if len(text) != length or not alphabet.fullmatch(text):
                raise ValueError(f"generation {generation}: a seed is exactly {length} {chars} (this one has "
                                 f"{len(text)} characters); {FROM_SOURCE}")
        return v

    def check(self, live: dict[str, list[int]]) -> None:
        """Against the project's live generations (kind -> generations, newest first): every seed
        names a generation it has had, and no live generation older than a seeded one lacks its
        seed (it would get a new key, and what the source cell signed with it would fail here).
        A generation newer than every seed is a rotation made after the move: it gets its own."""
        for kind, generations in live.items():
            given = getattr(self, kind)
            if not given:
                raise ValueError(f"seeds.{kind}: no seed given; a moved project needs every seed of its entry in "
                                 f"projectKeySeeds ({FROM_SOURCE})")
            seeded = sorted(int(g) for g in given)
            if seeded[-1] > generations[0]:
                raise ValueError(f"seeds.{kind}: generation {seeded[-1]} is newer than keys.{kind} "
                                 f"({generations[0]}); set keys.signing, keys.verifying and keys.api as the "
                                 "source cell has them")
            missing = [g for g in generations if g < seeded[-1] and g not in seeded]
            if missing:
                raise ValueError(f"seeds.{kind}: no seed for generation {missing[0]}, which still verifies; "
                                 f"{FROM_SOURCE}")

    def seed(self, kind: str, generation: int) -> Optional[str]:
        value = (getattr(self, kind) or {}).get(str(generation))
        return value.get_secret_value() if value else None
