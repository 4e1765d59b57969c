"""Client examples for a project's card: curl, supabase-js and supabase-py, all against the
project's one URL (the gateway pins its schema, so no `db.schema` and no profile header).

Each example is rendered from the same list of `Request`s (the template's quickstart, see
components/quickstart.py), and tests/test_dashboard_examples.py runs those requests against
the template on a real PostgreSQL: what the page shows is what was tested.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

EMAIL = "you@example.com"
PASSWORD = "choose-a-long-password"


@dataclass(frozen=True)
class Request:
    """One call of an example: read a table (anon key), sign up or in, insert as that user."""

    action: str  # read | signup | signin | insert
    table: Optional[str] = None
    select: str = "*"
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Example:
    id: str
    title: str
    language: str
    code: str
    note: str = ""


def requests_for(quickstart: Optional[dict], first_table: Optional[str], signup_open: bool) -> list[Request]:
    """The template's quickstart as requests; without one, a read of the first table."""
    if not quickstart:
        return [Request("read", first_table or "your_table")]
    read = quickstart["read"]
    steps = [Request("read", read["table"], read.get("select", "*"))]
    inserts = [Request("insert", s["table"], body=dict(s["insert"])) for s in quickstart.get("signedIn", [])]
    if inserts:
        steps += ([Request("signup")] if signup_open else []) + [Request("signin"), *inserts]
    return steps


def _js_value(body: dict) -> str:
    return "{ " + ", ".join(f"{k}: {json.dumps(v)}" for k, v in body.items()) + " }"


def _py_value(body: dict) -> str:
    def one(v: Any) -> str:
        return repr(v) if isinstance(v, bool) else json.dumps(v)
    return "{" + ", ".join(f"{json.dumps(k)}: {one(v)}" for k, v in body.items()) + "}"


CREDENTIALS = json.dumps({"email": EMAIL, "password": PASSWORD})
COMMENTS = {
    "read": "anyone: what row level security lets the anon key read",
    "signup": "a new user of this project (its own user pool)",
    "signin": "sign in: the user's access token",
    "insert": "as that user: row level security lets them write their own rows",
}


def _comment(lines: list[str], said: set[str], action: str, mark: str) -> None:
    """One comment before the first request of each kind."""
    if action not in said:
        lines += ["", f"{mark} {COMMENTS[action]}"]
        said.add(action)


@dataclass(frozen=True)
class Language:
    """How one client writes each kind of request: the same requests, three languages."""

    mark: str  # comment marker
    header: Callable[[str, str], list[str]]  # (url, key) -> the client's set-up lines
    write: dict[str, Callable[[Request], str]]  # action -> the request's line(s)


JS_CREDENTIALS = f"{{ email: '{EMAIL}', password: '{PASSWORD}' }}"
PY_CREDENTIALS = _py_value({"email": EMAIL, "password": PASSWORD})
CURL_JSON = "-H 'Content-Type: application/json'"

CURL = Language("#", lambda url, key: [f"URL='{url}'", f"KEY='{key}'"], {
    "read": lambda r: f'curl "$URL/rest/v1/{r.table}?select={r.select}" -H "apikey: $KEY"',
    "signup": lambda r: f'curl -X POST "$URL/auth/v1/signup" -H "apikey: $KEY" \\\n  {CURL_JSON} -d \'{CREDENTIALS}\'',
    "signin": lambda r: (f'TOKEN=$(curl -s -X POST "$URL/auth/v1/token?grant_type=password" -H "apikey: $KEY" \\\n'
                         f"  {CURL_JSON} -d '{CREDENTIALS}' \\\n"
                         "  | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"access_token\"])')"),
    "insert": lambda r: (f'curl -X POST "$URL/rest/v1/{r.table}" -H "apikey: $KEY" -H "Authorization: Bearer $TOKEN" \\\n'
                         f"  {CURL_JSON} -d '{json.dumps(r.body)}'"),
})
JS = Language("//", lambda url, key: ["import { createClient } from '@supabase/supabase-js'", "",
                                      f"const supabase = createClient('{url}', '{key}')"], {
    "read": lambda r: f"const {{ data, error }} = await supabase.from('{r.table}').select('{r.select}')",
    "signup": lambda r: f"await supabase.auth.signUp({JS_CREDENTIALS})",
    "signin": lambda r: f"await supabase.auth.signInWithPassword({JS_CREDENTIALS})",
    "insert": lambda r: f"await supabase.from('{r.table}').insert({_js_value(r.body)})",
})
PY = Language("#", lambda url, key: ["from supabase import create_client", "", f'supabase = create_client("{url}", "{key}")'], {
    "read": lambda r: f'rows = supabase.table("{r.table}").select("{r.select}").execute()',
    "signup": lambda r: f"supabase.auth.sign_up({PY_CREDENTIALS})",
    "signin": lambda r: f"supabase.auth.sign_in_with_password({PY_CREDENTIALS})",
    "insert": lambda r: f'supabase.table("{r.table}").insert({_py_value(r.body)}).execute()',
})


