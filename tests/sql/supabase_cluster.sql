-- Cluster-wide roles as the supabase/postgres image creates them (roles are shared by
-- every database of a server, so the tests create them once per session).
do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    -- Storage logs in as supabase_storage_admin (supabase/postgres
    -- migrations/db/init-scripts/00000000000002-storage-schema.sql) and switches to the
    -- token's role through authenticator (migrations/db/migrations/
    -- 20231013070755_grant_authenticator_to_supabase_storage_admin.sql).
    if not exists (select from pg_roles where rolname = 'supabase_storage_admin') then
        create role supabase_storage_admin login noinherit createrole noreplication;
    end if;
    -- Owner of realtime.messages and realtime.topic() (supabase/realtime v2.78.15
    -- lib/realtime/tenants/repo/migrations/20240401105812_create_realtime_admin_and_move_ownership.ex).
    if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
        create role supabase_realtime_admin nologin noinherit noreplication;
    end if;
end
$$;
grant anon, authenticated, service_role to authenticator;
grant authenticator to supabase_storage_admin;
