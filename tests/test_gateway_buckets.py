"""Issue 20, item 5: on a project's URL a client names a bucket as the app names it
(`storage.from('avatars')`), and Storage gets the project's bucket id (`shop-avatars`).

Each request goes through the model of Kong (tests/kong_model.py: router, path
normalization, the jwt and acl plugins) and the real Lua chunks under LuaJIT (the guard, the
bucket map of components/core/kong_storage_lua.py, the re-signer). The requests are the ones
@supabase/storage-js 2.119 sends (.tools/npm/node_modules/@supabase/storage-js/dist/index.mjs:
StorageFileApi, StorageBucketApi); the routes are Storage v1.44.2's
(components/core/storage_routes.py)."""
from __future__ import annotations

import base64
import dataclasses
import json

import pytest
import yaml

from components.core import storage_routes
from components.core.kong_storage_lua import BAD_BODY, CLOSED, NOT_A_ROUTE
from components.providers.kong_config import render
from tests.gateway_fixtures import project, settings
from tests.kong_model import send as kong_send, storage_request
from tests.program import dev_config, run_program
from tests.stack_inputs import pushed

SHOP = dataclasses.replace(project("shop", "shop-api.example.com"),
                           buckets={"avatars": "shop-avatars", "docs": "shop-docs"})
BLOG = dataclasses.replace(project("blog"), buckets={"avatars": "blog-avatars", "secrets": "blog-secrets"})
LOCAL = ("127.0.0.1", "/project/shop")
HOSTED = ("shop-api.example.com", "")


@pytest.fixture(scope="module")
def kong() -> dict:
    return yaml.safe_load(render(settings(SHOP, BLOG)))


def send(kong: dict, method: str, path: str, body=None, where=LOCAL, key=None, headers=None):
    host, prefix = where
    return storage_request(kong, prefix + "/storage/v1" + path, SHOP.publishable_key if key is None else key,
                           method, body, host, headers)


def storage_bucket(method: str, path: str):
    """The bucket Storage v1.44.2 reads from an upstream path (its router, as storage_routes
    describes it): None when no route of that method matches."""
    segments = path[1:].split("/")
    for route in storage_routes.ordered(method):
        n = len(route)
        if (len(segments) < n) if route[-1] == "*" else (len(segments) != n):
            continue
        if all(w in (":b", "*") or w == s for w, s in zip(route, segments)):
            at = route.index(":b") if ":b" in route else None
            if at is None or segments[at]:
                return segments[at] if at is not None else ""
    return None


# What storage-js sends for each call of `storage.from('avatars')` / `storage.*Bucket('avatars')`.
CALLS = [
    ("upload", "POST", "/object/avatars/u/a.png", "/object/shop-avatars/u/a.png"),
    ("update", "PUT", "/object/avatars/u/a.png", "/object/shop-avatars/u/a.png"),
    ("download", "GET", "/object/authenticated/avatars/u/a.png", "/object/authenticated/shop-avatars/u/a.png"),
    ("download (old path)", "GET", "/object/avatars/u/a.png", "/object/shop-avatars/u/a.png"),
    ("exists", "HEAD", "/object/avatars/u/a.png", "/object/shop-avatars/u/a.png"),
    ("info", "GET", "/object/info/avatars/u/a.png", "/object/info/shop-avatars/u/a.png"),
    ("info authenticated", "GET", "/object/info/authenticated/avatars/u/a.png",
     "/object/info/authenticated/shop-avatars/u/a.png"),
    ("list", "POST", "/object/list/avatars", "/object/list/shop-avatars"),
    ("list-v2", "POST", "/object/list-v2/avatars", "/object/list-v2/shop-avatars"),
    ("remove", "DELETE", "/object/avatars", "/object/shop-avatars"),
    ("createSignedUrl", "POST", "/object/sign/avatars/u/a.png", "/object/sign/shop-avatars/u/a.png"),
    ("createSignedUrls", "POST", "/object/sign/avatars", "/object/sign/shop-avatars"),
    ("createSignedUploadUrl", "POST", "/object/upload/sign/avatars/u/a.png", "/object/upload/sign/shop-avatars/u/a.png"),
    ("download transformed", "GET", "/render/image/authenticated/avatars/u/a.png",
     "/render/image/authenticated/shop-avatars/u/a.png"),
    ("purgeCache", "DELETE", "/cdn/avatars/u/a.png", "/cdn/shop-avatars/u/a.png"),
    ("getBucket", "GET", "/bucket/avatars", "/bucket/shop-avatars"),
    ("emptyBucket", "POST", "/bucket/avatars/empty", "/bucket/shop-avatars/empty"),
    ("deleteBucket", "DELETE", "/bucket/avatars", "/bucket/shop-avatars"),
    ("listBuckets", "GET", "/bucket", "/bucket"),
]
# The keyless routes: a public URL (getPublicUrl), a signed URL, a signed upload.
OPEN = [
    ("getPublicUrl", "GET", "/object/public/avatars/u/a.png", "/object/public/shop-avatars/u/a.png"),
    ("public info", "GET", "/object/info/public/avatars/u/a.png", "/object/info/public/shop-avatars/u/a.png"),
    ("signed URL", "GET", "/object/sign/avatars/u/a.png", "/object/sign/shop-avatars/u/a.png"),
    ("uploadToSignedUrl", "PUT", "/object/upload/sign/avatars/u/a.png", "/object/upload/sign/shop-avatars/u/a.png"),
    ("public image", "GET", "/render/image/public/avatars/u/a.png", "/render/image/public/shop-avatars/u/a.png"),
    ("signed image", "GET", "/render/image/sign/avatars/u/a.png", "/render/image/sign/shop-avatars/u/a.png"),
]


