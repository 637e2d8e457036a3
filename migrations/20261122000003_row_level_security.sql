-- Row-level security: a signed-in customer (role `authenticated`, user id
-- `auth.uid()` = accounts.id) sees only their own rows; `anon` sees
-- nothing; `service_role` (the platform backend) has full access.
--
-- Runs on Supabase, which already has schema `auth`, `auth.uid()` and the
-- roles `anon`, `authenticated` and `service_role`, and on plain
-- PostgreSQL, where whatever is missing is created here (never replacing
-- Supabase's own objects).
--
-- roomctl connects as the owner of the tables, which bypasses RLS (no
-- FORCE ROW LEVEL SECURITY), so nothing here restricts it.

-- Roles -------------------------------------------------------------------
-- Roles are global to the cluster while migrations run per database, and
-- two databases may be migrated at once: a concurrent CREATE ROLE fails
-- with duplicate_object (already committed) or unique_violation (committed
-- while we waited on the catalog's unique index); both mean "it exists".
do $$
declare
    r text;
begin
    foreach r in array array['anon', 'authenticated', 'service_role'] loop
        continue when exists (select 1 from pg_catalog.pg_roles where rolname = r);
        begin
            if r = 'service_role' then
                begin
                    execute format('create role %I nologin noinherit bypassrls', r);
                exception when insufficient_privilege then
                    -- Only superusers may grant BYPASSRLS; the service_role
                    -- policies below give it full access all the same.
                    raise notice 'creating role service_role without BYPASSRLS (not a superuser)';
                    execute format('create role %I nologin noinherit', r);
                end;
            else
                execute format('create role %I nologin noinherit', r);
            end if;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end loop;
end;
$$;

-- auth.uid() --------------------------------------------------------------
-- The signed-in user's id from the JWT claim `sub`, the way Supabase
-- defines it (PostgREST sets `request.jwt.claims`, older versions
-- `request.jwt.claim.sub`). Created only when missing.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_namespace where nspname = 'auth') then
        create schema auth;
        grant usage on schema auth to anon, authenticated, service_role;
    end if;
    if not exists (
        select 1
        from pg_catalog.pg_proc p
        join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname = 'uid' and p.pronargs = 0
    ) then
        create function auth.uid() returns uuid
        language sql
        stable
        as $uid$
            select coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $uid$;
        comment on function auth.uid() is
            'The signed-in user''s id: JWT claim sub (request.jwt.claim.sub or request.jwt.claims). Supabase-compatible stand-in for plain PostgreSQL.';
        grant execute on function auth.uid() to anon, authenticated, service_role;
    end if;
end;
$$;

-- public.is_admin() -------------------------------------------------------
-- Whether the signed-in user's account is flagged is_admin (and not
-- deleted). Security definer so that policies on `accounts` can call it
-- without recursing into accounts' own policies: it runs as the table
-- owner, which RLS does not apply to. search_path is empty so the caller
-- cannot substitute objects.
create function public.is_admin() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select 1
        from public.accounts a
        where a.id = auth.uid()
          and a.is_admin
          and a.deleted_at is null
    )
