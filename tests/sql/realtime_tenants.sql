-- Realtime's own tables, `_realtime.tenants` and `_realtime.extensions`, as supabase/realtime
-- v2.78.15 (tag commit eeba89e1245556dc94d4a7851114c13e82c6718f) creates them at its first
-- start: run.sh runs bin/migrate (Realtime.Release.migrate, Ecto.Migrator over
-- priv/repo/migrations/*.exs) as DB_USER with DB_AFTER_CONNECT_QUERY
-- `SET search_path TO _realtime` (components/resources/services.py), before the seed.
--
-- One block per migration, in order, each in its own transaction as Ecto runs them
-- (20250926223044 sets @disable_ddl_transaction), with the DDL Ecto's Postgres adapter
-- emits for it. Data-only steps (20220506102948 renames a settings key of existing
-- extensions, 20221102172703 renames their type) touch no row on a first start and are left
-- out. The `_realtime` schema itself comes from the image's init SQL
-- (volumes/db/realtime.sql.j2).

create schema if not exists _realtime;
set search_path to _realtime;

create table if not exists schema_migrations (version bigint primary key, inserted_at timestamp(0));

-- 20210706140551_create_tenant.exs
begin;
create table tenants (id uuid, name varchar(255), external_id varchar(255), jwt_secret varchar(500),
                      max_concurrent_users integer default 10000, inserted_at timestamp(0) not null,
                      updated_at timestamp(0) not null, primary key (id));
create unique index tenants_external_id_index on tenants (external_id);
insert into schema_migrations values (20210706140551, now());
commit;

-- 20220329161857_add_extensions_table.exs
begin;
create table extensions (id uuid, type varchar(255), settings jsonb,
                         tenant_external_id varchar(255) constraint extensions_tenant_external_id_fkey
                             references tenants (external_id) on delete cascade,
                         inserted_at timestamp(0) not null, updated_at timestamp(0) not null, primary key (id));
create unique index extensions_tenant_external_id_type_index on extensions (tenant_external_id, type);
insert into schema_migrations values (20220329161857, now());
commit;

-- 20220410212326_add_tenant_max_eps.exs
begin;
alter table tenants add column max_events_per_second integer default 10000;
insert into schema_migrations values (20220410212326, now());
commit;

-- 20220506102948_rename_poll_interval_to_poll_interval_ms.exs (data only)
insert into schema_migrations values (20220506102948, now());

-- 20220527210857_add_external_id_uniq_index.exs
begin;
alter table tenants add constraint uniq_external_id unique (external_id);
insert into schema_migrations values (20220527210857, now());
commit;

-- 20220815211129_new_max_events_per_second_default.exs
begin;
alter table tenants alter column max_events_per_second type integer,
                    alter column max_events_per_second set not null,
                    alter column max_events_per_second set default 1000;
insert into schema_migrations values (20220815211129, now());
commit;

-- 20220815215024_set_current_max_events_per_second.exs
begin;
update tenants set max_events_per_second = 1000;
insert into schema_migrations values (20220815215024, now());
commit;

-- 20220818141501_change_limits_defaults.exs
begin;
alter table tenants alter column max_events_per_second type integer,
                    alter column max_events_per_second set not null,
                    alter column max_events_per_second set default 100,
                    alter column max_concurrent_users type integer,
                    alter column max_concurrent_users set not null,
                    alter column max_concurrent_users set default 200;
insert into schema_migrations values (20220818141501, now());
commit;

-- 20221018173709_add_cdc_default.exs
begin;
alter table tenants add column postgres_cdc_default varchar(255) default 'postgres_cdc_rls';
insert into schema_migrations values (20221018173709, now());
commit;

-- 20221102172703_rename_pg_type.exs (data only)
insert into schema_migrations values (20221102172703, now());

-- 20221223010058_drop_tenants_uniq_external_id_index.exs
begin;
alter table if exists tenants drop constraint if exists uniq_external_id;
insert into schema_migrations values (20221223010058, now());
commit;

-- 20230110180046_add_limits_fields_to_tenants.exs
begin;
alter table tenants add column max_bytes_per_second integer default 100000 not null,
                    add column max_channels_per_client integer default 100 not null,
                    add column max_joins_per_second integer default 500 not null;
insert into schema_migrations values (20230110180046, now());
commit;

-- 20230810220907_alter_tenants_table_columns_to_text.exs
begin;
alter table tenants alter column name type text, alter column external_id type text,
                    alter column jwt_secret type text, alter column postgres_cdc_default type text,
                    alter column postgres_cdc_default set default 'postgres_cdc_rls';
insert into schema_migrations values (20230810220907, now());
commit;

-- 20230810220924_alter_extensions_table_columns_to_text.exs
begin;
alter table extensions alter column type type text, alter column tenant_external_id type text;
insert into schema_migrations values (20230810220924, now());
commit;

-- 20231024094642_add_tenant_suspend_flag.exs
begin;
alter table tenants add column suspend boolean default false;
insert into schema_migrations values (20231024094642, now());
commit;

-- 20240306114423_add_tenant_jwt_jwks.exs
begin;
alter table tenants add column jwt_jwks jsonb default null;
insert into schema_migrations values (20240306114423, now());
commit;

-- 20240418082835_add_authorization_flag.exs
begin;
alter table tenants add column enable_authorization boolean default false;
insert into schema_migrations values (20240418082835, now());
commit;

-- 20240625211759_remove_enable_authorization_flag.exs
begin;
alter table tenants drop column enable_authorization;
insert into schema_migrations values (20240625211759, now());
commit;

-- 20240704172020_add_notify_private_alpha.exs
begin;
alter table tenants add column notify_private_alpha boolean default false;
insert into schema_migrations values (20240704172020, now());
commit;

-- 20240902173232_add_extension_external_id_index.exs
begin;
create index if not exists extensions_tenant_external_id_index on extensions (tenant_external_id);
insert into schema_migrations values (20240902173232, now());
commit;

-- 20241106103258_add_private_only_flag_column_to_tenant.exs
begin;
alter table tenants add column private_only boolean default false not null;
insert into schema_migrations values (20241106103258, now());
commit;

-- 20250424203323_add_migrations_ran_to_tenant.exs
begin;
alter table tenants add column migrations_ran integer default 0;
insert into schema_migrations values (20250424203323, now());
commit;

-- 20250613072131_add_tenant_broadcast_adapter.exs
begin;
alter table tenants add column broadcast_adapter varchar(255) default 'phoenix';
insert into schema_migrations values (20250613072131, now());
commit;

-- 20250711044927_change_default_broadcast_adapter_to_gen_rpc.exs
begin;
alter table tenants alter column broadcast_adapter type varchar(255),
                    alter column broadcast_adapter set default 'gen_rpc';
insert into schema_migrations values (20250711044927, now());
commit;

-- 20250811121559_add_max_presence_events_per_second.exs
begin;
alter table tenants add column max_presence_events_per_second integer default 10000,
                    add column max_payload_size_in_kb integer default 3000;
insert into schema_migrations values (20250811121559, now());
commit;

-- 20250926223044_set_default_presence_value.exs (@disable_ddl_transaction)
alter table tenants alter column max_presence_events_per_second type integer,
                    alter column max_presence_events_per_second set default 1000;
insert into schema_migrations values (20250926223044, now());

-- 20251204170944_nullable_jwt_secrets.exs
begin;
alter table tenants alter column jwt_secret type text, alter column jwt_secret drop not null;
alter table tenants add constraint jwt_secret_or_jwt_jwks_required
    check (jwt_secret IS NOT NULL OR jwt_jwks IS NOT NULL);
insert into schema_migrations values (20251204170944, now());
commit;

-- 20251218000543_ensure_jwt_secret_is_text.exs
begin;
alter table tenants alter column jwt_secret type text, alter column jwt_secret drop not null;
insert into schema_migrations values (20251218000543, now());
commit;

-- 20260209232800_add_max_client_presence_events_per_second.exs
begin;
alter table tenants add column max_client_presence_events_per_window integer null,
                    add column client_presence_window_ms integer null;
insert into schema_migrations values (20260209232800, now());
commit;

-- 20260304000000_add_presence_enabled_to_tenants.exs
begin;
alter table tenants add column presence_enabled boolean default false not null;
insert into schema_migrations values (20260304000000, now());
commit;