@pytest.mark.parametrize("where", [LOCAL, HOSTED], ids=["local", "hostname"])
@pytest.mark.parametrize("call, method, path, upstream", CALLS + OPEN, ids=[c[0] for c in CALLS + OPEN])
def test_a_bucket_named_as_the_app_names_it_reaches_the_projects_bucket_id(kong, where, call, method, path, upstream):
    out = send(kong, method, path, where=where, key=None if (call, method, path, upstream) in CALLS else "")
    assert out.passed, out.answer
    assert out.path == upstream
    assert storage_bucket(method, out.path) in ("", "shop-avatars")


@pytest.mark.parametrize("call, method, path, upstream", CALLS + OPEN, ids=[c[0] for c in CALLS + OPEN])
def test_a_bucket_id_passes_unchanged(kong, call, method, path, upstream):
    """Clients that already call `from('shop-avatars')`, and every URL Storage hands out (a
    signed URL `/object/sign/shop-avatars/...?token=`, whose token Storage checks against the
    path), keep working."""
    given = path.replace("/avatars", "/shop-avatars")
    out = send(kong, method, given, key=None if (call, method, path, upstream) in CALLS else "")
    assert out.passed and out.path == upstream


@pytest.mark.parametrize("given, upstream", [
    ("photos", "shop-photos"),  # not declared: still in shop's namespace
    ("blog-avatars", "shop-blog-avatars"),  # another project's id
    ("secrets", "shop-secrets"),  # a name only blog has
    ("blog-secrets", "shop-blog-secrets"),
    ("%62log-avatars", "shop-blog-avatars"),  # escapes of unreserved characters are decoded by Kong first
    ("blog-avatars%2Fx", "shop-blog-avatars%2Fx"),  # an escaped slash stays inside the prefixed segment
])
def test_another_projects_bucket_name_or_id_lands_in_this_projects_namespace(kong, given, upstream):
    out = send(kong, "GET", f"/object/authenticated/{given}/a.png")
    assert out.passed and out.path == f"/object/authenticated/{upstream}/a.png"


@pytest.mark.parametrize("method, path, bucket", [
    # Storage has no DELETE on /object/public/..., so it reads `public` as the bucket
    ("DELETE", "/object/public/blog-avatars/a.png", "shop-public"),
    ("POST", "/object/move/blog-avatars/a.png", "shop-move"),  # an upload into a bucket named `move`
    # Storage would read /info/:b/* with b = public; Kong routes it to the keyless
    # /object/info/public/ route, whose map finds no bucket and object there
    ("GET", "/object/info/public/a.png", None),
    ("GET", "/object/public/blog-avatars", None),
    ("POST", "/object/sign/blog-avatars", "shop-blog-avatars"),
    ("GET", "/bucket/blog-avatars", "shop-blog-avatars"),
    ("PUT", "/bucket/blog-avatars", "shop-blog-avatars"),
])
def test_the_bucket_is_the_segment_storages_router_reads(kong, method, path, bucket):
    out = send(kong, method, path, body={} if method in ("POST", "PUT") and "bucket/" in path else None)
    if bucket is None:
        assert out.status == 404 and out.answer["message"] == NOT_A_ROUTE
    else:
        assert out.passed, out.answer
        assert storage_bucket(method, out.path) == bucket


