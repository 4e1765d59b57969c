"""Kong's request-transformer (kong/plugins/request-transformer/access.lua at 2.8.1: remove,
rename, replace, add, append, in that order; `add` only sets a header the request lacks) and
strip_path, for the functions routes: what the edge runtime receives from a route."""
from __future__ import annotations

from tests.kong_model import match, plugin


def upstream_request(config: dict, path: str, headers: dict[str, str], host: str = "127.0.0.1") -> tuple[dict, str, dict]:
    """(service, upstream path, upstream headers) of a request on the route it takes."""
    service, route = match(config, path, host)
    prefix = max((p for p in route["paths"] if path.startswith(p)), key=len)
    rest = path[len(prefix):] if route.get("strip_path") else path
    upstream = "/" + rest.lstrip("/")
    out = {k.lower(): v for k, v in headers.items()}
    conf = plugin(service, "request-transformer") or {}
    for name in conf.get("remove", {}).get("headers", []):
        out.pop(name.lower(), None)
    for item in conf.get("add", {}).get("headers", []):
        name, _, value = item.partition(":")
        out.setdefault(name.lower(), value)
    return service, upstream, out
