"""Public Realtime channels cannot cross projects: the stack keeps the one tenant private-only.

sql/bootstrap/0004_realtime_private_only.sql.j2 on a real PostgreSQL, with Realtime's own
tables from its pinned migrations (tests/sql/realtime_tenants.sql, v2.78.15), the seed that
runs at every Realtime start and the tenant API's update as Realtime sends them, and the
channel join decision from the pinned source (tests/realtime_api.py).
"""
from __future__ import annotations

import psycopg
import pytest

from tests import pg
from tests import realtime_api as realtime
from tests import storage_api as storage

TRIGGER = "supabase_multi_private_only"


def private_only(dsn: str) -> bool:
    return realtime.tenant_row(dsn)["private_only"]


def trigger_state(dsn: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select tgenabled from pg_trigger where tgrelid = to_regclass('_realtime.tenants')"
                           " and tgname = %s", (TRIGGER,)).fetchone()
    return row[0] if row else None


def realtime_starts(dsn: str) -> None:
    """run.sh at a container start: bin/migrate, then the self-host seed."""
    realtime.migrate_realtime(dsn)
    realtime.seed_self_host(dsn)


@pytest.fixture
def stack(db):
    """A new stack in Pulumi's order: bootstrap, then Realtime's first start, then projects."""
    pg.bootstrap(db)
    realtime_starts(db)
    return db, pg.create_project(db, "a"), pg.create_project(db, "b")


def tokens(names) -> list[str]:
    return [storage.key(names.anon), storage.key(names.service),
            storage.user_token(names.authenticated, pg.new_user_id())]


# -- the tenant stays private-only ------------------------------------------------------------


def test_without_the_stack_the_seeded_tenant_allows_public_channels(db):
    """What the seed leaves on its own: the gap this step closes (and the check can fail)."""
    realtime_starts(db)
    assert private_only(db) is False
    assert trigger_state(db) is None


def test_the_tenant_realtime_creates_after_the_bootstrap_is_private_only(db):
    pg.bootstrap(db)
    assert trigger_state(db) is None  # no _realtime.tenants yet: Realtime has not started
    realtime.migrate_realtime(db)
    assert trigger_state(db) == "O"  # attached when Realtime's migration created the table
    realtime.seed_self_host(db)
    assert private_only(db) is True


def test_every_restart_of_realtime_keeps_it_private_only(stack):
    dsn, *_ = stack
    for _ in range(2):
        realtime_starts(dsn)  # the seed deletes the tenant and inserts it with private_only false
        assert private_only(dsn) is True


def test_a_stack_whose_realtime_already_ran_gets_it_at_the_bootstrap(db):
    realtime_starts(db)
    pg.bootstrap(db)
    assert private_only(db) is True and trigger_state(db) == "O"
    realtime_starts(db)
    assert private_only(db) is True


def test_no_update_turns_it_off(stack):
    """The tenant API's PUT and Realtime's own bookkeeping go through Repo.update."""
    dsn, *_ = stack
    realtime.update_tenant(dsn, private_only=False)
    assert private_only(dsn) is True
    realtime.update_tenant(dsn, migrations_ran=68)
    assert private_only(dsn) is True and realtime.tenant_row(dsn)["migrations_ran"] == 68


def test_a_new_tenant_is_private_only_too(stack):
    dsn, *_ = stack
    realtime.seed_self_host(dsn, tenant="another")
    assert realtime.tenant_row(dsn, "another")["private_only"] is True


def test_a_disabled_trigger_is_enabled_again_at_once(stack):
    dsn, *_ = stack
    pg.run(dsn, f"alter table _realtime.tenants disable trigger {TRIGGER}")
    assert trigger_state(dsn) == "O"
    realtime.update_tenant(dsn, private_only=False)
    assert private_only(dsn) is True


def test_ddl_elsewhere_by_any_role_is_untouched(stack):
    """The event trigger looks only at `_realtime`: a project's migrations (as its owner) run as before."""
    dsn, *_ = stack
    pg.run(dsn, "drop trigger supabase_multi_private_only on _realtime.tenants")
    pg.create_project(dsn, "c")
    assert trigger_state(dsn) is None


def test_realtime_recreating_its_tables_gets_the_trigger_again(stack):
    """Realtime's migrations run again on an emptied `_realtime` (as on a new Realtime version
    that recreates its table): nothing refuses them, and the new table is guarded again."""
    dsn, *_ = stack
    pg.run(dsn, "drop schema _realtime cascade")
    realtime_starts(dsn)
    assert trigger_state(dsn) == "O" and private_only(dsn) is True


# -- attacks: another project's keys and users on b's topics ----------------------------------


def test_a_public_join_of_another_projects_topic_is_refused(stack):
    dsn, a, _ = stack
    for token in tokens(a):
        assert realtime.join(dsn, token, "b:room", private=False) == "PrivateOnly"
        assert not realtime.can_broadcast(dsn, token, "b:room", private=False)


def test_a_private_join_of_another_projects_topic_is_refused(stack):
    dsn, a, _ = stack
    for token in tokens(a):
        assert realtime.join(dsn, token, "b:room", private=True) == "Unauthorized"
        assert not realtime.can_broadcast(dsn, token, "b:room", private=True)


def test_the_attack_succeeds_on_a_tenant_that_allows_public_channels(stack):
    """The same public join against the tenant as upstream seeds it: the model lets it in, so the
    refusals above come from `private_only`, not from the model."""
    dsn, a, _ = stack
    pg.run(dsn, "drop event trigger supabase_multi_realtime_private_only")
    pg.run(dsn, f"drop trigger {TRIGGER} on _realtime.tenants")
    realtime.seed_self_host(dsn)
    assert private_only(dsn) is False
    for token in tokens(a):
        assert realtime.join(dsn, token, "b:room", private=False) is None
        assert realtime.can_broadcast(dsn, token, "b:room", private=False)


def test_a_project_uses_its_own_topics_on_private_channels_only(stack):
    dsn, a, b = stack
    for token in tokens(a):
        assert realtime.join(dsn, token, "a:room", private=True) is None
        assert realtime.can_broadcast(dsn, token, "a:room", private=True)
        assert realtime.join(dsn, token, "a:room", private=False) == "PrivateOnly"
    assert realtime.join(dsn, storage.key(b.anon), "b:room", private=True) is None


def test_the_stacks_own_keys(stack):
    """The stack's anon key and users get no channel; its service_role key (BYPASSRLS in the
    image) gets every private one, as Studio's inspector uses it."""
    dsn, *_ = stack
    for token in (storage.key("anon"), storage.user_token("authenticated", pg.new_user_id())):
        assert realtime.join(dsn, token, "b:room", private=False) == "PrivateOnly"
        assert realtime.join(dsn, token, "b:room", private=True) == "Unauthorized"
    assert realtime.join(dsn, storage.key("service_role"), "room", private=False) == "PrivateOnly"
    assert realtime.join(dsn, storage.key("service_role"), "b:room", private=True) is None
