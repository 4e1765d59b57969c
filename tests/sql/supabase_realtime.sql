-- The `realtime` schema as supabase/realtime v2.78.15 (components/images.py; tag commit
-- eeba89e1245556dc94d4a7851114c13e82c6718f) leaves it after its tenant migrations
-- (lib/realtime/tenants/repo/migrations/*.ex), plus the `supabase_realtime` publication
-- of the supabase/postgres image (migrations/db/init-scripts/00000000000000-initial-schema.sql),
-- for the objects that decide who receives what:
--
-- * broadcast/presence authorization: realtime.messages (partitioned, RLS on) and
--   realtime.topic(); Realtime checks a channel by inserting a message per extension,
--   switching to the token's role with its claims and `realtime.topic`, and selecting
--   (read) or inserting (write) as that role (lib/realtime/tenants/authorization.ex);
-- * postgres changes: realtime.subscription and realtime.apply_rls(wal), which decides per
--   subscriber role whether a change is visible: SELECT privilege on the primary key, then
--   row level security, by running a prepared `select exists(... where pk = value)` as the
--   role with the subscriber's claims (20251120215549_filter_action_postgres_changes.ex).
--
-- Written for the tests from those files (each piece names its migration); apply_rls and
-- its helpers are condensed to the steps that decide visibility. realtime.list_changes,
-- which feeds apply_rls from a wal2json replication slot, is left out: the tests hand
-- apply_rls the wal2json record of a change directly.

create schema if not exists realtime;

-- supabase/postgres initial schema: "defaults to empty publication"
do $$
begin
    if not exists (select from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end
$$;

-- 20211116024918_create_realtime_subscription_table.ex, 20230128025114_add_in_op_to_filters.ex
create type realtime.equality_op as enum ('eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in');
create type realtime.user_defined_filter as (column_name text, op realtime.equality_op, value text);
-- 20211116214523_create_realtime_apply_rls_function.ex, 20211210212804 (users -> subscription_ids)
create type realtime.action as enum ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'ERROR');
create type realtime.wal_rls as (wal jsonb, is_rls_enabled boolean, subscription_ids uuid[], errors text[]);
-- 20220603231003_add_quoted_regtypes_support.ex
create type realtime.wal_column as (
    name text, type_name text, type_oid oid, value jsonb, is_pkey boolean, is_selectable boolean);

-- 20211210212804_enable_generic_subscription_claims.ex
create function realtime.to_regrole(role_name text) returns regrole
immutable language sql as $$ select role_name::regrole $$;

-- 20211116024918, 20211210212804 (claims, claims_role), 20251120212548 (action_filter)
create table realtime.subscription (
    id bigint not null generated always as identity constraint pk_subscription primary key,
    subscription_id uuid not null,
    entity regclass not null,
    filters realtime.user_defined_filter[] not null default '{}',
    claims jsonb not null,
    claims_role regrole not null generated always as (realtime.to_regrole(claims ->> 'role')) stored,
    created_at timestamp not null default timezone('utc', now()),
    action_filter text default '*' check (action_filter in ('*', 'INSERT', 'UPDATE', 'DELETE'))
);
create index ix_realtime_subscription_entity on realtime.subscription using btree (entity);
create unique index subscription_subscription_id_entity_filters_action_filter_key
    on realtime.subscription (subscription_id, entity, filters, action_filter);

-- 20260218120000_fix_bytea_double_encoding_in_cast.ex
create function realtime.cast(val text, type_ regtype) returns jsonb
immutable language plpgsql as $$
declare
    res jsonb;
begin
    if type_::text = 'bytea' then
        return to_jsonb(val);
    end if;
    execute format('select to_jsonb(%L::' || type_::text || ')', val) into res;
    return res;
end
$$;

-- 20230128025114_add_in_op_to_filters.ex
create function realtime.check_equality_op(op realtime.equality_op, type_ regtype, val_1 text, val_2 text)
returns bool immutable language plpgsql as $$
declare
    op_symbol text = case op when 'eq' then '=' when 'neq' then '!=' when 'lt' then '<' when 'lte' then '<='
                             when 'gt' then '>' when 'gte' then '>=' when 'in' then '= any' else 'UNKNOWN OP' end;
    res boolean;
begin
    execute format('select %L::' || type_::text || ' ' || op_symbol || ' ( %L::'
                   || case when op = 'in' then type_::text || '[]' else type_::text end || ')', val_1, val_2)
       into res;
    return res;
end
$$;

-- 20220603231003: a record is visible when every filter holds (no filter: visible).
create function realtime.is_visible_through_filters(columns realtime.wal_column[], filters realtime.user_defined_filter[])
returns bool language sql immutable as $$
    select coalesce(sum(realtime.check_equality_op(op := f.op, type_ := col.type_oid::regtype,
                                                   val_1 := col.value #>> '{}', val_2 := f.value)::int) = count(1),
                    true)
      from unnest(filters) f
      join unnest(columns) col on f.column_name = col.name;
$$;

-- 20211116212300: the statement apply_rls runs as each subscriber role.
create function realtime.build_prepared_statement_sql(prepared_statement_name text, entity regclass,
                                                      columns realtime.wal_column[])
returns text language sql as $$
    select 'prepare ' || prepared_statement_name || ' as select exists(select 1 from ' || entity || ' where '
           || string_agg(quote_ident(pkc.name) || '=' || quote_nullable(pkc.value #>> '{}'), ' and ') || ')'
      from unnest(columns) pkc
     where pkc.is_pkey
     group by entity
$$;

-- 20230227211149: filters must name columns the subscriber's role may select.
create function realtime.subscription_check_filters() returns trigger
language plpgsql as $$
declare
    filter realtime.user_defined_filter;
begin
    for filter in select * from unnest(new.filters) loop
        if not exists (select from pg_attribute a
                        where a.attrelid = new.entity and a.attname = filter.column_name and a.attnum > 0
                          and has_column_privilege(new.claims ->> 'role', new.entity, a.attname, 'SELECT')) then
            raise exception 'invalid column for filter %', filter.column_name;
        end if;
    end loop;
    return new;
end
$$;
create trigger tr_check_filters before insert or update on realtime.subscription
    for each row execute function realtime.subscription_check_filters();

-- 20251120215549_filter_action_postgres_changes.ex, condensed to the visibility decision:
-- per subscriber role, 400 without a primary key, 401 without SELECT on it; else the
-- record's selectable columns go to the subscriptions whose role, with their claims,
-- can select the row (row level security); deletes pass without a row check.
create function realtime.apply_rls(wal jsonb, max_record_bytes int = 1024 * 1024)
returns setof realtime.wal_rls language plpgsql volatile as $$
declare
    entity_ regclass = (quote_ident(wal ->> 'schema') || '.' || quote_ident(wal ->> 'table'))::regclass;
    action realtime.action = case wal ->> 'action' when 'I' then 'INSERT' when 'U' then 'UPDATE'
                                                   when 'D' then 'DELETE' else 'ERROR' end;
    is_rls_enabled bool = relrowsecurity from pg_class where oid = entity_;
    subscriptions realtime.subscription[] = array_agg(subs) from realtime.subscription subs
        where subs.entity = entity_ and (subs.action_filter = '*' or subs.action_filter = action::text);
    roles regrole[] = array_agg(distinct us.claims_role::text) from unnest(subscriptions) us;
    working_role regrole;
    claims jsonb;
    subscription_id uuid;
    subscription_has_access bool;
    visible uuid[];
    columns realtime.wal_column[];
    old_columns realtime.wal_column[];
    output jsonb;
begin
    perform set_config('role', null, true);
    columns = array_agg((x ->> 'name', x ->> 'type', x ->> 'typeoid',
                         realtime.cast((x -> 'value') #>> '{}', coalesce((x ->> 'typeoid')::regtype, (x ->> 'type')::regtype)),
                         (pks ->> 'name') is not null, true)::realtime.wal_column)
        from jsonb_array_elements(wal -> 'columns') x
        left join jsonb_array_elements(wal -> 'pk') pks on (x ->> 'name') = (pks ->> 'name');
    old_columns = array_agg((x ->> 'name', x ->> 'type', x ->> 'typeoid',
                             realtime.cast((x -> 'value') #>> '{}', coalesce((x ->> 'typeoid')::regtype, (x ->> 'type')::regtype)),
                             (pks ->> 'name') is not null, true)::realtime.wal_column)
        from jsonb_array_elements(wal -> 'identity') x
        left join jsonb_array_elements(wal -> 'pk') pks on (x ->> 'name') = (pks ->> 'name');

    for working_role in select * from unnest(roles) loop
        columns = array_agg((c.name, c.type_name, c.type_oid, c.value, c.is_pkey,
                             has_column_privilege(working_role, entity_, c.name, 'SELECT'))::realtime.wal_column)
            from unnest(columns) c;
        old_columns = array_agg((c.name, c.type_name, c.type_oid, c.value, c.is_pkey,
                                 has_column_privilege(working_role, entity_, c.name, 'SELECT'))::realtime.wal_column)
            from unnest(old_columns) c;

        if action <> 'DELETE' and count(1) = 0 from unnest(columns) c where c.is_pkey then
            return next (jsonb_build_object('schema', wal ->> 'schema', 'table', wal ->> 'table', 'type', action),
                         is_rls_enabled,
                         (select array_agg(s.subscription_id) from unnest(subscriptions) s where claims_role = working_role),
                         array['Error 400: Bad Request, no primary key'])::realtime.wal_rls;
        elsif action <> 'DELETE' and sum(c.is_selectable::int) <> count(1) from unnest(columns) c where c.is_pkey then
            return next (jsonb_build_object('schema', wal ->> 'schema', 'table', wal ->> 'table', 'type', action),
                         is_rls_enabled,
                         (select array_agg(s.subscription_id) from unnest(subscriptions) s where claims_role = working_role),
                         array['Error 401: Unauthorized'])::realtime.wal_rls;
        else
            output = jsonb_build_object('schema', wal ->> 'schema', 'table', wal ->> 'table', 'type', action)
                || case when action in ('INSERT', 'UPDATE') then jsonb_build_object('record',
                        (select jsonb_object_agg(c.name, c.value) from unnest(columns) c where c.is_selectable))
                   else '{}'::jsonb end
                || case when action in ('UPDATE', 'DELETE') then jsonb_build_object('old_record',
                        (select jsonb_object_agg(c.name, c.value) from unnest(old_columns) c
                          where c.is_selectable and (action <> 'DELETE' or not is_rls_enabled or c.is_pkey)))
                   else '{}'::jsonb end;

            if is_rls_enabled and action <> 'DELETE' then
                if exists (select from pg_prepared_statements where name = 'walrus_rls_stmt') then
                    deallocate walrus_rls_stmt;
                end if;
                execute realtime.build_prepared_statement_sql('walrus_rls_stmt', entity_, columns);
            end if;

            visible = '{}';
            for subscription_id, claims in
                select subs.subscription_id, subs.claims from unnest(subscriptions) subs
                 where subs.claims_role = working_role
                   and (realtime.is_visible_through_filters(columns, subs.filters)
                        or (action = 'DELETE' and realtime.is_visible_through_filters(old_columns, subs.filters)))
            loop
                if not is_rls_enabled or action = 'DELETE' then
                    visible = visible || subscription_id;
                else
                    perform set_config('role', trim(both '"' from working_role::text), true),
                            set_config('request.jwt.claims', claims::text, true);
                    execute 'execute walrus_rls_stmt' into subscription_has_access;
                    if subscription_has_access then
                        visible = visible || subscription_id;
                    end if;
                end if;
            end loop;
            perform set_config('role', null, true);
            return next (output, is_rls_enabled, visible, '{}')::realtime.wal_rls;
        end if;
    end loop;
    perform set_config('role', null, true);
end
$$;

-- 20240523004032_redefine_authorization_tables.ex, 20241030150047_messages_partitioning.ex,
-- 20241108114728_messages_using_uuid.ex, 20250905041441_create_messages_replay_index.ex
create table realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp not null default now(),
    inserted_at timestamp not null default now(),
    id uuid not null default gen_random_uuid(),
    primary key (id, inserted_at)
) partition by range (inserted_at);
create index messages_inserted_at_topic_index on realtime.messages (inserted_at desc, topic)
    where extension = 'broadcast' and private is true;
alter table realtime.messages enable row level security;

-- 20240523004032: the topic of the channel being checked, set by authorization.ex.
create function realtime.topic() returns text language sql stable as $$
    select nullif(current_setting('realtime.topic', true), '')::text;
$$;

-- 20250128220012_realtime_send_sets_topic_config.ex (condensed): broadcast from the database.
create function realtime.send(payload jsonb, event text, topic text, private boolean default true) returns void
language plpgsql as $$
begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (payload, event, topic, private, extension)
    values (payload, event, topic, private, 'broadcast');
end
$$;

-- Daily partitions, as Realtime's tenant maintenance creates them (messages_YYYY_MM_DD).
do $$
declare
    day date;
begin
    for day in select generate_series(current_date - 1, current_date + 2, interval '1 day')::date loop
        execute format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
                       'messages_' || to_char(day, 'YYYY_MM_DD'), day, day + 1);
    end loop;
end
$$;

-- 20240401105812_create_realtime_admin_and_move_ownership.ex, 20240523004032
alter table realtime.messages owner to supabase_realtime_admin;
alter function realtime.topic() owner to supabase_realtime_admin;
grant all privileges on schema realtime to supabase_realtime_admin;
grant all privileges on all tables in schema realtime to supabase_realtime_admin;
grant all privileges on all sequences in schema realtime to supabase_realtime_admin;
grant all privileges on all functions in schema realtime to supabase_realtime_admin;
grant supabase_realtime_admin to postgres;

-- 20231204144023_set_required_grants.ex, 20240523004032, 20241030150047.
grant usage on schema realtime to postgres, anon, authenticated, service_role;
grant select on all tables in schema realtime to postgres, anon, authenticated, service_role;
grant execute on all functions in schema realtime to postgres, anon, authenticated, service_role;
grant usage on all sequences in schema realtime to postgres, anon, authenticated, service_role;
grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;
