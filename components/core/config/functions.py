"""`projects[].functions`: a project's own Edge Functions, as the Supabase CLI lays them out.

    functions:
      dir: apps/shop/supabase/functions   # relative to the stack's folder (where Pulumi.yaml is)
      verifyJwt: {stripe-webhook: false}  # per function; default true, as Supabase's
      secrets: {STRIPE_KEY: <secure>}     # the project's own env (`supabase secrets set`)
      disabled: [old-report]              # functions of the folder not served (config.toml enabled = false)

`dir` holds one folder per function, `<name>/index.ts`, named as the CLI names them
(supabase/cli internal/utils/misc.go FuncSlugPattern `^[A-Za-z][A-Za-z0-9_-]*$`); other
folders (`_shared`) ship along for imports but serve nothing. Secret names follow the CLI
too: an env name, never `SUPABASE_...`, which the runtime sets itself (supabase/cli
internal/secrets/set/set.go skips those).

A `projects[].supabaseDir` project reads its functions from `<supabaseDir>/functions` and its
`[functions.<name>] verify_jwt` from config.toml (components/core/app_functions.py, called by
parse_config); `FunctionsConfig.from_supabase_dir` makes this same model of them, so everything
downstream (files, env, gateway route) is shared. Its folder may be written as supabaseDir is
(absolute too): the operator chose that folder already.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from components.core.config.rules import ConfigModel

FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
FROM_SUPABASE_DIR = "from_supabase_dir"  # validation context: `dir` is <supabaseDir>/functions
ENTRYPOINT = "index.ts"  # the CLI's default entrypoint (supabase/cli pkg/config: [functions.<name>] entrypoint)


def function_names(folder: Path) -> list[str]:
    """The functions a folder serves: sub-folders named like functions, holding index.ts."""
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir()
                  if d.is_dir() and FUNCTION_NAME.fullmatch(d.name) and (d / ENTRYPOINT).is_file())


class FunctionsConfig(ConfigModel):
    dir: Path
    verify_jwt: dict[str, bool] = Field(default_factory=dict, alias="verifyJwt")
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Functions of the folder the project does not serve: their folders are not shipped, so the
    # runtime has nothing to run for them (an app's `[functions.<name>] enabled = false`).
    disabled: list[str] = Field(default_factory=list)

    @field_validator("dir")
    @classmethod
    def _dir(cls, v: Path, info: ValidationInfo) -> Path:
        from_app = bool(info.context and info.context.get(FROM_SUPABASE_DIR))
        if not from_app and (v.is_absolute() or ".." in v.parts):
            raise ValueError("must be a folder inside the stack's folder, written relative to it "
                             "(e.g. apps/shop/supabase/functions)")
        if not v.is_dir():
            raise ValueError("is not a folder (paths are relative to the folder holding Pulumi.yaml)")
        if not function_names(v):
            raise ValueError(f"holds no function: each function is a folder <name>/{ENTRYPOINT} "
                             "(names start with a letter; a-z, A-Z, 0-9, _ and -)")
        return v

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: dict[str, SecretStr]) -> dict[str, SecretStr]:
        bad = [n for n in v if not SECRET_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"not environment variable names (letters, digits, _): {', '.join(map(repr, bad))}")
        reserved = [n for n in v if n.upper().startswith("SUPABASE_")]
        if reserved:
            raise ValueError(f"{', '.join(reserved)}: names starting with SUPABASE_ are set by the stack "
                             "(SUPABASE_URL, the project's keys); choose another name")
        return v

    @model_validator(mode="after")
    def _known_functions(self) -> "FunctionsConfig":
        known = set(function_names(self.dir)) if self.dir.is_dir() else set()
        for key, named in (("verifyJwt", self.verify_jwt), ("disabled", self.disabled)):
            unknown = sorted(set(named) - known)
            if known and unknown:
                raise ValueError(f"{key}: {', '.join(unknown)} not among the functions of {str(self.dir)!r} "
                                 f"({', '.join(sorted(known))})")
        return self

    @property
    def names(self) -> list[str]:
        """The functions the project serves: the folder's, less the disabled ones."""
        return [n for n in function_names(self.dir) if n not in self.disabled]

    def verifies(self, name: str) -> bool:
        """Supabase's default: a function needs a valid JWT unless its config says otherwise."""
        return self.verify_jwt.get(name, True)

    @classmethod
    def from_supabase_dir(cls, supabase_dir: Path, verify_jwt: dict[str, bool],
                          secrets: Optional[dict[str, SecretStr]] = None,
                          disabled: Optional[list[str]] = None) -> "FunctionsConfig":
        """A `projects[].supabaseDir` app's functions: `<dir>/functions`, with config.toml's
        `[functions.<name>] verify_jwt` values over which the stack config's win (merged by
        components/core/app_functions.py), the stack config's secrets, and the functions
        config.toml turns off (`enabled = false`)."""
        return cls.model_validate({"dir": supabase_dir / "functions", "verifyJwt": verify_jwt,
                                   "secrets": secrets or {}, "disabled": disabled or []},
                                  context={FROM_SUPABASE_DIR: True})
