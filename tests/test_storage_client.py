"""supabase-js (pinned, Node 22 from npm) uses a project's Storage as an app that came over
unchanged does: `storage.from('avatars')`, the bucket named as the app names it.

What runs for real: supabase-js and Node's fetch; the rendered Kong config and its Lua chunks
(guard, bucket map, re-signer, the answers' map back) under LuaJIT, inside the model of Kong's router and plugins
(tests/kong_model.py), here served on loopback; PostgreSQL with the projects' own SQL step
(buckets, policies). Storage itself is the stand-in of tests/storage_http.py: its database
part is Storage's (tests/storage_api.py), its HTTP part only the routes these calls use."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from components.providers.kong_config import render
from tests import http_relay, pg, storage_api
from tests._tools import require_file
from tests.functions_stage import INSTALL, NODE, NPM, REPO
from tests.gateway_fixtures import project, settings
from tests.kong_model import send
from tests.storage_http import StorageStandIn

SHOP = dataclasses.replace(project("shop"), buckets={"avatars": "shop-avatars"})
BLOG = dataclasses.replace(project("blog"), buckets={"notes": "blog-notes"})


def gateway(kong: dict, storage: StorageStandIn) -> ThreadingHTTPServer:
    """Kong on loopback, as the model says it handles each request; Storage behind it."""
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            out = send(kong, split.path, dict(self.headers.items()), method=self.command, query=query,
                       body=body.decode("latin-1"))
            if not out.passed:
                status, data, kind = out.status, json.dumps(out.answer).encode(), "application/json"
            else:
                assert out.service["url"].startswith("http://storage:5000"), out.service["name"]
                headers = {k: v for k, v in out.headers.items() if k not in ("host", "content-length")}
                target = f"{storage.url}{out.path}" + (f"?{split.query}" if split.query else "")
                status, data, kind = http_relay.forward(target, self.command, headers,
                                                        out.body.encode("latin-1") if body else None)
                data = out.reply(status, {"Content-Type": kind}, data)
            http_relay.reply(self, status, data, kind)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        def log_message(self, *_args) -> None:
            pass

    return http_relay.serve(Handler)


@pytest.fixture
def stack(db):
    node = require_file(NODE, INSTALL)
    pg.bootstrap(db)
    pg.create_project(db, "shop", buckets=[{"name": "avatars", "public": True}])
    pg.create_project(db, "blog", buckets=[{"name": "notes"}])
    # Storage verifies the gateway's re-signed tokens with the stack secret
    kong = yaml.safe_load(render(dataclasses.replace(settings(SHOP, BLOG), jwt_secret=storage_api.JWT_SECRET)))
    storage = StorageStandIn(db)
    server = gateway(kong, storage)
    yield node, f"http://127.0.0.1:{server.server_address[1]}", storage
    server.shutdown()
    storage.stop()


def client(node, url: str, key: str, bucket: str) -> dict:
    done = subprocess.run([str(node), str(REPO / "tests" / "storage_js" / "buckets.cjs"), url, key, bucket],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NODE_PATH": str(NPM)})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "crash" not in answer, answer["crash"]
    return answer


def test_an_app_names_its_bucket_as_it_always_did(stack):
    node, base, storage = stack
    out = client(node, f"{base}/project/shop", SHOP.secret_key, "avatars")
    assert out["upload"]["error"] is None and out["upload"]["data"]["path"] == "u/hello.txt"
    # Storage's answers name the id; the gateway gives them back as the app names the bucket
    assert out["upload"]["data"]["fullPath"] == "avatars/u/hello.txt"
    assert out["bucket"] == {"data": {"id": "avatars", "name": "avatars"}, "error": None}
    assert out["buckets"] == {"ids": ["avatars"], "error": None}
    assert out["download"] == {"text": "hello from supabase-js", "error": None}
    assert out["list"] == {"names": ["hello.txt"], "error": None}
    assert out["signed"]["error"] is None and "/object/sign/shop-avatars/u/hello.txt?token=" in out["signed"]["url"]
    assert (out["signed"]["status"], out["signed"]["text"]) == (200, "hello from supabase-js")
    assert out["public"]["url"] == f"{base}/project/shop/storage/v1/object/public/avatars/u/hello.txt"
    assert (out["public"]["status"], out["public"]["text"]) == (200, "hello from supabase-js")
    # every request that names a bucket reached Storage naming the id
    assert storage.seen and all("/shop-avatars/" in p or p.endswith("/shop-avatars")
                                for _, p in storage.seen if p != "/bucket")


def test_the_bucket_id_keeps_working(stack):
    node, base, _ = stack
    out = client(node, f"{base}/project/shop", SHOP.secret_key, "shop-avatars")
    assert out["download"]["text"] == "hello from supabase-js" and out["list"]["names"] == ["hello.txt"]
    assert out["public"]["status"] == 200
    assert out["bucket"]["data"] == {"id": "avatars", "name": "avatars"}  # the name that maps to this id


@pytest.mark.parametrize("bucket", ["avatars", "shop-avatars"])
def test_another_projects_key_never_reaches_the_bucket(stack, bucket):
    """blog's secret key naming shop's bucket by name or by id: its requests stay in blog's
    namespace (`blog-avatars`, `blog-shop-avatars`), where no such bucket is."""
    node, base, storage = stack
    assert client(node, f"{base}/project/shop", SHOP.secret_key, "avatars")["upload"]["error"] is None
    before = len(storage.seen)
    out = client(node, f"{base}/project/blog", BLOG.secret_key, bucket)
    assert out["upload"]["error"] and out["download"]["text"] is None and out["list"]["names"] == []
    assert out["signed"]["url"] is None and out["public"]["status"] != 200
    assert out["bucket"]["data"] is None and out["bucket"]["error"]
    assert out["buckets"] == {"ids": ["notes"], "error": None}  # blog's own bucket, by its name
    reached = {path for _, path in storage.seen[before:] if path != "/bucket"}
    assert reached and not any("/shop-avatars/" in p or p.endswith("/shop-avatars") for p in reached)
    assert all(f"/blog-{bucket}" in p for p in reached)
