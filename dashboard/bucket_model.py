"""A project's Storage buckets on the dashboard, from its `buckets` output entry.

Ids reach code examples, so only `<project>-<name>` ids pass; names are what clients use on
the project's URL (the gateway maps a name to its id, components/core/kong_storage_lua.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dashboard.key_filter import Sanitizer

# `<project>-<name>` (components/core/buckets.py); it goes into code examples, so nothing else passes.
BUCKET_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,39}-[a-z0-9][a-z0-9_-]{0,58}")
BUCKET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,58}")  # components/core/buckets.py NAME
MIME_TYPE_RE = re.compile(r"[A-Za-z0-9+.-]+/(?:[A-Za-z0-9+.-]+(?:;\s*charset=[A-Za-z0-9-]+)?|\*)")


@dataclass
class Bucket:
    id: str
    public: bool
    file_size_limit: int | None
    allowed_mime_types: list[str]
    # the name clients use on the project's URL (the gateway maps it to `id`); the id's part
    # after `<project>-` when the outputs carry none
    name: str = ""

    @property
    def size_text(self) -> str:
        """The upload limit in the units Storage reads (decimal), or the stack's own limit."""
        if self.file_size_limit is None:
            return "the stack's limit (50 MiB)"
        for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
            if self.file_size_limit >= size:
                return f"{self.file_size_limit / size:g} {unit}"
        return f"{self.file_size_limit} B"


def buckets(value: Any, where: str, s: Sanitizer) -> list[Bucket]:
    """A project's buckets; ids that are not `<project>-<name>` are refused (they reach code examples)."""
    value = s.items(value, where)
    found = []
    for i, item in enumerate(value):
        spot = f"{where}[{i}]"
        raw = item if isinstance(item, dict) else {}
        bucket_id = s.text(raw.get("id"), f"{spot}.id")
        if not bucket_id or not BUCKET_ID_RE.fullmatch(bucket_id):
            s.warn(f"{spot}: no bucket id of the form <project>-<name>, ignored")
            continue
        size = raw.get("fileSizeLimit")
        types = raw.get("allowedMimeTypes") if isinstance(raw.get("allowedMimeTypes"), list) else []
        found.append(Bucket(
            id=bucket_id, public=raw.get("public") is True,
            file_size_limit=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
            allowed_mime_types=[t for t in types if isinstance(t, str) and MIME_TYPE_RE.fullmatch(t)],
            name=_bucket_name(raw.get("name"), bucket_id)))
    return found


def _bucket_name(value: Any, bucket_id: str) -> str:
    """The bucket's name when it is one (components/core/buckets.py NAME), else its id's tail."""
    if isinstance(value, str) and BUCKET_NAME_RE.fullmatch(value):
        return value
    return bucket_id.split("-", 1)[1]
