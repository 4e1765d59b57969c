"""Where Storage reads a bucket in a request: the routes of supabase/storage v1.44.2 (the
image components/core/images.py pins), per method, as the gateway's bucket map reads them
(components/core/kong_storage_lua.py).

Read from supabase/storage at tag v1.44.2: src/app.ts (the prefixes `bucket`, `object`,
`render/image`, `cdn`, `upload/resumable`, `s3`, `iceberg`, `vector`, `health`) and the
routes under src/http/routes/: bucket/{createBucket,getAllBuckets,getBucket,updateBucket,
deleteBucket,emptyBucket}.ts, object/{createObject,updateObject,getObject,getObjectInfo,
getPublicObject,getSignedObject,getSignedURL,getSignedURLs,getSignedUploadURL,
uploadSignedObject,listObjects,listObjectsV2,deleteObject,deleteObjects,moveObject,
copyObject}.ts, render/render{Authenticated,Public,Signed}Image.ts, cdn/purgeCache.ts and
tus/{index,lifecycle}.ts.

A route is its path segments: literals, then `:b` (the bucket), then `*` (the rest, which
needs its slash). Storage's router (find-my-way under fastify 5) keeps one tree per method
and prefers a literal segment to a parameter, backtracking when the literal leads nowhere;
every route here has its literals first, so "the matching route with the most leading
literals" is the one Storage takes. Fastify also answers HEAD on every GET route
(exposeHeadRoutes, on by default), so HEAD has both.
"""
from __future__ import annotations

BUCKET = ":b"
REST = "*"

_GET = (
    "bucket", "bucket/", "bucket/:b",
    "object/authenticated/:b/*", "object/:b/*",
    "object/info/public/:b/*", "object/info/authenticated/:b/*", "object/info/:b/*",
    "object/public/:b/*", "object/sign/:b/*",
    "render/image/authenticated/:b/*", "render/image/public/:b/*", "render/image/sign/:b/*",
)
_HEAD = ("object/public/:b/*", "object/authenticated/:b/*", "object/:b/*")

ROUTES: dict[str, tuple[str, ...]] = {
    "GET": _GET,
    "HEAD": _GET + _HEAD,
    "POST": ("bucket", "bucket/", "bucket/:b/empty", "object/copy", "object/move", "object/:b/*",
             "object/sign/:b/*", "object/sign/:b", "object/upload/sign/:b/*", "object/list/:b",
             "object/list-v2/:b"),
    "PUT": ("bucket/:b", "object/:b/*", "object/upload/sign/:b/*"),
    "DELETE": ("bucket/:b", "object/:b/*", "object/:b", "cdn/:b/*"),
}

# The JSON bodies that name buckets, and the fields that do (storage-js 2.119 sends them:
# StorageFileApi.move/copy, StorageBucketApi.createBucket/updateBucket). Storage reads
# `bucketId`/`destinationBucket` of move and copy, and `id` (or else `name`) of a new bucket;
# updateBucket takes its bucket from the path and ignores the body's `id`/`name`, which are
# mapped all the same so that no body names another project's bucket. Other bodies name
# paths inside the bucket of the path (`prefixes` of a delete, `paths` of createSignedUrls,
# `prefix` of a list).
BODIES: dict[str, tuple[str, ...]] = {
    "POST object/copy": ("bucketId", "destinationBucket"),
    "POST object/move": ("bucketId", "destinationBucket"),
    "POST bucket": ("id", "name"),
    "POST bucket/": ("id", "name"),
    "PUT bucket/:b": ("id", "name"),
}

# The answers that name a bucket, and as what (components/core/kong_storage_reply_lua.py maps
# them back to the app's names): `bucket` rows (getAllBuckets, getBucket, createBucket), or
# `object` answers with a `Key` of `<bucket>/<path>` or a `bucket_id` (createObject,
# updateObject, uploadSignedObject, copyObject, getObjectInfo, deleteObjects).
REPLIES: dict[str, str] = {
    "GET bucket": "bucket", "GET bucket/": "bucket", "GET bucket/:b": "bucket",
    "POST bucket": "bucket", "POST bucket/": "bucket",
    "POST object/:b/*": "object", "PUT object/:b/*": "object", "PUT object/upload/sign/:b/*": "object",
    "POST object/copy": "object", "DELETE object/:b": "object",
    "GET object/info/:b/*": "object", "GET object/info/authenticated/:b/*": "object",
    "GET object/info/public/:b/*": "object",
}

# Storage's resumable uploads (TUS): the bucket is the `bucketName` of the Upload-Metadata
# header when an upload is created, then part of the upload's id, the path's last segment:
# base64url of `<bucket>/<object>/<version>` (tus/lifecycle.ts generateUrl, getFileIdFromRequest).
TUS = "upload/resumable"
TUS_SIGNED = "sign"

# Served as they are: no bucket in them.
PLAIN = ("health",)
# Not served on a project's URL: the S3 protocol (its own credentials, never a project's
# key), Iceberg analytics and vector buckets (their bucket names in bodies and paths this
# map does not read).
CLOSED = ("s3", "iceberg", "vector")


def literals(route: str) -> int:
    parts = route.split("/")
    return parts.index(BUCKET) if BUCKET in parts else len(parts)


def ordered(method: str) -> list[list[str]]:
    """The routes of `method`, most leading literals first: the first that matches wins."""
    return [r.split("/") for r in sorted(ROUTES.get(method, ()), key=literals, reverse=True)]
