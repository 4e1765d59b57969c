"""Kong 3.9.3's schemas of the plugins this stack configures, as a ruleset for `deck file lint`.

`deck file validate` checks a declarative file offline against decK's own JSON schema, which
takes any `config` object for a plugin: a misspelt field (`key_claim_nam`) or a value Kong
refuses would pass it, and `deck gateway validate` needs a running Kong. So each plugin's
config schema is transcribed here from Kong's source at tag 3.9.3 (commit
a643428bc4d5397152164a63bcc0f8bc65fce69d) into JSON Schema, and decK's linter (vacuum rules,
function `schema`) applies it to every plugin of that name in the file:

| plugin | Kong source |
|---|---|
| jwt | kong/plugins/jwt/schema.lua (its credentials: kong/plugins/jwt/daos.lua) |
| pre-function, post-function | kong/plugins/pre-function/_schema.lua (post-function/schema.lua uses it) |
| acl | kong/plugins/acl/schema.lua |
| cors | kong/plugins/cors/schema.lua |
| key-auth | kong/plugins/key-auth/schema.lua |
| request-transformer | kong/plugins/request-transformer/schema.lua |
| basic-auth | kong/plugins/basic-auth/schema.lua |
| request-termination | kong/plugins/request-termination/schema.lua |

How Kong's schema words map (kong/db/schema/init.lua): `record` is an object with only its
fields; `set` an array (Kong drops repeated elements, init.lua:1598; the rules refuse them, so
the file says what Kong runs); `array` an array; `one_of` an enum; `between`
a minimum and maximum; `match` a Lua pattern (here as the same regex); a field `required`
with a `default` may be left out (Kong fills it). Entity checks: `at_least_one_of` is
anyOf-required, `only_one_of` at most one, `conditional` an if/then. A custom validator is
transcribed where it is a plain pattern (header names: kong/tools/http.lua:271-282,
`^[a-zA-Z0-9-_]+$`); what no JSON Schema can say (a Lua chunk compiles; an origin is a valid
regex) the LuaJIT tests check (tests/kong_guard.py) or the file never uses.
A plugin whose name is not in this table fails the lint: a new plugin needs its schema here.
"""
from __future__ import annotations

from typing import Any

HEADER_NAME = "^[a-zA-Z0-9_-]+$"  # kong/tools/http.lua:276 (typedefs.header_name)
STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
SET_OF_STRINGS: dict[str, Any] = {**STRINGS, "uniqueItems": True}


def record(fields: dict[str, Any], **checks: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": fields, **checks}


def at_least_one_of(*names: str) -> list[dict[str, Any]]:
    return [{"required": [n]} for n in names]


# kong/plugins/jwt/schema.lua: fields, then entity_checks (maximum_expiration > 0 needs exp).
JWT = record({
    "uri_param_names": SET_OF_STRINGS,
    "cookie_names": SET_OF_STRINGS,
    "key_claim_name": {"type": "string"},
    "secret_is_base64": {"type": "boolean"},
    "claims_to_verify": {"type": "array", "uniqueItems": True, "items": {"type": "string", "enum": ["exp", "nbf"]}},
    "anonymous": {"type": "string"},
    "run_on_preflight": {"type": "boolean"},
    "maximum_expiration": {"type": "number", "minimum": 0, "maximum": 31536000},
    "header_names": SET_OF_STRINGS,
    "realm": {"type": "string"},
}, **{"if": {"required": ["maximum_expiration"], "properties": {"maximum_expiration": {"not": {"const": 0}}}},
      "then": {"required": ["claims_to_verify"], "properties": {"claims_to_verify": {"contains": {"const": "exp"}}}}})

# kong/plugins/jwt/daos.lua: a jwt_secrets credential (algorithm one_of; RS*/PS*/EdDSA need a key).
JWT_SECRET_ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                         "PS256", "PS384", "PS512", "EdDSA"]
JWT_SECRET = record({
    "id": {"type": "string"}, "created_at": {"type": "number"},
    "key": {"type": "string"}, "secret": {"type": "string"}, "rsa_public_key": {"type": "string"},
    "algorithm": {"type": "string", "enum": JWT_SECRET_ALGORITHMS},
    "tags": STRINGS,
}, **{"if": {"required": ["algorithm"], "properties": {"algorithm": {"pattern": "^(RS|PS)(256|384|512)$|^EdDSA$"}}},
      "then": {"required": ["rsa_public_key"]}})

