"""A project's buckets in the one shared Storage service: their ids and the rules Storage sets.

Bucket ids are global in Storage, so a project's bucket `avatars` is stored, and reached
by clients, as `<project>-avatars`. Project names never contain `-` (components/core/config/rules.py),
so the first `-` of an id always ends the project name: two projects can never produce the
same id (`a_b` + `c` is `a_b-c`, `a` + `b_c` is `a-b_c`), and a client always knows the
id from the project and bucket names.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

SEPARATOR = "-"
# The stack's FILE_SIZE_LIMIT (components/resources/services.py). Storage refuses a bucket limit above
# it (supabase/storage src/storage/storage.ts parseMaxSizeLimit).
MAX_FILE_SIZE = 52_428_800
MAX_BUCKET_ID = 100  # supabase/storage src/storage/limits.ts isValidBucketName
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,58}")
# src/storage/limits.ts parseFileSizeToBytes: decimal units.
SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)", re.IGNORECASE)
UNITS = {"gb": 10**9, "mb": 10**6, "kb": 10**3, "b": 1}
# src/storage/storage.ts validateMimeType, written as: a full type, or `type/*`.
MIME_TYPE = re.compile(r"[A-Za-z0-9+.-]+/(?:[A-Za-z0-9+.-]+(?:;\s*charset=[A-Za-z0-9-]+)?|\*)")


def bucket_id(project: str, name: str) -> str:
    return f"{project}{SEPARATOR}{name}"


def parse_size(value: Any) -> int:
    """Bytes from an integer or a size such as '5MB' (units B, KB, MB, GB, as Storage reads them)."""
    if isinstance(value, bool):
        raise ValueError("must be a number of bytes or a size such as '5MB'")
    if isinstance(value, int):
        size = value
    else:
        match = SIZE.fullmatch(str(value).strip())
        if not match:
            raise ValueError("must be a number of bytes or a size such as '5MB' (units B, KB, MB, GB)")
        size = int(float(match.group(1)) * UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError("must be more than 0 bytes")
    if size > MAX_FILE_SIZE:
        raise ValueError(f"must be at most {MAX_FILE_SIZE} bytes (50MiB), the stack's upload limit")
    return size


def spec(project: str, buckets: Iterable[Any]) -> list[dict[str, Any]]:
    """What the project's SQL step applies and the stack outputs show, one dict per bucket."""
    return [
        {"id": bucket_id(project, b.name), "name": b.name, "public": b.public,
         "fileSizeLimit": b.file_size_limit, "allowedMimeTypes": list(b.allowed_mime_types or []) or None}
        for b in buckets
    ]
