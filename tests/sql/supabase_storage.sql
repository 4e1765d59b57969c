-- The `storage` schema as supabase/storage-api v1.44.2 (components/images.py; tag commit
-- 757edbe4cde0d893d725435127863a2c66d0c2fd) leaves it after its tenant migrations
-- (migrations/tenant/0001 ... 56-*.sql) on the supabase/postgres image, for the objects
-- that decide who may do what: tables and columns Storage reads and writes, row level
-- security, the grants the migrations make to anon/authenticated/service_role, the
-- helper functions policies use, and the triggers that guard the tables.
--
-- Written for the tests from those files (the file each piece comes from is named); the
-- long search function bodies are condensed to what matters here: they are SECURITY
-- INVOKER, so row level security applies to whatever they read.

-- supabase/postgres migrations/db/init-scripts/00000000000002-storage-schema.sql
create schema if not exists storage;
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on schema storage to supabase_storage_admin with grant option;

-- 0038-iceberg-catalog-flag-on-buckets.sql, 0044-vector-bucket-type.sql
create type storage.buckettype as enum ('STANDARD', 'ANALYTICS', 'VECTOR');

-- 0002-storage-schema.sql, 0004-add-migrations-rls.sql
create table storage.migrations (
    id integer primary key,
    name varchar(100) unique not null,
    hash varchar(40) not null,
    executed_at timestamp default current_timestamp
);
alter table storage.migrations enable row level security;

-- 0002, 0008 (public), 0012 (avif), 0013/0014 (limits), 0018 (owner_id), 0038 (type)
create table storage.buckets (
    id text not null primary key,
    name text not null,
    owner uuid,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    public boolean default false,
    avif_autodetection boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    owner_id text,
    type storage.buckettype not null default 'STANDARD'
);
create unique index bname on storage.buckets using btree (name);
comment on column storage.buckets.owner is 'Field is deprecated, use owner_id instead';
alter table storage.buckets enable row level security;  -- 0007-add-rls-to-buckets.sql

-- 0002, 0003 (path_tokens), 0016 (version), 0018 (owner_id), 0019 (id default),
-- 0025 (user_metadata); the level column of 0026 was dropped again by 0052.
create table storage.objects (
    id uuid not null default gen_random_uuid() primary key,
    bucket_id text constraint "objects_bucketId_fkey" references storage.buckets (id),
    name text,
    owner uuid,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    version text,
    owner_id text,
    user_metadata jsonb
);
create unique index bucketid_objname on storage.objects using btree (bucket_id, name);
create index name_prefix_search on storage.objects (name text_pattern_ops);
create index idx_objects_bucket_id_name on storage.objects (bucket_id, (name collate "C"));  -- 0020
create index idx_objects_bucket_id_name_lower on storage.objects (bucket_id, (lower(name) collate "C"));  -- 0051
comment on column storage.objects.owner is 'Field is deprecated, use owner_id instead';
alter table storage.objects enable row level security;

-- 0021-s3-multipart-uploads.sql, 0022 (bigint sizes), 0025 (user_metadata)
create table storage.s3_multipart_uploads (
    id text primary key,
    in_progress_size bigint not null default 0,
    upload_signature text not null,
    bucket_id text not null references storage.buckets (id),
    key text collate "C" not null,
    version text not null,
    owner_id text null,
    created_at timestamptz not null default now(),
    user_metadata jsonb null
);
create table storage.s3_multipart_uploads_parts (
    id uuid primary key default gen_random_uuid(),
    upload_id text not null references storage.s3_multipart_uploads (id) on delete cascade,
    size bigint not null default 0,
    part_number int not null,
    bucket_id text not null references storage.buckets (id),
    key text collate "C" not null,
    etag text not null,
    owner_id text null,
    version text not null,
    created_at timestamptz not null default now()
);
create index idx_multipart_uploads_list on storage.s3_multipart_uploads (bucket_id, (key collate "C"), created_at asc);
alter table storage.s3_multipart_uploads enable row level security;
alter table storage.s3_multipart_uploads_parts enable row level security;

-- Helper functions policies use: 0002, made IMMUTABLE by 0036-optimise-existing-functions.sql.
create function storage.foldername(name text) returns text[]
language plpgsql immutable as $$
declare
    _parts text[];
begin
    select string_to_array(name, '/') into _parts;
    return _parts[1 : array_length(_parts, 1) - 1];
end
$$;

create function storage.filename(name text) returns text
language plpgsql as $$
declare
    _parts text[];
begin
    select string_to_array(name, '/') into _parts;
    return _parts[array_length(_parts, 1)];
end
$$;

create function storage.extension(name text) returns text
language plpgsql immutable as $$
declare
    _parts text[];
    _filename text;
begin
    select string_to_array(name, '/') into _parts;
    select _parts[array_length(_parts, 1)] into _filename;
    return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