$$;
comment on function public.is_admin() is
    'True when the signed-in user (auth.uid()) has a non-deleted account flagged is_admin. Security definer (bypasses RLS, no recursion), search_path ''''.';

-- Enable RLS (not forced: the owner, roomctl, is exempt) -----------------
alter table public.accounts         enable row level security;
alter table public.subscriptions    enable row level security;
alter table public.instances        enable row level security;
alter table public.webhook_events   enable row level security;
alter table public.audit_logs       enable row level security;
alter table public.usage_metrics    enable row level security;
alter table public.instance_backups enable row level security;
alter table public.api_keys         enable row level security;

-- Table privileges --------------------------------------------------------
-- Supabase grants everything on new tables to anon and authenticated by
-- default (including TRUNCATE, which RLS does not cover); plain PostgreSQL
-- grants nothing. Start from nothing, then grant the minimum.
revoke all on table
    public.accounts, public.subscriptions, public.instances, public.webhook_events,
    public.audit_logs, public.usage_metrics, public.instance_backups, public.api_keys
from public, anon, authenticated;
revoke all on sequence
    public.webhook_events_id_seq, public.audit_logs_id_seq,
    public.usage_metrics_id_seq, public.instance_backups_id_seq
from public, anon, authenticated;

grant usage on schema public to authenticated, service_role;

grant select on table
    public.accounts, public.subscriptions, public.instances, public.audit_logs,
    public.usage_metrics, public.instance_backups, public.api_keys
to authenticated;
-- Customers may edit only their contact details.
grant update (email, full_name, company_name) on table public.accounts to authenticated;

grant all on table
    public.accounts, public.subscriptions, public.instances, public.webhook_events,
    public.audit_logs, public.usage_metrics, public.instance_backups, public.api_keys
to service_role;
grant usage, select on sequence
    public.webhook_events_id_seq, public.audit_logs_id_seq,
    public.usage_metrics_id_seq, public.instance_backups_id_seq
to service_role;

-- Policies for customers (authenticated) ---------------------------------
-- `(select auth.uid())` is evaluated once per statement, not once per row.

create policy accounts_select_own on public.accounts
    for select to authenticated
    using (id = (select auth.uid()));
create policy accounts_update_own on public.accounts
    for update to authenticated
    using (id = (select auth.uid()))
    with check (id = (select auth.uid()));
create policy accounts_select_admin on public.accounts
    for select to authenticated
    using ((select public.is_admin()));

create policy subscriptions_select_own on public.subscriptions
    for select to authenticated
    using (account_id = (select auth.uid()));
create policy subscriptions_select_admin on public.subscriptions
    for select to authenticated
    using ((select public.is_admin()));

create policy instances_select_own on public.instances
    for select to authenticated
    using (exists (
        select 1 from public.subscriptions s
        where s.id = instances.subscription_id
          and s.account_id = (select auth.uid())
    ));
create policy instances_select_admin on public.instances
    for select to authenticated
    using ((select public.is_admin()));

create policy usage_metrics_select_own on public.usage_metrics
    for select to authenticated
    using (exists (
        select 1 from public.subscriptions s
        where s.id = usage_metrics.subscription_id
          and s.account_id = (select auth.uid())
    ));

create policy instance_backups_select_own on public.instance_backups
    for select to authenticated
    using (exists (
        select 1
        from public.instances i
        join public.subscriptions s on s.id = i.subscription_id
        where i.id = instance_backups.instance_id
          and s.account_id = (select auth.uid())
    ));

create policy audit_logs_select_own on public.audit_logs
    for select to authenticated
    using (account_id = (select auth.uid()));

create policy api_keys_select_own on public.api_keys
    for select to authenticated
    using (account_id = (select auth.uid()));

-- webhook_events: no policy and no grant for customers.

-- Policies for service_role ----------------------------------------------
-- Supabase's service_role has BYPASSRLS already; these make its full access
-- explicit and keep it when the role exists without BYPASSRLS.
create policy accounts_service_role on public.accounts
    for all to service_role using (true) with check (true);
create policy subscriptions_service_role on public.subscriptions
    for all to service_role using (true) with check (true);
create policy instances_service_role on public.instances
    for all to service_role using (true) with check (true);
create policy webhook_events_service_role on public.webhook_events
    for all to service_role using (true) with check (true);
create policy audit_logs_service_role on public.audit_logs
    for all to service_role using (true) with check (true);
create policy usage_metrics_service_role on public.usage_metrics
    for all to service_role using (true) with check (true);
create policy instance_backups_service_role on public.instance_backups
    for all to service_role using (true) with check (true);
create policy api_keys_service_role on public.api_keys
    for all to service_role using (true) with check (true);

-- Functions ---------------------------------------------------------------
-- PostgreSQL lets PUBLIC execute new functions and Supabase grants anon
-- too; only signed-in customers and the backend may call these.
revoke all on function
    public.get_user_instance(uuid),
    public.track_usage(uuid, integer, integer, numeric),
    public.has_active_subscription(uuid),
    public.check_usage_limits(uuid),
    public.reset_daily_usage(integer),
    public.is_admin()
from public, anon;
grant execute on function
    public.get_user_instance(uuid),
    public.track_usage(uuid, integer, integer, numeric),
    public.has_active_subscription(uuid),
    public.check_usage_limits(uuid),
    public.reset_daily_usage(integer),
    public.is_admin()
to authenticated, service_role;

-- sqlx's bookkeeping table lives in `public` too, where Supabase's API
-- would expose it (and its default grants let anon rewrite it).
do $$
begin
    if to_regclass('public._sqlx_migrations') is not null then
        revoke all on table public._sqlx_migrations from public, anon, authenticated;
        alter table public._sqlx_migrations enable row level security;
    end if;
end;
$$;