# kong/plugins/pre-function/_schema.lua: each phase an array of Lua chunks; at least one phase.
PHASES = ("certificate", "rewrite", "access", "header_filter", "body_filter", "log")
SERVERLESS = record({phase: STRINGS for phase in PHASES}, anyOf=at_least_one_of(*PHASES))

# kong/plugins/acl/schema.lua: allow or deny, exactly one of them.
ACL = record({
    "allow": STRINGS, "deny": STRINGS,
    "hide_groups_header": {"type": "boolean"},
    "always_use_authenticated_groups": {"type": "boolean"},
}, oneOf=at_least_one_of("allow", "deny"))

# kong/plugins/cors/schema.lua
CORS_METHODS = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
CORS = record({
    "origins": STRINGS, "headers": STRINGS, "exposed_headers": STRINGS,
    "methods": {"type": "array", "items": {"type": "string", "enum": CORS_METHODS}},
    "max_age": {"type": "number"},
    "credentials": {"type": "boolean"}, "private_network": {"type": "boolean"},
    "preflight_continue": {"type": "boolean"},
})

# kong/plugins/key-auth/schema.lua
KEY_AUTH = record({
    "key_names": {"type": "array", "items": {"type": "string", "pattern": HEADER_NAME}},
    "hide_credentials": {"type": "boolean"},
    "anonymous": {"type": "string"},
    "key_in_header": {"type": "boolean"}, "key_in_query": {"type": "boolean"}, "key_in_body": {"type": "boolean"},
    "run_on_preflight": {"type": "boolean"},
    "realm": {"type": "string"},
})


# kong/plugins/request-transformer/schema.lua: `remove` names, the others `name:value` pairs
# (check_for_value: a value after the colon; headers: a valid header name before it).
def _pairs(headers: str) -> dict[str, Any]:
    return record({"body": {"type": "array", "items": {"type": "string", "pattern": "^[^:]+:+.+$"}},
                   "headers": {"type": "array", "items": {"type": "string", "pattern": headers}},
                   "querystring": {"type": "array", "items": {"type": "string", "pattern": "^[^:]+:+.+$"}}})


NAME_VALUE = "^[a-zA-Z0-9_-]+:.*$"
REQUEST_TRANSFORMER = record({
    "http_method": {"type": "string", "pattern": "^[A-Z]+$"},  # typedefs.http_method, match "^%u+$"
    "remove": record({"body": STRINGS, "headers": {"type": "array", "items": {"type": "string",
                                                                               "pattern": "^[a-zA-Z0-9_-]+(:.*)?$"}},
                      "querystring": STRINGS}),
    "rename": _pairs("^[a-zA-Z0-9_-]+:[a-zA-Z0-9_-]+$"),
    "replace": {**_pairs(NAME_VALUE), "properties": {**_pairs(NAME_VALUE)["properties"], "uri": {"type": "string"}}},
    "add": _pairs(NAME_VALUE),
    "append": _pairs(NAME_VALUE),
})

# kong/plugins/basic-auth/schema.lua
BASIC_AUTH = record({"anonymous": {"type": "string"}, "hide_credentials": {"type": "boolean"},
                     "realm": {"type": "string"}})

# kong/plugins/request-termination/schema.lua (its custom validator: message excludes a body)
REQUEST_TERMINATION = record({
    "status_code": {"type": "integer", "minimum": 100, "maximum": 599},
    "message": {"type": "string"}, "content_type": {"type": "string"}, "body": {"type": "string"},
    "echo": {"type": "boolean"}, "trigger": {"type": "string", "pattern": HEADER_NAME},
}, **{"not": {"required": ["message", "body"]}})

