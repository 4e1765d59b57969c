"""An S3-compatible copy of each backup (AWS, MinIO, Garage, R2, ...), with the same retention."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backup.retention import NAME


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    prefix: str = ""  # e.g. the stack name, so stacks can share a bucket

    def key(self, project: str, filename: str) -> str:
        return f"{self.prefix.strip('/') + '/' if self.prefix.strip('/') else ''}{project}/{filename}"


def _client(target: S3Target):
    import boto3
    from botocore.config import Config

    # Path-style addressing: what self-hosted S3-compatible servers answer to.
    return boto3.client("s3", endpoint_url=target.endpoint, region_name=target.region,
                        aws_access_key_id=target.access_key_id, aws_secret_access_key=target.secret_access_key,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}))


def upload(target: S3Target, project: str, path: Path) -> str:
    key = target.key(project, path.name)
    _client(target).upload_file(str(path), target.bucket, key)
    return key


def prune(target: S3Target, project: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups of `project` under the target's prefix."""
    client = _client(target)
    prefix = target.key(project, "")
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if NAME.match(o["Key"][len(prefix):])]
    old = sorted(keys)[:-keep] if keep else sorted(keys)
    for key in old:
        client.delete_object(Bucket=target.bucket, Key=key)
    return old


def listing(target: S3Target, project: str) -> list[str]:
    client = _client(target)
    prefix = target.key(project, "")
    return sorted(o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix)
                  for o in page.get("Contents", []))
