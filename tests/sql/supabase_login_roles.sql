-- The cluster roles of the supabase/postgres image that matter for the stack password, with
-- their LOGIN attribute as the image creates them (migrations/db/init-scripts/*.sql and
-- migrate.sh of supabase/postgres). Run on a server of its own: roles are cluster-wide.
create role supabase_admin login superuser createdb createrole replication bypassrls;
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
create role pgbouncer login;
create role supabase_auth_admin noinherit createrole login noreplication;
create role supabase_storage_admin noinherit createrole login noreplication;
create role supabase_functions_admin noinherit createrole login noreplication;
create role supabase_replication_admin login replication;
create role supabase_read_only_user login bypassrls;
create role dashboard_user nosuperuser createdb createrole replication;
