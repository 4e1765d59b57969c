"""Storage's database side of a request, as supabase/storage-api v1.44.2 runs it.

src/http/plugins/jwt.ts verifies the bearer token with the stack's JWT secret (an invalid
or missing token is role `anon` on the routes that allow it); src/http/plugins/db.ts opens
a connection for the token's payload; src/internal/database/connection.ts `setScope`
switches, inside the transaction, to the payload's role with its claims; the pool's
search_path is `storage, public, extensions` (src/internal/database/pool.ts). Every query
below is the one src/storage/database/knex.ts sends for the operation. What Storage runs
"as super user" (the service key's payload, src/internal/database/tenant.ts) is
`as_service_role`.
"""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional

import jwt
import psycopg
from psycopg.conninfo import conninfo_to_dict

from components.core import keys
from tests import pg

STORAGE_USER = "supabase_storage_admin"  # DATABASE_URL of the storage container (components/resources/services.py)
SEARCH_PATH = "storage, public, extensions"
JWT_SECRET = "storage-api-test-jwt-secret-with-32-plus-characters"
SERVICE_ROLE = "service_role"  # DB_SERVICE_ROLE default (src/config.ts)


def key(role: str) -> str:
    """A project key as components/core/keys.py signs it."""
    return keys.sign(JWT_SECRET, role)


def user_token(role: str, user_id: str) -> str:
    """A signed-in user's access token: GoTrue's claims that Storage reads (sub, role)."""
    return jwt.encode({"sub": user_id, "role": role, "aud": "authenticated", "iss": "supabase",
                       "iat": keys.ISSUED_AT, "exp": keys.EXPIRES_AT}, JWT_SECRET, algorithm="HS256")


def payload(token: Optional[str]) -> dict:
    """What src/http/plugins/jwt.ts makes of the Authorization header."""
    if not token:
        return {"role": "anon"}
    return jwt.decode(token, JWT_SECRET, algorithms=["HS256"], options={"verify_aud": False})


@contextmanager
def request(dsn: str, token: Optional[str], *, method: str = "GET", path: str = "/",
            operation: str = "") -> Iterator[psycopg.Connection]:
    """One transaction scoped like Storage's `setScope`, rolled back unless committed by the caller."""
    claims = payload(token)
    role = claims.get("role") or "anon"
    dbname = conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(pg.with_database(dsn, dbname, user=STORAGE_USER)) as conn:
        with conn.transaction():
            conn.execute("select set_config('search_path', %s, true)", (SEARCH_PATH,))
            conn.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claim.role', %s, true),"
                " set_config('request.jwt', %s, true), set_config('request.jwt.claim.sub', %s, true),"
                " set_config('request.jwt.claims', %s, true), set_config('request.headers', %s, true),"
                " set_config('request.method', %s, true), set_config('request.path', %s, true),"
                " set_config('storage.operation', %s, true), set_config('storage.allow_delete_query', 'true', true)",
                (role, role, token or "", claims.get("sub") or "", json.dumps(claims), "{}", method, path, operation))
            yield conn


def as_service_role() -> str:
    return key(SERVICE_ROLE)


# -- the queries of src/storage/database/knex.ts ------------------------------------------------


def list_buckets(dsn: str, token: Optional[str]) -> list[str]:
    with request(dsn, token) as conn:
        return [i for (i,) in conn.execute("select id from buckets order by id")]


def bucket_rows(dsn: str, token: Optional[str], bucket: Optional[str] = None) -> list[dict]:
    """GET /bucket (or /bucket/:id): the columns getAllBuckets.ts and getBucket.ts select, as the caller."""
    with request(dsn, token) as conn:
        return [r for (r,) in conn.execute(
            "select jsonb_build_object('id', id, 'name', name, 'owner', owner, 'public', public, "
            "'file_size_limit', file_size_limit, 'allowed_mime_types', allowed_mime_types) from buckets "
            "where %s::text is null or id = %s order by id", (bucket, bucket))]


def can_upload(dsn: str, token: Optional[str], bucket: str, name: str, *, upsert: bool = False) -> bool:
    """Uploader.canUpload: the insert (or upsert) as the caller, in a transaction thrown away.
    False when row level security or a missing privilege refuses it (Storage answers 403)."""
    claims = payload(token)
    owner = claims.get("sub")
    sql = ("insert into objects (bucket_id, name, owner, owner_id, version) values (%s, %s, %s, %s, '1')"
           + (" on conflict (name, bucket_id) do update set version = excluded.version returning *" if upsert else ""))
    try:
        with request(dsn, token, method="POST", path=f"/object/{bucket}/{name}") as conn:
            conn.execute(sql, (bucket, name, owner if _is_uuid(owner) else None, owner))
            raise _Rollback
    except _Rollback:
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def upload(dsn: str, token: Optional[str], bucket: str, name: str, size: int = 5) -> bool:
    """The whole upload: the caller's permission test, then the row written as the service
    role (Uploader.completeUpload runs asSuperUser). False when refused."""
    if not can_upload(dsn, token, bucket, name, upsert=True):
        return False
    owner = payload(token).get("sub")
    with request(dsn, as_service_role(), method="POST") as conn:
        conn.execute(
            "insert into objects (bucket_id, name, owner, owner_id, metadata, version) values (%s, %s, %s, %s, %s, %s)"
            " on conflict (name, bucket_id) do update set metadata = excluded.metadata, version = excluded.version",
            (bucket, name, owner if _is_uuid(owner) else None, owner, json.dumps({"size": size}), str(uuid.uuid4())))
    return True


def find_object(dsn: str, token: Optional[str], bucket: str, name: str) -> bool:
    """findObject as the caller: how Storage downloads from a private bucket and signs URLs."""
    with request(dsn, token) as conn:
        return conn.execute("select id, version, metadata from objects where bucket_id = %s and name = %s",
                            (bucket, name)).fetchone() is not None


def list_objects(dsn: str, token: Optional[str], bucket: str, prefix: str = "") -> list[str]:
    """POST /object/list/:bucket: storage.search with the caller's rights."""
    with request(dsn, token, method="POST") as conn:
        levels = len(prefix.split("/"))
        return [n for (n, *_rest) in conn.execute("select * from storage.search(%s, %s, 100, %s, 0, '', 'name', 'asc')",
                                                  (prefix, bucket, levels))]


def delete_objects(dsn: str, token: Optional[str], bucket: str, names: list[str]) -> int:
    """DELETE /object/:bucket: deleteObjects as the caller; the count row level security let go."""
    with request(dsn, token, method="DELETE") as conn:
        return len(conn.execute("delete from objects where bucket_id = %s and name = any(%s) returning *",
                                (bucket, names)).fetchall())


def update_bucket(dsn: str, token: Optional[str], bucket: str) -> int:
    """PUT /bucket/:id: updateBucket as the caller."""
    with request(dsn, token, method="PUT") as conn:
        return conn.execute("update buckets set public = true where id = %s", (bucket,)).rowcount


class _Rollback(Exception):
    """Storage's testPermission throws to roll its transaction back."""


def _is_uuid(value: Optional[str]) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False
