"""BackupService: the stack's one backup container, for every project, on a schedule.

It runs the repository's own `python -m backup` (built into a small image from
backup/Dockerfile: Debian's postgresql-client of the db image's major version and the
packages of backup/requirements.txt), so the
scheduled backups and the on-demand ones are the same code. Backups go to a protected
volume, kept `retention` deep per project, and optionally to an S3-compatible bucket. The
project list is read from the registry at each round: adding a project changes nothing here.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.core.config import BackupsConfig
from components.core.images import BACKUP_BASE, DB_IMAGE, IMAGES, image
from components.core.options import after
from components.resources.postgres import ADMIN_USER, Postgres, internal_url
from components.resources.service import Mount, ServiceSpec, declare, named_volume

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "backup/Dockerfile"
# What the image copies; /.dockerignore sends the daemon exactly these (a test keeps them equal).
CONTEXT = ("backup/*.py", "backup/requirements.txt",
           "components/__init__.py",
           "components/core/__init__.py",
           "components/core/naming.py",
           "components/core/migrations.py",
           "components/core/pg_pool.py",
           "components/core/project_description.py",
           "components/core/service_schemas.py",
           "components/core/sql_templates.py", "sql/**")
IMAGE_REPOSITORY = "supabase-multi-instance-backup"
BACKUP_DIR = "/backups"


def pg_major(major: int = 15) -> str:
    """The PostgreSQL major of the db image of `major` (supabase/postgres:15.8.1.085 -> 15)."""
    return IMAGES[DB_IMAGE[major]].rpartition(":")[2].split(".")[0]


def context_files(root: Path = REPO_ROOT) -> list[Path]:
    globs = [pattern + "/*" if pattern.endswith("/**") else pattern for pattern in CONTEXT]  # Docker's ** is recursive
    found = {p for pattern in globs for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts}
    return sorted(found | {root / DOCKERFILE, root / ".dockerignore"})


def image_tag(root: Path = REPO_ROOT, major: int = 15) -> str:
    """A digest of the build's inputs: a changed file is a new tag, so `pulumi up` rebuilds and replaces."""
    digest = hashlib.sha256(f"{image(BACKUP_BASE[major])}|{pg_major(major)}".encode())
    for path in context_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BackupArgs:
    config: BackupsConfig
    network_name: pulumi.Input[str]
    database: Postgres
    password: pulumi.Input[str]  # the stack's postgres password (the admin role's)


def backup_spec(args: BackupArgs, built_image: pulumi.Input[str], volume: docker.Volume) -> ServiceSpec:
    config = args.config
    env = {"BACKUP_DIR": BACKUP_DIR, "BACKUP_SCHEDULE": config.schedule, "BACKUP_RETENTION": str(config.retention),
           "TZ": "UTC"}
    secret = {"DATABASE_URL": pulumi.Output.from_input(args.password).apply(
        lambda pw: internal_url("postgresql", ADMIN_USER, pw))}
    if config.s3:
        env |= {"BACKUP_S3_ENDPOINT": config.s3.endpoint, "BACKUP_S3_BUCKET": config.s3.bucket,
                "BACKUP_S3_REGION": config.s3.region, "BACKUP_S3_PREFIX": pulumi.get_stack(),
                "BACKUP_S3_ACCESS_KEY_ID": config.s3.access_key_id}
        secret["BACKUP_S3_SECRET_ACCESS_KEY"] = pulumi.Output.secret(config.s3.secret_access_key.get_secret_value())
    return ServiceSpec(name="backup", network_name=args.network_name, image_id=built_image, env=env, secret_env=secret,
                       mounts=[Mount(BACKUP_DIR, volume=volume.name)])


class BackupService(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:BackupService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.volume = named_volume("backups", "backups", child, keep=True)
        major = args.database.major
        self.image = docker.Image(
            f"{name}-image",
            build=docker.DockerBuildArgs(context=".", dockerfile=DOCKERFILE,
                                         args={"BASE": image(BACKUP_BASE[major]), "PG_MAJOR": pg_major(major)}),
            image_name=f"{IMAGE_REPOSITORY}:{image_tag(major=major)}",
            skip_push=True,
            opts=child,
        )
        self.container = declare(backup_spec(args, self.image.image_name, self.volume),
                                 after(child, [args.database.ready, args.database.bootstrap]))
        self.register_outputs({})
