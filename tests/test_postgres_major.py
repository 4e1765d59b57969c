"""Which PostgreSQL major a stack runs (config postgresMajor), and what switching it replaces,
under Pulumi mocks: new stacks on 17, a 15 stack keeps its volume and image until the operator
changes the setting after `python -m backup upgrade-major` (README, "Upgrading Postgres to a new major")."""
from __future__ import annotations

import pytest

from components.core.config import ConfigError, parse_config
from components.core.images import IMAGES
from tests.program import run_program
from tests.stack_inputs import config_with, docker_inputs

VOLUME, CONTAINER, IMAGE = "docker:index/volume:Volume", "docker:index/container:Container", "docker:index/remoteImage:RemoteImage"


def db_parts(run):
    volumes = {r.name: r for r in run.of_type(VOLUME)}
    (image,) = [r for r in run.of_type(IMAGE) if r.name == "db-image"]
    (db,) = [r for r in run.of_type(CONTAINER) if r.name == "db"]
    mounts = {v["containerPath"]: v["volumeName"] for v in db.inputs["volumes"]}
    return volumes, image.inputs["name"], mounts


def test_a_new_stack_runs_postgres_17_on_a_volume_named_for_it():
    volumes, image, mounts = db_parts(run_program(config_with()))
    assert image == IMAGES["db-17"] and image.startswith("supabase/postgres:17.")
    assert mounts["/var/lib/postgresql/data"] == "supabase-dev-db-data-17" and volumes["db-data-17"].protect
    assert mounts["/etc/postgresql-custom"] == "supabase-dev-db-config-17" and volumes["db-config-17"].protect
    assert "db-data" not in volumes and "db-config" not in volumes


def test_a_stack_recorded_at_15_keeps_its_volume_and_image():
    volumes, image, mounts = db_parts(run_program(config_with(postgresMajor=15)))
    assert image == IMAGES["db"] and image.startswith("supabase/postgres:15.")
    assert mounts["/var/lib/postgresql/data"] == "supabase-dev-db-data" and volumes["db-data"].protect
    assert mounts["/etc/postgresql-custom"] == "supabase-dev-db-config" and volumes["db-config"].protect


def test_only_the_known_majors_are_accepted_and_the_error_names_the_field():
    with pytest.raises(ConfigError) as err:
        parse_config({"postgresMajor": "16"}, frozenset())
    assert "postgresMajor" in str(err.value)


def test_the_preview_of_the_switch_replaces_the_db_backup_and_usage_containers_only():
    """What `pulumi preview` shows after the upgrade step, when postgresMajor goes 15 -> 17: the db
    image, the db container (new image, new volume) and the backup image (the client tools of 17)
    and the usage collector's image change; the 15 volumes leave the program, and its protection refuses its deletion (the
    operator unprotects and forgets it once the upgrade is verified); no other container changes."""
    before, after = run_program(config_with(postgresMajor=15)), run_program(config_with(postgresMajor=17))
    old, new = docker_inputs(before), docker_inputs(after)
    why = {key[1]: sorted(f for f in set(old[key]) | set(new[key]) if old[key].get(f) != new[key].get(f))
           for key in set(old) & set(new) if old[key] != new[key]}
    assert why == {
        "db-image": ["name"],  # supabase/postgres:15.8.1.085 -> 17.6.1.084
        "db": ["volumes"],  # the data volume of 17 (and, at apply time, the new image's id)
        "backup-image": ["build", "imageName"],  # Debian 13 and postgresql-client-17
        "backup": ["image"],  # the rebuilt backup image
        "usage-image": ["name"],  # the usage collector's psql follows the db's major (its container: the image's id)
    }
    (db_image,) = [r for r in after.of_type(IMAGE) if r.name == "db-image"]
    assert db_image.inputs["name"] == IMAGES["db-17"]
    assert sorted(k[1] for k in set(old) - set(new)) == ["db-config", "db-data"]
    assert sorted(k[1] for k in set(new) - set(old)) == ["db-config-17", "db-data-17"]
    assert all(r.protect for r in before.of_type(VOLUME) if r.name in ("db-data", "db-config"))
