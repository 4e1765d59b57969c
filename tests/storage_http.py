"""A Storage HTTP stand-in for supabase-js tests: the few routes of supabase/storage v1.44.2
that `storage.from(bucket).upload/download/list/createSignedUrl` and a public URL use, each
doing its database part as Storage does (tests/storage_api.py, on the real PostgreSQL with the
project's SQL), with file bodies kept in memory. Every bucket it sees is the one the path
names, so a test can tell which bucket a request reached (`seen`).

What it answers, from the pinned source: getAllBuckets.ts and getBucket.ts the bucket rows
the caller may read (a list, or one row; "Bucket not found" otherwise); createObject.ts `{Id, Key: "<bucket>/<name>"}`;
getSignedURL.ts `{signedURL: "/object/sign/<bucket>/<name>?token=<jwt>"}` with the JWT's
`url` claim the object's `<bucket>/<name>` (src/storage/object.ts signObjectUrl), which
getSignedObject.ts compares with the path; listObjects.ts the rows of storage.search (the prefix made a folder, src/storage/object.ts
searchObjects);
errors as `{statusCode, error, message}` with status 400 (src/internal/errors).
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import psycopg

from tests import storage_api


class StorageStandIn:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self.files: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.seen: list[tuple[str, str]] = []  # (method, upstream path)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()

    def _public(self, bucket: str) -> bool:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("select public from storage.buckets where id = %s", (bucket,)).fetchone()
        return bool(row and row[0])

    def answer(self, method: str, path: str, query: dict, token: Optional[str], body: bytes, kind: str):
        """(status, JSON or bytes, content type) for one request on Storage's own paths."""
        self.seen.append((method, path))
        parts = [unquote(p) for p in path.lstrip("/").split("/")]
        if parts[0] == "bucket" and method == "GET":
            rows = storage_api.bucket_rows(self.dsn, token, parts[1] if len(parts) > 1 and parts[1] else None)
            if len(parts) > 1 and parts[1]:
                return (200, rows[0], None) if rows else \
                    (400, {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"}, None)
            return 200, rows, None
        if parts[0] != "object":
            return 400, {"statusCode": "404", "error": "not_found", "message": "Route not found"}, None
        if method in ("POST", "PUT") and parts[1] not in ("list", "sign", "upload"):
            bucket, name = parts[1], "/".join(parts[2:])
            if not storage_api.upload(self.dsn, token, bucket, name, size=len(body)):
                return 400, {"statusCode": "403", "error": "Unauthorized",
                             "message": "new row violates row-level security policy"}, None
            self.files[(bucket, name)] = _file_part(body, kind)
            return 200, {"Id": str(uuid.uuid4()), "Key": f"{bucket}/{name}"}, None
        if method == "POST" and parts[1] == "list":
            prefix = json.loads(body or b"{}").get("prefix", "")
            prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix  # object.ts searchObjects
            names = storage_api.list_objects(self.dsn, token, parts[2], prefix)
            return 200, [{"name": n, "id": None, "metadata": None} for n in names], None
        if method == "POST" and parts[1] == "sign":
            bucket, name = parts[2], "/".join(parts[3:])
            if not storage_api.find_object(self.dsn, token, bucket, name):
                return 400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}, None
            expires = int(json.loads(body or b"{}").get("expiresIn", 60))
            signed = jwt.encode({"url": f"{bucket}/{name}", "iat": int(time.time()), "exp": int(time.time()) + expires},
                                storage_api.JWT_SECRET, algorithm="HS256")
            return 200, {"signedURL": f"/object/sign/{bucket}/{name}?token={signed}"}, None
        if method == "GET" and parts[1] == "sign":
            bucket, name = parts[2], "/".join(parts[3:])
            try:
                claims = jwt.decode(query.get("token", [""])[0], storage_api.JWT_SECRET, algorithms=["HS256"])
            except jwt.InvalidTokenError:
                return 400, {"statusCode": "400", "error": "InvalidJWT", "message": "invalid signature"}, None
            if claims.get("url") != f"{bucket}/{name}":
                return 400, {"statusCode": "400", "error": "InvalidSignature", "message": "url mismatch"}, None
            return self._file(bucket, name)
        if method == "GET" and parts[1] == "public":
            bucket, name = parts[2], "/".join(parts[3:])
            return self._file(bucket, name) if self._public(bucket) else \
                (400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}, None)
        if method == "GET":
            bucket, name = (parts[2], "/".join(parts[3:])) if parts[1] == "authenticated" else \
                (parts[1], "/".join(parts[2:]))
            if not storage_api.find_object(self.dsn, token, bucket, name):
                return 400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}, None
            return self._file(bucket, name)
        return 400, {"statusCode": "404", "error": "not_found", "message": "Route not found"}, None

    def _file(self, bucket: str, name: str):
        found = self.files.get((bucket, name))
        if found is None:
            return 400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}, None
        return 200, found[0], found[1]

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                split = urlsplit(self.path)
                auth = self.headers.get("authorization") or ""
                token = auth[7:] if auth.lower().startswith("bearer ") else None
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, data, kind = stand_in.answer(self.command, split.path, parse_qs(split.query), token, body,
                                                     self.headers.get("content-type", ""))
                raw = data if isinstance(data, bytes) else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, *_args) -> None:
                pass

        return Handler


def _file_part(body: bytes, kind: str) -> tuple[bytes, str]:
    """The file of an upload: a multipart form's file field (what supabase-js sends for a Blob,
    read by Storage with @fastify/multipart), or the raw body."""
    if not kind.startswith("multipart/form-data"):
        return body, kind or "application/octet-stream"
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {kind}\r\n\r\n".encode() + body)
    for part in form.iter_parts():
        if part.get_filename() is not None:
            return part.get_payload(decode=True), part.get_content_type()
    raise ValueError("no file in the form")