CONFIGS: dict[str, dict[str, Any]] = {
    "jwt": JWT, "pre-function": SERVERLESS, "post-function": SERVERLESS, "acl": ACL, "cors": CORS,
    "key-auth": KEY_AUTH, "request-transformer": REQUEST_TRANSFORMER, "basic-auth": BASIC_AUTH,
    "request-termination": REQUEST_TERMINATION,
}
# Plugins whose schema has `consumer = typedefs.no_consumer` (all here but request-transformer
# and request-termination): they cannot be scoped to a consumer.
NO_CONSUMER = frozenset(CONFIGS) - {"request-transformer", "request-termination"}

# What holds plugins in a declarative file: its top level, each service, route and consumer
# (a nested plugin belongs to its parent). Each rule reads one top-level list of the file
# (`plugins`, `services` with their routes, `routes`, `consumers`) as ONE node, whose
# `plugins` lists carry the check: decK v1.55.0's linter gives each rule 5 s and then skips it
# with only a log line ("Rule timed out"), and a rule applied to each of a few hundred
# services and routes takes longer; nor does it report anything for a `schema` function
# without `field`, or on nodes picked by a filter expression (`plugins[?(@.name == 'jwt')]`),
# hence the if/then inside the schema.
def _holders(plugins: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level field -> the schema of that list, with `plugins` checked wherever it nests."""
    lists = {"type": "array", "items": plugins}
    holder = {"type": "object", "properties": {"plugins": lists}}
    service = {"type": "object", "properties": {"plugins": lists, "routes": {"type": "array", "items": holder}}}
    return {"plugins": lists, "services": {"type": "array", "items": service},
            "routes": {"type": "array", "items": holder}, "consumers": {"type": "array", "items": holder}}


def plugin_schema(name: str) -> dict[str, Any]:
    """A plugin entity as the file nests it: its name, its config and Kong's generic fields."""
    fields: dict[str, Any] = {"name": {"const": name}, "config": CONFIGS[name], "enabled": {"type": "boolean"},
                              "protocols": STRINGS, "tags": STRINGS, "instance_name": {"type": "string"},
                              "id": {"type": "string"}}
    if name not in NO_CONSUMER:
        fields["consumer"] = {}
    return record(fields, required=["name"])


def _plugins_rules(name: str, description: str, item: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}-in-{field}": {"description": description, "given": "$", "severity": "error",
                                   "then": {"field": field, "function": "schema",
                                            "functionOptions": {"schema": schema}}}
            for field, schema in _holders(item).items()}


def ruleset() -> dict[str, Any]:
    """The vacuum ruleset `deck file lint` reads (write it as YAML or JSON)."""
    rules: dict[str, Any] = _plugins_rules(
        "kong-3.9.3-known-plugins", "a plugin whose Kong 3.9.3 schema is transcribed in tests/kong_schema_rules.py",
        {"type": "object", "required": ["name"], "properties": {"name": {"enum": sorted(CONFIGS)}}})
    for name in CONFIGS:
        rules |= _plugins_rules(
            f"kong-3.9.3-{name}", f"the {name} plugin as Kong 3.9.3 defines it",
            {"if": {"type": "object", "required": ["name"], "properties": {"name": {"const": name}}},
             "then": plugin_schema(name)})
    rules["kong-3.9.3-jwt-secrets"] = {
        "description": "a jwt credential as kong/plugins/jwt/daos.lua defines it",
        "given": "$", "severity": "error",
        "then": {"field": "consumers", "function": "schema", "functionOptions": {"schema": {
            "type": "array", "items": {"type": "object", "properties": {
                "jwt_secrets": {"type": "array", "items": JWT_SECRET}}}}}},
    }
    return {"rules": rules}