@pytest.mark.parametrize("path", [
    "/object/avatars/../../object/authenticated/blog-avatars/a.png",  # Kong resolves the dots first
    "/object/avatars/%2e%2e/%2e%2e/bucket/blog-avatars",
    "/object/authenticated/avatars/..//..//..//object/authenticated/blog-avatars/x",
])
def test_dot_segments_are_resolved_before_the_bucket_is_read(kong, path):
    """Kong's router and kong.request.get_path() see the normalized path (kong/tools/uri.lua
    normalize), so the map reads the bucket Storage will: a dot segment cannot hide one."""
    out = send(kong, "GET", path)
    assert out.passed and storage_bucket("GET", out.path) == "shop-blog-avatars"


@pytest.mark.parametrize("method, path", [
    ("GET", "/blog-avatars/a.png"), ("GET", "/object/blog-avatars"), ("POST", "/object/sign"), ("GET", "/bucket/blog-avatars/x"),
    ("PATCH", "/object/blog-avatars/a.png"), ("GET", "/objects/blog-avatars/a.png"),
])
def test_a_path_storage_does_not_serve_is_answered_by_the_gateway(kong, method, path):
    out = send(kong, method, path)
    assert out.status == 404 and out.answer["message"] == NOT_A_ROUTE


@pytest.mark.parametrize("path", ["/s3/blog-avatars/a.png", "/iceberg/bucket", "/vector/ListVectorBuckets"])
def test_the_s3_iceberg_and_vector_apis_are_not_on_a_projects_url(kong, path):
    out = send(kong, "POST", path)
    assert out.status == 404 and out.answer["message"] == CLOSED


def test_health_passes_as_it_is(kong):
    out = send(kong, "GET", "/health")
    assert out.passed and out.path == "/health"


# -- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["move", "copy"])
def test_move_and_copy_bodies_name_the_projects_buckets(kong, operation):
    """StorageFileApi.move/copy send {bucketId, sourceKey, destinationKey, destinationBucket}."""
    body = {"bucketId": "avatars", "sourceKey": "u/a.png", "destinationKey": "u/b.png", "destinationBucket": "docs"}
    out = send(kong, "POST", f"/object/{operation}", body)
    assert out.passed and out.path == f"/object/{operation}"
    assert json.loads(out.body) == {**body, "bucketId": "shop-avatars", "destinationBucket": "shop-docs"}
    out = send(kong, "POST", f"/object/{operation}", {"bucketId": "shop-avatars", "sourceKey": "a", "destinationKey": "b"})
    assert json.loads(out.body) == {"bucketId": "shop-avatars", "sourceKey": "a", "destinationKey": "b"}


@pytest.mark.parametrize("destination", ["blog-avatars", "secrets", "blog-secrets"])
def test_a_move_or_copy_into_another_projects_bucket_stays_in_this_project(kong, destination):
    for operation in ("move", "copy"):
        out = send(kong, "POST", f"/object/{operation}", {"bucketId": "blog-avatars", "sourceKey": "a",
                                                          "destinationKey": "b", "destinationBucket": destination})
        sent = json.loads(out.body)
        assert sent["bucketId"] == "shop-blog-avatars" and sent["destinationBucket"] == f"shop-{destination}"


@pytest.mark.parametrize("body", ['{"bucketId": 7, "sourceKey": "a", "destinationKey": "b"}',
                                  '{"bucketId": ["blog-avatars"], "sourceKey": "a", "destinationKey": "b"}',
                                  'bucketId=blog-avatars&sourceKey=a&destinationKey=b', '["blog-avatars"]'])
def test_a_body_whose_buckets_the_map_cannot_read_is_refused(kong, body):
    """Storage's schema would coerce a number to a string (fastify's ajv, coerceTypes): refused here."""
    out = kong_send(kong, "/project/shop/storage/v1/object/move",
                    {"apikey": SHOP.publishable_key, "content-type": "application/json"}, method="POST", body=body)
    assert out.status == 400 and out.answer["message"] == BAD_BODY


