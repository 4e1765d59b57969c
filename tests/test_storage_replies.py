"""Storage's answers on a project's URL name its buckets as the app does
(components/core/kong_storage_reply_lua.py): `id`, `name`, `bucket_id` and `Key` of the
answers of Storage v1.44.2 that name a bucket, nothing else, and only the project's own.

Each request goes through the model of Kong (tests/kong_model.py) with the real Lua chunks
under LuaJIT: the access chunks leave the project's map in kong.ctx.plugin, then the route's
header_filter and body_filter run over the answer, as Storage would give it, in two chunks.
The answers' shapes are Storage's (src/http/routes/ at v1.44.2, cited in the module)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from components.core import storage_routes
from components.providers.kong_config import render
from tests.gateway_fixtures import project, settings
from tests.kong_guard import run_response_filters
from tests.kong_model import plugin, storage_request

SHOP = dataclasses.replace(project("shop"), buckets={"avatars": "shop-avatars", "x": "shop-x"})
BLOG = dataclasses.replace(project("blog"), buckets={"notes": "blog-notes"})
JSON = {"Content-Type": "application/json; charset=utf-8"}
ROW = {"owner": None, "public": True, "file_size_limit": 1048576, "allowed_mime_types": ["image/png"],
       "created_at": "2026-12-04T00:00:00.000Z", "updated_at": "2026-12-04T00:00:00.000Z"}


@pytest.fixture(scope="module")
def kong() -> dict:
    return yaml.safe_load(render(settings(SHOP, BLOG)))


def answer(kong: dict, method: str, path: str, status: int, body, headers=JSON, prefix: str = "/project/shop",
           key: str = SHOP.secret_key, sent=None):
    """(what the client reads, the headers the filters cleared) for Storage's answer `body` to
    `method path` on the project's Storage route."""
    out = storage_request(kong, f"{prefix}/storage/v1{path}", key, method, sent)
    assert out.passed, out.answer
    pre = plugin(out.service, "pre-function")
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    raw = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    done = run_response_filters(pre["header_filter"][0], pre["body_filter"][0], status,
                                [raw[:len(raw) // 2], raw[len(raw) // 2:]], headers, out.plugin_ctx)
    return done.body, done.cleared_headers


def test_every_route_whose_answer_is_mapped_is_a_route_of_storage():
    routes = {f"{method} {route}" for method, listed in storage_routes.ROUTES.items() for route in listed}
    assert set(storage_routes.REPLIES) <= routes
    assert set(storage_routes.REPLIES.values()) == {"bucket", "object"}


def test_a_bucket_list_names_each_bucket_as_the_app_does_and_keeps_the_rest(kong):
    rows = [{"id": "shop-avatars", "name": "shop-avatars", **ROW}, {"id": "shop-photos", "name": "shop-photos", **ROW}]
    body, cleared = answer(kong, "GET", "/bucket", 200, rows)
    assert json.loads(body) == [{**rows[0], "id": "avatars", "name": "avatars"},
                                {**rows[1], "id": "photos", "name": "photos"}]  # photos: made at run time
    assert cleared == ["Content-Length"]


def test_one_bucket_and_a_new_buckets_answer_name_it(kong):
    body, _ = answer(kong, "GET", "/bucket/avatars", 200, {"id": "shop-avatars", "name": "shop-avatars", **ROW})
    assert json.loads(body) == {"id": "avatars", "name": "avatars", **ROW}
    body, _ = answer(kong, "POST", "/bucket", 200, {"name": "shop-photos"}, sent={"id": "photos", "name": "photos"})
    assert json.loads(body) == {"name": "photos"}


def test_an_upload_a_copy_and_an_object_name_the_bucket_in_key_and_bucket_id_only(kong):
    body, _ = answer(kong, "POST", "/object/avatars/u/a.png", 200, {"Id": "1", "Key": "shop-avatars/u/a.png"})
    assert json.loads(body) == {"Id": "1", "Key": "avatars/u/a.png"}
    # an object may be named like a bucket id; its own name and id are never touched
    copied = {"Id": "2", "Key": "shop-avatars/shop-avatars", "id": "2", "name": "shop-avatars",
              "bucket_id": "shop-avatars", "metadata": {"size": 5}}
    body, _ = answer(kong, "POST", "/object/copy", 200, copied,
                     sent={"bucketId": "avatars", "sourceKey": "a", "destinationKey": "shop-avatars"})
    assert json.loads(body) == {**copied, "Key": "avatars/shop-avatars", "bucket_id": "avatars"}
    info = {"id": "3", "name": "u/a.png", "bucket_id": "shop-avatars", "version": "v", "size": 5}
    body, _ = answer(kong, "GET", "/object/info/avatars/u/a.png", 200, info)
    assert json.loads(body) == {**info, "bucket_id": "avatars"}
    deleted = [{"name": "u/a.png", "bucket_id": "shop-avatars"}, {"name": "u/b.png", "bucket_id": "shop-avatars"}]
    body, _ = answer(kong, "DELETE", "/object/avatars", 200, deleted, sent={"prefixes": ["u/a.png", "u/b.png"]})
    assert [row["bucket_id"] for row in json.loads(body)] == ["avatars", "avatars"]


def test_an_id_goes_back_to_a_name_only_when_that_name_reaches_it_again(kong):
    """`shop-shop-x` would be the name `shop-x`, but `shop-x` is the id of bucket `x`, which a
    request passes unchanged: that id stays, so a round trip never reaches another bucket.
    Another project's id is never the project's to rename."""
    rows = [{"id": i, "name": i, **ROW} for i in ("shop-x", "shop-shop-x", "blog-notes")]
    body, _ = answer(kong, "GET", "/bucket", 200, rows)
    assert [(r["id"], r["name"]) for r in json.loads(body)] == [("x", "x"), ("shop-shop-x", "shop-shop-x"),
                                                                ("blog-notes", "blog-notes")]


@pytest.mark.parametrize("status, body, headers", [
    (400, {"statusCode": "404", "error": "Bucket not found", "message": "shop-avatars"}, JSON),
    (200, "shop-avatars/u/a.png", {"Content-Type": "text/plain"}),
    (200, [], JSON),
    (200, [{"id": "blog-notes", "name": "blog-notes", **ROW}], JSON),
])
def test_errors_other_types_and_answers_naming_none_of_its_buckets_pass_as_storage_wrote_them(kong, status, body,
                                                                                               headers):
    raw = body if isinstance(body, str) else json.dumps(body)
    got, _ = answer(kong, "GET", "/bucket", status, raw, headers)
    assert got == raw


def test_a_download_is_never_buffered_or_changed(kong):
    data = bytes(range(256)) + b'{"id": "shop-avatars"}'
    got, cleared = answer(kong, "GET", "/object/avatars/u/a.png", 200, data, {"Content-Type": "application/json"})
    assert got.encode("latin-1") == data and cleared == []


def test_on_the_projects_hostname_too(kong):
    hosted = dataclasses.replace(SHOP, hostname="shop-api.example.com")
    config = yaml.safe_load(render(settings(hosted, BLOG)))
    out = storage_request(config, "/storage/v1/bucket", SHOP.secret_key, "GET", host="shop-api.example.com")
    pre = plugin(out.service, "pre-function")
    rows = json.dumps([{"id": "shop-avatars", "name": "shop-avatars", **ROW}])
    done = run_response_filters(pre["header_filter"][0], pre["body_filter"][0], 200, [rows], JSON, out.plugin_ctx)
    assert [r["id"] for r in json.loads(done.body)] == ["avatars"]