-- 0024-operation-function.sql: the operation Storage names in `storage.operation`.
create function storage.operation() returns text
language plpgsql stable as $$
begin
    return current_setting('storage.operation', true);
end
$$;

-- 0036: sizes per bucket (read with the caller's rights).
create function storage.get_size_by_bucket() returns table (size bigint, bucket_id text)
language plpgsql stable as $$
begin
    return query
        select sum((metadata ->> 'size')::bigint) as size, obj.bucket_id
          from storage.objects as obj
         group by obj.bucket_id;
end
$$;

-- 0015-add-can-insert-object-function.sql
create function storage.can_insert_object(bucketid text, name text, owner uuid, metadata jsonb) returns void
language plpgsql as $$
begin
    insert into storage.objects (bucket_id, name, owner, metadata) values (bucketid, name, owner, metadata);
    raise sqlstate 'PT200' using message = 'ROLLBACK', detail = 'rollback successful insert';
end
$$;

-- The list endpoint's function (signature of 00010, body of 56-fix-optimized-search-function.sql
-- condensed: folders one level below the prefix, then the files at that level). SECURITY
-- INVOKER: the caller's policies decide which objects it sees.
create function storage.search(prefix text, bucketname text, limits int default 100, levels int default 1,
                               offsets int default 0, search text default '', sortcolumn text default 'name',
                               sortorder text default 'asc')
returns table (name text, id uuid, updated_at timestamptz, created_at timestamptz,
               last_accessed_at timestamptz, metadata jsonb)
security invoker language sql stable as $$
    select found.name, found.id, found.updated_at, found.created_at, found.last_accessed_at, found.metadata
      from (
        select distinct o.path_tokens[levels] as name, null::uuid as id, null::timestamptz as updated_at,
               null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata,
               0 as kind
          from storage.objects o
         where o.bucket_id = bucketname and o.name ilike prefix || search || '%'
           and array_length(o.path_tokens, 1) > levels
        union all
        select o.path_tokens[levels], o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata, 1
          from storage.objects o
         where o.bucket_id = bucketname and o.name ilike prefix || search || '%'
           and array_length(o.path_tokens, 1) = levels
      ) found
     order by found.kind, case when lower(sortorder) = 'desc' then found.name end desc, found.name
     limit limits offset offsets
$$;

-- 0011-add-trigger-to-auto-update-updated_at-column.sql (created in storage: the
-- migration runs with search_path "storage").
create function storage.update_updated_at_column() returns trigger
language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end
$$;
create trigger update_objects_updated_at before update on storage.objects
    for each row execute procedure storage.update_updated_at_column();

-- 0037-add-bucket-name-length-trigger.sql
create function storage.enforce_bucket_name_length() returns trigger
language plpgsql as $$
begin
    if length(new.name) > 100 then
        raise exception 'bucket name "%" is too long (% characters). Max is 100.', new.name, length(new.name);
    end if;
    return new;
end
$$;
create trigger enforce_bucket_name_length_trigger before insert or update of name on storage.buckets
    for each row execute function storage.enforce_bucket_name_length();

-- 0055-prevent-direct-deletes.sql: deletes only when Storage's own request scope says so
-- (src/internal/database/connection.ts setScope sets storage.allow_delete_query).
create function storage.protect_delete() returns trigger
language plpgsql as $$
begin
    if coalesce(current_setting('storage.allow_delete_query', true), 'false') != 'true' then
        raise exception 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
            using hint = 'This prevents accidental data loss from orphaned objects.', errcode = '42501';
    end if;
    return null;
end
$$;
create trigger protect_buckets_delete before delete on storage.buckets
    for each statement execute function storage.protect_delete();
create trigger protect_objects_delete before delete on storage.objects
    for each statement execute function storage.protect_delete();

-- Ownership: 0002 (tables and functions owned by the storage super user).
alter table storage.migrations owner to supabase_storage_admin;
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter table storage.s3_multipart_uploads owner to supabase_storage_admin;
alter table storage.s3_multipart_uploads_parts owner to supabase_storage_admin;
alter type storage.buckettype owner to supabase_storage_admin;
do $$
declare
    f regprocedure;
begin
    for f in select p.oid::regprocedure from pg_proc p where p.pronamespace = 'storage'::regnamespace loop
        execute format('alter function %s owner to supabase_storage_admin', f);
    end loop;
end
$$;

-- Grants. The image's default privileges for supabase_storage_admin give anon,
-- authenticated and service_role everything it creates (00000000000002-storage-schema.sql);
-- 0046-buckets-objects-grants.sql and 0049-buckets-objects-grants-postgres.sql state it
-- again for buckets and objects; 0021 narrows the multipart tables.
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to postgres with grant option;
grant all on storage.s3_multipart_uploads, storage.s3_multipart_uploads_parts to service_role;
grant select on storage.s3_multipart_uploads, storage.s3_multipart_uploads_parts to anon, authenticated;
grant all on all functions in schema storage to anon, authenticated, service_role;