def test_create_and_update_bucket_bodies_name_the_projects_bucket(kong):
    """StorageBucketApi.createBucket/updateBucket send {id, name: id, ...}. (Project keys may not
    create buckets: the project's SQL grants them none; the body is mapped all the same.)"""
    body = {"id": "photos", "name": "photos", "public": True}
    out = send(kong, "POST", "/bucket", body)
    assert out.passed and json.loads(out.body) == {"id": "shop-photos", "name": "shop-photos", "public": True}
    out = send(kong, "PUT", "/bucket/avatars", {"id": "avatars", "name": "avatars", "public": False})
    assert out.path == "/bucket/shop-avatars"
    assert json.loads(out.body) == {"id": "shop-avatars", "name": "shop-avatars", "public": False}


def test_bodies_of_paths_inside_the_bucket_pass_unchanged(kong):
    """`prefixes` of remove, `paths` of createSignedUrls, `prefix` of list are paths inside the
    bucket of the path: not buckets, never mapped (and never re-encoded)."""
    for method, path, body in [("DELETE", "/object/avatars", {"prefixes": ["blog-avatars/a.png"]}),
                               ("POST", "/object/sign/avatars", {"expiresIn": 60, "paths": ["avatars/a.png"]}),
                               ("POST", "/object/list/avatars", {"prefix": "avatars", "limit": 100})]:
        out = send(kong, method, path, body)
        assert out.passed and out.body == json.dumps(body)


# -- resumable uploads (TUS) -----------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def upload_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("given, bucket", [("avatars", "shop-avatars"), ("shop-avatars", "shop-avatars"),
                                           ("blog-avatars", "shop-blog-avatars")])
def test_a_resumable_upload_names_the_projects_bucket(kong, given, bucket):
    metadata = f"bucketName {b64(given)},objectName {b64('u/a.png')},contentType {b64('image/png')}"
    out = send(kong, "POST", "/upload/resumable", headers={"Upload-Metadata": metadata})
    assert out.passed and out.path == "/upload/resumable"
    assert out.headers["upload-metadata"] == metadata.replace(b64(given), b64(bucket))
    version = "1b7c8d0e-0000-4000-8000-000000000000"
    for prefix in ("/upload/resumable/", "/upload/resumable/sign/"):
        out = send(kong, "PATCH", prefix + upload_id(f"{given}/u/a.png/{version}"))
        assert out.passed and out.path == prefix + upload_id(f"{bucket}/u/a.png/{version}")


def test_an_upload_id_that_is_not_one_is_refused(kong):
    assert send(kong, "PATCH", "/upload/resumable/" + upload_id("no-slash")).status == 400
    assert send(kong, "PATCH", "/upload/resumable/x/" + upload_id("blog-avatars/a/v")).status == 404


# -- the program's wiring --------------------------------------------------------------------


def test_a_projects_config_buckets_and_its_apps_buckets_reach_its_storage_routes():
    """The real __main__.py under mocks: blog's config buckets (Pulumi.dev.yaml) and chatbot-ui's
    `insert into storage.buckets` (an imported app) are each their project's bucket map."""
    config = dev_config()
    config["supabase-multi-instance:extensions"] = ["vector", "http"]
    from tests import apps

    config["supabase-multi-instance:projects"] = [
        *config["supabase-multi-instance:projects"],
        {"name": "chat", "supabaseDir": str(apps.folder("chatbot_ui")), "seed": False}]
    (push,) = run_program(config).of_type("pulumi-python:dynamic/supabase:KongConfig")
    full = yaml.safe_load(pushed(push))

    def upstream(name: str, bucket: str) -> str:
        out = storage_request(full, f"/project/{name}/storage/v1/object/public/{bucket}/a.png", None)
        assert out.passed, out.answer
        return out.path

    assert upstream("blog", "avatars") == "/object/public/blog-avatars/a.png"
    assert upstream("blog", "drafts") == "/object/public/blog-drafts/a.png"
    assert upstream("chat", "profile_images") == "/object/public/chat-profile_images/a.png"
    assert upstream("chat", "files") == "/object/public/chat-files/a.png"
    assert upstream("shop", "avatars") == "/object/public/shop-avatars/a.png"  # shop has none: prefixed
    assert upstream("chat", "blog-avatars") == "/object/public/chat-blog-avatars/a.png"
