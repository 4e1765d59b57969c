"""The connection budget (components/core/connection_budget.py): the pools' ceilings are set on
the containers, Postgres's max_connections is the stack's setting, and a stack whose pools
cannot fit in it is refused at preview with the numbers, before any resource."""
from __future__ import annotations

import pytest

from components.core import connection_budget
from components.core.config import ConfigError, parse_config
from tests.program import dev_config, run_program
from tests.stack_inputs import env_names, env_value

CONTAINER = "docker:index/container:Container"


def raw(projects: int, mode: str = "own", **extra) -> dict:
    return {"projects": [{"name": f"p{i:03d}", "auth": {"mode": mode}} for i in range(projects)], **extra}


def env_of(run, name: str) -> dict[str, str]:
    (container,) = [r for r in run.of_type(CONTAINER) if r.name == name]
    return {n: env_value(container, n) for n in env_names(container)}


def test_the_stack_sets_every_pool_it_counts_and_postgres_max_connections():
    run = run_program(dev_config())
    (db,) = [r for r in run.of_type(CONTAINER) if r.name == "db"]
    assert db.inputs["command"][-2:] == ["-c", "max_connections=1000"]
    assert env_of(run, "rest")["PGRST_DB_POOL"] == str(connection_budget.REST_POOL)
    assert env_of(run, "auth")["GOTRUE_DB_MAX_POOL_SIZE"] == str(connection_budget.STACK_AUTH_POOL)
    assert env_of(run, "auth-blog")["GOTRUE_DB_MAX_POOL_SIZE"] == str(connection_budget.PROJECT_AUTH_POOL)
    (provider,) = [r for r in run.resources if r.typ == "pulumi:providers:postgresql"]
    assert int(provider.inputs["maxConnections"]) == connection_budget.PROVIDER_POOL


def test_projects_whose_pools_cannot_fit_are_refused_with_the_numbers():
    shared = connection_budget.needed(parse_config(raw(0)))
    fits = (1000 - shared) // connection_budget.PROJECT_AUTH_POOL
    parse_config(raw(fits))  # exactly at the limit
    with pytest.raises(ConfigError) as err:
        parse_config(raw(fits + 1))
    total = shared + (fits + 1) * connection_budget.PROJECT_AUTH_POOL
    (line,) = [p for p in err.value.problems if p.startswith("postgresMaxConnections")]
    assert f"1000 is fewer than the {total} connections" in line
    assert f"{fits + 1} project GoTrues {(fits + 1) * connection_budget.PROJECT_AUTH_POOL}" in line
    assert f"set postgresMaxConnections to at least {total}" in line
    parse_config(raw(fits + 1, postgresMaxConnections=total))  # the fix the line names


def test_projects_on_the_stacks_users_open_no_pool_of_their_own():
    assert connection_budget.needed(parse_config(raw(400, mode="shared"))) == connection_budget.needed(parse_config(raw(0)))


def test_optional_services_count_when_on():
    base = connection_budget.needed(parse_config(raw(0)))
    with_pooler = connection_budget.needed(parse_config(raw(0, features={"pooler": True})))
    assert with_pooler == base + 25


@pytest.mark.parametrize("value", [99, 10001, "many"])
def test_max_connections_out_of_range_is_refused(value):
    with pytest.raises(ConfigError) as err:
        parse_config(raw(0, postgresMaxConnections=value))
    assert any(p.startswith("postgresMaxConnections") for p in err.value.problems)


def test_adding_a_project_leaves_max_connections_as_it_was():
    config = dev_config()
    before = run_program(config)
    config["supabase-multi-instance:projects"] = [*config["supabase-multi-instance:projects"], {"name": "extra"}]
    after = run_program(config)
    db = [[r.inputs for r in run.of_type(CONTAINER) if r.name == "db"] for run in (before, after)]
    assert db[0] == db[1]
