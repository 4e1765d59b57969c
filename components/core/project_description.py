"""What a project's templates made, read back from the database: for its outputs, the
dashboard and the backups (the tables a restore must find, the tables Realtime publishes).

Apart from components/core/migrations.py, which writes: this only reads, on the same pooled
connections, through the registry's `supabase_multi.objects_of` (sql/bootstrap).
"""
from __future__ import annotations

from components.core.pg_pool import connect
from components.core.naming import ProjectNames

PUBLISHED_QUERY = """
    select c.relname
      from pg_catalog.pg_publication_rel r
      join pg_catalog.pg_publication p on p.oid = r.prpubid and p.pubname = 'supabase_realtime'
      join pg_catalog.pg_class c on c.oid = r.prrelid
     where c.relnamespace = (select n.oid from pg_catalog.pg_namespace n where n.nspname = %(schema)s)
     order by c.relname"""

# The template's own policies on the shared tables (sql/projects/_template_policies.sql.j2).
POLICIES_QUERY = """
    select p.schemaname || '.' || p.tablename, p.policyname, lower(p.permissive), lower(p.cmd), p.roles::text[]
      from pg_catalog.pg_policies p
     where (p.schemaname, p.tablename) in (('storage', 'objects'), ('storage', 'buckets'), ('realtime', 'messages'))
       and starts_with(p.policyname, %(policy_prefix)s)
     order by 1, 2"""


def describe(dsn: str, schema: str) -> dict[str, list[dict]]:
    """Every object the project's templates made, for outputs and the dashboard: tables and
    views (with columns; public views as `public.<name>`), functions, sequences, and its own
    policies on the shared Storage and Realtime tables."""
    query = """
        select c.relname, c.relkind in ('v', 'm') as is_view, n.nspname,
               coalesce(json_agg(json_build_object('name', a.attname,
                        'type', format_type(a.atttypid, a.atttypmod)) order by a.attnum)
                        filter (where a.attnum > 0), '[]')
          from (select o.objid as oid from supabase_multi.objects_of(%(schema)s) o where o.kind <> 'function'
                union select v.oid from supabase_multi.public_views_of(%(schema)s) v) found
          join pg_class c on c.oid = found.oid
          join pg_namespace n on n.oid = c.relnamespace
          left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
         where c.relkind in ('r', 'p', 'v', 'm')
         group by c.relname, c.relkind, n.nspname
         order by n.nspname <> %(schema)s, c.relname"""
    with connect(dsn) as conn:
        rows = conn.execute(query, {"schema": schema}).fetchall()
        routines = conn.execute(_ROUTINES, {"schema": schema}).fetchall()
        published = [name for (name,) in conn.execute(PUBLISHED_QUERY, {"schema": schema})]
        policies = [{"table": table, "name": name, "as": kind, "command": command, "roles": roles}
                    for table, name, kind, command, roles in conn.execute(POLICIES_QUERY, {"policy_prefix": ProjectNames(schema).policy_prefix})]
    tables = [{"name": name, "columns": cols} for name, is_view, ns, cols in rows if not is_view]
    views = [{"name": name if ns == schema else f"{ns}.{name}", "columns": cols}
             for name, is_view, ns, cols in rows if is_view]
    functions = [{"name": name, "returns": returns, "securityDefiner": definer}
                 for kind, name, returns, definer in routines if kind == "function"]
    sequences = [{"name": name} for kind, name, _, _ in routines if kind == "sequence"]
    return {"tables": tables, "views": views, "functions": functions, "sequences": sequences, "published": published,
            "policies": policies}


_ROUTINES = """
    select o.kind, coalesce(p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', c.relname),
           pg_get_function_result(p.oid), p.prosecdef
      from supabase_multi.objects_of(%(schema)s) o
      left join pg_proc p on o.kind = 'function' and p.oid = o.objid
      left join pg_class c on o.kind = 'sequence' and c.oid = o.objid
     where o.kind in ('function', 'sequence')
     order by o.kind, 2"""
