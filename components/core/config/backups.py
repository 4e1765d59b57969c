"""`backups`: the stack's scheduled backups and their optional copy to S3 (README, Backups
and restore); the service itself is components/resources/backup.py."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from components.core.config.rules import CRON_RULE, S3_BUCKET, ConfigModel


class S3Config(ConfigModel):
    """An S3-compatible bucket that receives a copy of every scheduled backup."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    access_key_id: str = Field(alias="accessKeyId", min_length=1)
    secret_access_key: SecretStr = Field(alias="secretAccessKey")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("must be the service's base URL, e.g. https://s3.eu-central-1.amazonaws.com")
        return v.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not S3_BUCKET.fullmatch(v) or ".." in v:
            raise ValueError("must be an S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-'")
        return v


class BackupsConfig(ConfigModel):
    """The stack's backup service (README, Backups and restore): every project, on a schedule."""

    enabled: bool = True
    schedule: str = "0 3 * * *"
    retention: int = Field(7, ge=1, le=1000)
    s3: Optional[S3Config] = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        from croniter import croniter

        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(CRON_RULE)
        return v
