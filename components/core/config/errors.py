"""A config's problems as users read them: one line each, naming the key path, the value
(hidden for secrets) and the rule, in the config's words rather than pydantic's."""
from __future__ import annotations

import difflib
from typing import Any, Optional

import pulumi
from pydantic import BaseModel

from components.core.config.models import StackConfig
from components.core.config.rules import OAUTH_PROVIDERS, PORT_RULE, SECRET_KEYS, SECRET_LEAVES


class ConfigError(pulumi.RunError):
    """All problems of a stack config, one per line.

    A RunError: Pulumi's Python language host prints its message alone, with no traceback
    (sdk/python/cmd/pulumi-language-python-exec), so `pulumi up` ends with just the list.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


def _key_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _lookup(raw: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def describe(error: dict, raw: dict) -> list[str]:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return [_unknown_key(loc, raw)]
    if error["type"] == "value_error" and not loc:
        return str(error["ctx"]["error"]).split("\n")
    if error["type"] == "missing":
        return [f"{_key_path(loc)}: is required"]
    if "[key]" in loc:  # a bad key of a mapping: an unknown OAuth provider
        return [_unknown_provider(loc[: loc.index("[key]")])]
    value = _lookup(raw, loc)
    if isinstance(value, dict) and error["type"] == "value_error":  # a rule across an object's keys
        return [f"{_key_path(loc)}: {_rule(error, loc)}"]
    return [f"{_key_path(loc)}: {_shown(loc, value)} {_rule(error, loc)}"]


def _shown(loc: tuple, value: Any) -> str:
    secret = bool(loc) and (loc[0] in SECRET_KEYS or any(part in SECRET_LEAVES for part in loc))
    return "<hidden>" if secret else repr(value)


def _unknown_provider(loc: tuple) -> str:
    hint = difflib.get_close_matches(str(loc[-1]), OAUTH_PROVIDERS, n=1)
    return (f"{_key_path(loc)}: unknown provider; "
            + (f"did you mean {hint[0]!r}?" if hint else f"known: {', '.join(OAUTH_PROVIDERS)}"))


# pydantic error types that the stack config's fields can raise -> the rule in config words.
# Anything else falls back to a neutral sentence, never to pydantic's own wording.
_TYPE_RULES = {
    "string_type": "must be text",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_parsing_size": "must be a whole number",
    "int_from_float": "must be a whole number",
    "path_type": "must be a folder path (text)",
}
_OBJECT_TYPES = ("model_type", "model_attributes_type", "dict_type")


def _rule(error: dict, loc: tuple) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", "is not valid"))
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in _OBJECT_TYPES:
        model = _model_at(loc)
        return f"must be an object with keys {', '.join(_keys(model))}" if model else "must be an object"
    if loc and loc[0] == "ports":
        return PORT_RULE
    if "ge" in ctx or "gt" in ctx:
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if "le" in ctx or "lt" in ctx:
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    return _TYPE_RULES.get(kind, f"is not a valid value here ({kind})")


def _keys(model: type[BaseModel]) -> list[str]:
    """A model's config keys in declaration order, as the user writes them."""
    return [f.alias or n for n, f in model.model_fields.items()]


def _unknown_key(loc: tuple, raw: dict) -> str:
    *parent, key = loc
    model = _model_at(tuple(parent))
    known = sorted(_keys(model)) if model else []
    hint = difflib.get_close_matches(str(key), known, n=1)
    suggestion = f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(known)}"
    return f"{_key_path(loc)}: unknown key; {suggestion}"


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    model: Optional[type[BaseModel]] = StackConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        annotation = getattr(field, "annotation", None)
        args = getattr(annotation, "__args__", ()) or (annotation,)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return model
