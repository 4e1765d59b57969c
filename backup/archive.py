"""The backup file: one tar with a manifest (project, versions, checksums) and the dumps.

Written to a temporary name and renamed, so a backup on disk is always whole. Opening one
verifies everything before anything else reads it: the manifest's own checksum, the format
and version, every listed file's size and SHA-256, and that nothing unlisted rides along.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from backup.errors import BackupError

FORMAT = "supabase-multi-instance/project-backup"
VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
SUFFIX = ".tar"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def write(path: Path, manifest: dict[str, Any], files: dict[str, Path]) -> Path:
    """Write `files` (name -> path) and their checksums into the manifest, atomically."""
    manifest = {**manifest, "format": FORMAT, "version": VERSION,
                "files": {name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for name, p in files.items()}}
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST_SUM, (hashlib.sha256(data).hexdigest() + "\n").encode())
        _add_bytes(tar, MANIFEST, data)
        for name, source in files.items():
            info = tar.gettarinfo(str(source), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            with open(source, "rb") as f:
                tar.addfile(info, f)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)
    return path


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class OpenedBackup:
    """A verified backup, its files extracted to a private temporary folder."""

    path: Path
    manifest: dict[str, Any]
    folder: Path

    def file(self, name: str) -> Path:
        return self.folder / name

    def has(self, name: str) -> bool:
        return name in self.manifest["files"]


@contextmanager
def opened(path: Path) -> Iterator[OpenedBackup]:
    """Verify `path` completely, then yield it; refuses (BackupError) anything not whole and ours."""
    path = Path(path)
    refuse = f"{path}: refused, nothing was changed:"
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as err:
        raise BackupError(f"{refuse} not a backup of this tool (not a tar archive: {err})") from None
    with tar, tempfile.TemporaryDirectory(prefix="backup-") as tmp:
        members = _members(tar, refuse)
        manifest = _manifest(tar, members, refuse)
        listed = manifest["files"]
        extra = set(members) - set(listed) - {MANIFEST, MANIFEST_SUM}
        if extra:
            raise BackupError(f"{refuse} it holds files its manifest does not list: {', '.join(sorted(extra))}")
        for name, expected in listed.items():
            if name not in members:
                raise BackupError(f"{refuse} {name} is missing (the file is truncated or was altered)")
            _extract_checked(tar, members[name], Path(tmp) / name, expected, refuse)
        yield OpenedBackup(path, manifest, Path(tmp))


def _members(tar: tarfile.TarFile, refuse: str) -> dict[str, tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"{refuse} the archive is damaged ({err})") from None
    found: dict[str, tarfile.TarInfo] = {}
    for m in members:
        if not m.isfile() or "/" in m.name or m.name.startswith(".") or m.name in found:
            raise BackupError(f"{refuse} unexpected archive member {m.name!r}")
        found[m.name] = m
    return found


def _manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], refuse: str) -> dict[str, Any]:
    if MANIFEST not in members or MANIFEST_SUM not in members:
        raise BackupError(f"{refuse} not a backup of this tool (no {MANIFEST})")
    data = _read(tar, members[MANIFEST], refuse)
    recorded = _read(tar, members[MANIFEST_SUM], refuse).decode(errors="replace").strip()
    if hashlib.sha256(data).hexdigest() != recorded:
        raise BackupError(f"{refuse} {MANIFEST} is corrupted (checksum mismatch)")
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BackupError(f"{refuse} {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{refuse} not a backup of this tool (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("version") != VERSION:
        raise BackupError(f"{refuse} backup format version {manifest.get('version')!r}; this tool reads version {VERSION}")
    for key in ("project", "template", "files", "schemas", "roles", "migrations", "tables"):
        if key not in manifest:
            raise BackupError(f"{refuse} {MANIFEST} lacks {key!r}")
    return manifest


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, refuse: str) -> bytes:
    try:
        f = tar.extractfile(member)
        return f.read() if f else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"{refuse} the archive is damaged ({err})") from None


def _extract_checked(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, expected: dict, refuse: str) -> None:
    digest = hashlib.sha256()
    try:
        source = tar.extractfile(member)
        assert source is not None
        with open(target, "wb") as out:
            for block in iter(lambda: source.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"{refuse} the archive is damaged ({err})") from None
    if member.size != expected.get("bytes") or digest.hexdigest() != expected.get("sha256"):
        raise BackupError(f"{refuse} {member.name} does not match its checksum in {MANIFEST} (corrupted)")


def read_manifest(path: Path) -> dict[str, Any]:
    """The verified manifest of a backup (for `list` and `verify`)."""
    with opened(path) as backup:
        return backup.manifest
