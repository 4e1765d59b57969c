# Supavisor tenant for this stack's database (features.pooler). Written for this project after
# supabase/supabase docker/volumes/pooler/pooler.exs (Apache-2.0): on every start, create the
# tenant POOLER_TENANT_ID if it does not exist yet. Every value comes from the container env,
# so this file holds no secret.
{:ok, _} = Application.ensure_all_started(:supavisor)

env = fn name, default -> System.get_env(name, default) end

version =
  case Supavisor.Repo.query!("select version()") do
    %{rows: [[text]]} -> Supavisor.Helpers.parse_pg_version(text)
    _ -> {:ok, "15.0"}
  end
  |> case do
    {:ok, parsed} -> parsed
    _ -> "15.0"
  end

tenant = %{
  "external_id" => env.("POOLER_TENANT_ID", "default"),
  "db_host" => "db",
  "db_port" => env.("POSTGRES_PORT", "5432"),
  "db_database" => env.("POSTGRES_DB", "postgres"),
  "require_user" => false,
  "auth_query" => "SELECT * FROM pgbouncer.get_auth($1)",
  "default_max_clients" => env.("POOLER_MAX_CLIENT_CONN", "100"),
  "default_pool_size" => env.("POOLER_DEFAULT_POOL_SIZE", "20"),
  "default_parameter_status" => %{"server_version" => version},
  "users" => [
    %{
      "db_user" => "pgbouncer",
      "db_password" => System.fetch_env!("POSTGRES_PASSWORD"),
      "mode_type" => env.("POOLER_POOL_MODE", "transaction"),
      "pool_size" => env.("POOLER_DEFAULT_POOL_SIZE", "20"),
      "is_manager" => true
    }
  ]
}

unless Supavisor.Tenants.get_tenant_by_external_id(tenant["external_id"]) do
  {:ok, _} = Supavisor.Tenants.create_tenant(tenant)
end
