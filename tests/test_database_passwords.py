"""The password step in the resource graph: everything that logs in to Postgres waits for it.

Under Pulumi mocks with the real __main__.py. Changing postgresPassword replaces the
containers (their env changes); the engine runs a resource only after its dependencies, so
a container that depends on DatabasePasswords starts only once the live roles have the new
password. The SQL of that step is tested on a real server in test_role_passwords.py.
"""
from __future__ import annotations

import pytest
from pulumi.runtime.rpc import is_rpc_secret

from tests.program import ProgramRun, fake_secret, run_program
from tests.stack_inputs import ALL_FEATURES, CONTAINER, config_with, containers, plain

PASSWORDS = "pulumi-python:dynamic/supabase:DatabasePasswords"


@pytest.fixture(scope="module")
def full() -> ProgramRun:
    return run_program(config_with(features=ALL_FEATURES))


def test_one_password_step_after_the_database_container(full):
    (step,) = full.of_type(PASSWORDS)
    db = containers(full)["db"]
    assert db.urn in step.dependencies
    assert full.parent_of(step).name == "db"
    assert is_rpc_secret(step.inputs["password"])
    assert plain(step.inputs["password"]) == fake_secret("postgres-password", 32)
    assert {k: step.inputs[k] for k in ("host", "port", "user", "database", "internal_database")} == {
        "host": "127.0.0.1", "port": 5432, "user": "supabase_admin", "database": "postgres",
        "internal_database": "_supabase"}


def test_every_container_given_the_postgres_password_waits_for_the_step(full):
    (step,) = full.of_type(PASSWORDS)
    password = fake_secret("postgres-password", 32)
    with_password = {name: c for name, c in containers(full).items()
                     if any(password in line for line in plain(c.inputs.get("envs") or []))}
    # Not vacuous: every service that connects to Postgres is found by its env.
    assert set(with_password) == {"db", "rest", "auth", "realtime", "storage", "meta", "studio", "analytics",
                                  "functions", "supavisor", "backup"}
    late = [name for name, c in with_password.items() if name != "db" and step.urn not in c.dependencies]
    assert late == []


def test_the_provider_and_the_bootstrap_connect_after_the_step(full):
    (step,) = full.of_type(PASSWORDS)
    (provider,) = full.of_type("pulumi:providers:postgresql")
    (bootstrap,) = full.of_type("pulumi-python:dynamic/supabase:StackBootstrap")
    assert step.urn in provider.dependencies and step.urn in bootstrap.dependencies


def test_containers_without_the_password_do_not_wait(full):
    (step,) = full.of_type(PASSWORDS)
    for name in ("imgproxy", "vector", "kong", "dashboard"):
        assert step.urn not in containers(full)[name].dependencies, name


def test_a_new_password_changes_the_step_and_the_services_but_adds_nothing():
    before = run_program(config_with())
    after = run_program(config_with(postgresPassword={"secure": "a-brand-new-password-0123456789"}))
    assert [r.typ for r in before.resources].count(PASSWORDS) == 1
    # The only resource that goes: the generated password the config now overrides.
    gone = {(r.typ, r.name) for r in before.resources} - {(r.typ, r.name) for r in after.resources}
    assert gone == {("random:index/randomPassword:RandomPassword", "postgres-password")}
    assert len(after.resources) == len(before.resources) - 1
    (step,) = after.of_type(PASSWORDS)
    assert plain(step.inputs["password"]) == "a-brand-new-password-0123456789"
    rest = {r.name: r for r in after.of_type(CONTAINER)}["rest"]
    assert "a-brand-new-password-0123456789" in str(plain(rest.inputs["envs"]))
