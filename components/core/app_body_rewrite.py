"""The body of a function an app creates, mapped onto its project.

PostgreSQL keeps a function's body as a string constant, and pglast can parse a PL/pgSQL
body but not write one back. So a body is rewritten on libpg_query's own token stream
(the scanner PostgreSQL's parser and PL/pgSQL both use): only an identifier token that
qualifies a name (`public.` before a name, `auth.` before a table rather than a function
call) changes; strings, comments and everything else stay byte for byte. What the body
reaches unqualified resolves through the function's `SET search_path`, which the parse
tree rewrite maps (components/core/app_names.py).
"""
from __future__ import annotations

import pglast

from components.core.naming import ProjectNames

IDENTIFIERS = ("IDENT",)


def rewrite_body(body: str, names: ProjectNames) -> tuple[str, set[str]]:
    """The body with `public.x` -> `<schema>.x` and `auth.<table>` -> `<auth schema>.<table>`, and the
    schemas it still qualifies names with (checked by the caller)."""
    data = body.encode()
    try:
        tokens = pglast.parser.scan(body)
    except pglast.parser.ParseError:
        return body, set()
    out, last, schemas = [], 0, set()
    for i, token in enumerate(tokens):
        if token.name not in IDENTIFIERS or i + 2 >= len(tokens) or tokens[i + 1].name != "ASCII_46":
            continue
        word = data[token.start:token.end + 1].decode().strip('"').lower()
        if i > 0 and tokens[i - 1].name == "ASCII_46":
            continue  # the name after a qualifier, not a qualifier
        call = i + 3 < len(tokens) and tokens[i + 3].name == "ASCII_40"
        mapped = {"public": names.schema, "auth": word if call else names.auth_schema}.get(word, word)
        schemas.add(mapped)
        if mapped != word:
            out.append(data[last:token.start])
            out.append(f'"{mapped}"'.encode())
            last = token.end + 1
    out.append(data[last:])
    return b"".join(out).decode(), schemas