def render(language: Language, url: str, key: str, requests: list[Request]) -> str:
    lines = language.header(url, key)
    said: set[str] = set()
    for r in requests:
        _comment(lines, said, r.action, language.mark)
        lines.append(language.write[r.action](r))
    return "\n".join(lines)


def examples(url: str, key: Optional[str], requests: list[Request], placeholder_table: bool) -> list[Example]:
    key = key or "ANON_KEY"
    found = [Example("curl", "curl", "shell", render(CURL, url, key, requests)),
             Example("js", "supabase-js", "javascript", render(JS, url, key, requests)),
             Example("py", "supabase-py", "python", render(PY, url, key, requests))]
    if placeholder_table:
        for example in found:
            example.note = "This project has no tables yet: replace your_table."
    return found


def storage_example(url: str, key: Optional[str], project: str, buckets: list) -> Example:
    """supabase-js Storage on the project URL: upload into the user's own folder, download,
    and the public URL of a public bucket, each bucket by its name as the app names it (the
    gateway maps it to the id, components/core/kong_storage_lua.py). `buckets` have `name` and `public`."""
    private = next((b for b in buckets if not b.public), None)
    public = next((b for b in buckets if b.public), None)
    bucket = (private or public).name if buckets else "your_bucket"
    lines = ["import { createClient } from '@supabase/supabase-js'", "",
             f"const supabase = createClient('{url}', '{key or 'ANON_KEY'}')",
             "const { data: { user } } = await supabase.auth.getUser()  // signed in", "",
             "// signed-in users write only under their own folder, <user id>/...",
             f"await supabase.storage.from('{bucket}').upload(`${{user.id}}/notes.txt`, file)",
             f"const {{ data: blob }} = await supabase.storage.from('{bucket}').download(`${{user.id}}/notes.txt`)"]
    if public:
        lines += ["", "// anyone reads a public bucket",
                  f"const {{ data: {{ publicUrl }} }} = supabase.storage.from('{public.name}').getPublicUrl('path/to/file.png')"]
    note = (f"Buckets are named as in the stack config; the project's URL maps a name to its id "
            f"{project}-<name>, and takes the id too." if buckets
            else "This project declares no buckets yet: add projects[].storage.buckets to the stack config.")
    return Example("storage", "Storage (supabase-js)", "javascript", "\n".join(lines), note)


def realtime_example(url: str, key: Optional[str], project: str, schema: str, tables: list[str]) -> Example:
    """supabase-js Realtime on the project URL: table changes and a private channel of the project."""
    table = tables[0] if tables else "your_table"
    code = "\n".join([
        "import { createClient } from '@supabase/supabase-js'", "",
        f"const supabase = createClient('{url}', '{key or 'ANON_KEY'}')", "",
        f"// channels are private only (a public one is refused); this project's topics start with '{project}:'",
        f"const channel = supabase.channel('{project}:room-1', {{ config: {{ private: true }} }})",
        f"  .on('postgres_changes', {{ event: '*', schema: '{schema}', table: '{table}' }},",
        "      (change) => console.log(change))",
        "  .on('broadcast', { event: 'message' }, ({ payload }) => console.log(payload))",
        "  .subscribe()", "",
        "await channel.send({ type: 'broadcast', event: 'message', payload: { text: 'hello' } })"])
    note = ("Changes arrive only for rows the key's role may read (row level security)." if tables
            else "This project publishes no table yet: list tables in its template's realtime.json.")
    return Example("realtime", "Realtime (supabase-js)", "javascript", code, note)
