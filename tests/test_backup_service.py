"""The backup service as __main__.py declares it (Pulumi mocks), and its config contract."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from components.resources import backup
from components.core.config import ConfigError, parse_config
from components.core.images import image
from tests.program import run_program
from tests.stack_inputs import CONTAINER, VOLUME, config_with, containers, env_value, leaks, plain

IMAGE_BUILD = "docker:index/image:Image"
S3 = {"endpoint": "https://s3.example.com", "bucket": "my-backups", "accessKeyId": "AKIAEXAMPLE",
      "secretAccessKey": "FAKESECRETs3key0123456789"}


@pytest.fixture(scope="module")
def dev():
    return run_program()


def test_one_backup_container_runs_the_built_image_with_the_backup_volume(dev):
    (built,) = dev.of_type(IMAGE_BUILD)
    assert built.inputs["imageName"] == f"supabase-multi-instance-backup:{backup.image_tag(major=17)}"
    assert built.inputs["skipPush"] is True
    assert built.inputs["build"]["context"] == "." and built.inputs["build"]["dockerfile"] == "backup/Dockerfile"
    assert built.inputs["build"]["args"] == {"BASE": image("backup-base-17"), "PG_MAJOR": "17"}  # a new stack's major
    container = containers(dev)["backup"]
    assert container.inputs["image"] == built.inputs["imageName"]
    assert [v["containerPath"] for v in container.inputs["volumes"]] == ["/backups"]
    volume = next(v for v in dev.of_type(VOLUME) if v.name == "backups")
    assert volume.protect and volume.inputs["name"] == "supabase-dev-backups"
    assert dev.parent_of(container).typ == "supabase-multi-instance:index:BackupService"
    (passwords,) = dev.of_type("pulumi-python:dynamic/supabase:DatabasePasswords")
    assert passwords.urn in container.dependencies  # the database, with its current password, first


def test_the_container_gets_schedule_retention_and_a_secret_database_url(dev):
    container = containers(dev)["backup"]
    assert env_value(container, "BACKUP_SCHEDULE") == "0 3 * * *"
    assert env_value(container, "BACKUP_RETENTION") == "7"
    assert env_value(container, "BACKUP_DIR") == "/backups"
    url = env_value(container, "DATABASE_URL")
    assert re.fullmatch(r"postgresql://supabase_admin:FAKESECRET[^@]+@db:5432/postgres", url)
    assert leaks(container.inputs, ["FAKESECRET"]) == []  # only inside secret markers
    assert not any(line.startswith("BACKUP_S3") for line in plain(container.inputs["envs"]))


def test_the_database_url_output_is_secret(dev):
    assert "databaseUrl" in dev.secret_outputs
    assert dev.outputs["databaseUrl"].startswith("postgresql://supabase_admin:")


def test_an_s3_target_reaches_the_container_with_its_key_as_a_secret():
    run = run_program(config_with(backups={"secure": json.dumps({"schedule": "30 */6 * * *", "retention": 3, "s3": S3})}))
    container = containers(run)["backup"]
    assert env_value(container, "BACKUP_SCHEDULE") == "30 */6 * * *" and env_value(container, "BACKUP_RETENTION") == "3"
    assert env_value(container, "BACKUP_S3_ENDPOINT") == "https://s3.example.com"
    assert env_value(container, "BACKUP_S3_BUCKET") == "my-backups"
    assert env_value(container, "BACKUP_S3_PREFIX") == "dev"
    assert env_value(container, "BACKUP_S3_SECRET_ACCESS_KEY") == S3["secretAccessKey"]
    assert leaks(container.inputs, [S3["secretAccessKey"]]) == []


def test_backups_can_be_switched_off():
    run = run_program(config_with(backups={"enabled": False}))
    assert "backup" not in containers(run) and run.of_type(IMAGE_BUILD) == []
    assert len(run.of_type(CONTAINER)) == len(containers(run))


# -- config ---------------------------------------------------------------------------------------


def problems(raw: dict, secret_keys=frozenset({"backups"})) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, secret_keys)
    return err.value.problems


def test_bad_backup_settings_get_one_line_each():
    lines = problems({"backups": {"schedule": "every night", "retention": 0,
                                  "s3": {**S3, "endpoint": "s3.example.com", "bucket": "My_Bucket"}}})
    assert "backups.schedule: 'every night' must be a cron schedule of 5 fields, in UTC, e.g. '0 3 * * *' " \
           "(every day at 03:00)" in lines
    assert any(line.startswith("backups.retention: 0 ") for line in lines)
    assert "backups.s3.endpoint: 's3.example.com' must be the service's base URL, e.g. " \
           "https://s3.eu-central-1.amazonaws.com" in lines
    assert "backups.s3.bucket: 'My_Bucket' must be an S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-'" in lines
    assert len(lines) == 4


def test_the_s3_secret_must_be_set_as_a_secret_and_is_never_echoed():
    lines = problems({"backups": {"s3": {**S3, "secretAccessKey": 12}}}, secret_keys=frozenset())
    assert lines[0] == ("backups.s3.secretAccessKey: is stored in plain text; set it with "
                        "`pulumi config set --secret --path 'backups.s3.secretAccessKey' ...`")
    assert lines[1].startswith("backups.s3.secretAccessKey: <hidden> ")
    assert lines == [lines[0], lines[1]]


def test_missing_s3_fields_and_unknown_keys_are_named():
    lines = problems({"backups": {"retension": 3, "s3": {"endpoint": "https://s3.example.com"}}})
    assert "backups.retension: unknown key; did you mean 'retention'?" in lines
    assert "backups.s3.bucket: is required" in lines and "backups.s3.secretAccessKey: is required" in lines


def test_backup_defaults():
    config = parse_config({})
    assert (config.backups.enabled, config.backups.schedule, config.backups.retention, config.backups.s3) == \
        (True, "0 3 * * *", 7, None)


# -- the image ------------------------------------------------------------------------------------


def test_the_docker_context_is_exactly_what_the_image_copies():
    ignore = (backup.REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert [line for line in ignore if line and not line.startswith("#")] == \
        ["*"] + [f"!{pattern}" for pattern in backup.CONTEXT]
    dockerfile = (backup.REPO_ROOT / backup.DOCKERFILE).read_text()
    copied = {p for line in dockerfile.splitlines() if line.startswith("COPY ") for p in line.split()[1:-1]}
    # Exactly the modules backup/ imports, and what they import in turn.
    assert copied == {"backup/requirements.txt", "components/__init__.py", "components/core/__init__.py",
                      "components/core/naming.py", "components/core/migrations.py", "components/core/pg_pool.py",
                      "components/core/project_description.py", "components/core/service_schemas.py",
                      "components/core/sql_templates.py", "sql/", "backup/"}
    assert "postgresql-client-${PG_MAJOR}" in dockerfile and "FROM ${BASE}" in dockerfile
    assert 'CMD ["python", "-m", "backup", "schedule"]' in dockerfile


def test_every_backup_module_imports_from_what_the_image_copies(tmp_path):
    """The image holds only the context's files: each module of backup/ imports from them alone
    (a module of components/ the context lacks fails the container at its first run)."""
    for path in backup.context_files():
        target = tmp_path / path.relative_to(backup.REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    modules = sorted(f"backup.{p.stem}" for p in (tmp_path / "backup").glob("*.py") if p.stem != "__init__")
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + code,
                           *modules], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_image_installs_the_package_versions_the_tests_run():
    """backup/requirements.txt pins what the container imports; the same ranges as the repository's."""
    def specs(path):
        found = (re.fullmatch(r"([A-Za-z0-9_-]+)(\[\w+\])?(\S+)", line.strip())
                 for line in (backup.REPO_ROOT / path).read_text().splitlines() if line and not line.startswith(("#", "-")))
        return {m[1].lower(): m[3] for m in found}
    image_side, repo_side = specs("backup/requirements.txt"), specs("requirements.txt")
    assert set(image_side) == {"psycopg", "jinja2", "boto3", "croniter"}
    assert {name: repo_side[name] for name in image_side} == image_side


def test_a_changed_source_file_is_a_new_image_tag(tmp_path):
    for path in backup.context_files():
        target = tmp_path / path.relative_to(backup.REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    before = backup.image_tag(tmp_path)
    assert before == backup.image_tag()
    (tmp_path / "backup" / "dump.py").write_text("# changed\n", encoding="utf-8")
    assert backup.image_tag(tmp_path) != before


def test_the_base_image_is_pinned_and_matches_the_databases_major_version():
    assert image("backup-base") == "debian:12.13-slim"  # Debian 12 ships postgresql-client-15
    assert backup.pg_major() == backup.pg_major(15) == "15"
    assert image("backup-base-17") == "debian:13.5-slim"  # Debian 13 ships postgresql-client-17
    assert backup.pg_major(17) == "17"
