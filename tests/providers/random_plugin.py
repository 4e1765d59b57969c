"""Stand-in for pulumi-resource-random (pulumi-random 4.x, terraform-provider-random underneath).

Values of the real shapes: RandomPassword.result has exactly `length` characters, drawn from
the enabled classes (lower, upper, numeric, special with `overrideSpecial`), with at least
`min*` of each and at least one of each enabled class as terraform-provider-random's
string generator guarantees; bcryptHash is a bcrypt-shaped hash. RandomBytes returns
`length` bytes as base64 and hex. Every input replaces (they are all RequiresReplace there,
keepers included).
"""
from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from tests.providers.server import ProviderError, ResourceType, StandIn, serve

DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"  # terraform-provider-random internal/random/string.go


def _with_defaults(inputs: dict[str, Any]) -> dict[str, Any]:
    numeric = inputs.get("numeric", inputs.get("number", True))
    return {"lower": True, "upper": True, "special": True, "minLower": 0, "minUpper": 0, "minNumeric": 0,
            "minSpecial": 0, **inputs, "numeric": numeric, "number": numeric}


def generate(props: dict[str, Any]) -> str:
    length = int(props["length"])
    classes = [(props["lower"], string.ascii_lowercase, int(props["minLower"])),
               (props["upper"], string.ascii_uppercase, int(props["minUpper"])),
               (props["numeric"], string.digits, int(props["minNumeric"])),
               (props["special"], props.get("overrideSpecial") or DEFAULT_SPECIAL, int(props["minSpecial"]))]
    enabled = [(chars, max(minimum, 1)) for on, chars, minimum in classes if on]
    if not enabled:
        raise ProviderError("the character set specified is empty")
    chars = [secrets.choice(pool) for pool, minimum in enabled for _ in range(minimum)]
    if len(chars) > length:
        raise ProviderError(f"length ({length}) must be at least the sum of the minimums ({len(chars)})")
    everything = "".join(pool for pool, _ in enabled)
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class RandomPassword(ResourceType):
    def check(self, news, olds):
        return [] if int(news.get("length", 0)) >= 1 else ["length: must be at least 1"]

    def create(self, inputs):
        props = _with_defaults(inputs)
        result = generate(props)
        salt = base64.b64encode(secrets.token_bytes(16)).decode()[:22].replace("+", ".")
        bcrypt = f"$2a$10${salt}{base64.b64encode(secrets.token_bytes(23)).decode()[:31].replace('+', '.')}"
        return "none", {**props, "result": result, "bcryptHash": bcrypt}


class RandomBytes(ResourceType):
    def check(self, news, olds):
        return [] if int(news.get("length", 0)) >= 1 else ["length: must be at least 1"]

    def create(self, inputs):
        data = secrets.token_bytes(int(inputs["length"]))
        encoded = base64.b64encode(data).decode()
        return encoded, {**inputs, "base64": encoded, "hex": data.hex()}


TYPES = {
    "random:index/randomPassword:RandomPassword": RandomPassword,
    "random:index/randomBytes:RandomBytes": RandomBytes,
}

if __name__ == "__main__":
    serve(StandIn("random", TYPES))
