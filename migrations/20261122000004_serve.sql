-- `roomctl serve`: reconcile runs, operator overrides on instances, and the
-- health history the status page and the admin API show.

-- One row per reconcile run of any replica; audit rows carry its id.
create table public.reconcile_runs (
    id          uuid primary key,
    -- Which `serve` process (or CLI) ran it: `hostname:pid`.
    replica     text not null,
    -- What started it: timer, webhook, files, admin, health, start or cli.
    trigger     text not null,
    -- `all`, or the instance ids it was scoped to, comma-separated.
    scope       text not null,
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    outcome     text not null default 'running'
                check (outcome in ('running', 'ok', 'partial', 'failed', 'refused', 'interrupted')),
    planned     integer not null default 0 check (planned >= 0),
    applied     integer not null default 0 check (applied >= 0),
    failed      integer not null default 0 check (failed >= 0),
    -- Secret-free: the pass's error chain, or why the guard refused.
    error       text
);
create index reconcile_runs_started on public.reconcile_runs (started_at desc);

alter table public.audit_logs add column run_id uuid;
create index audit_logs_run on public.audit_logs (run_id) where run_id is not null;

alter table public.instances
    -- Set by an operator's stop (admin API); the instance stays stopped,
    -- whatever its subscription says, until an operator starts it again.
    add column operator_stopped_at timestamptz,
    add column operator_stopped_by text,
    -- A restart asked for and not yet done (admin API, or the health
    -- checker after repeated failures); done when `restarted_at` is later.
    add column restart_requested_at timestamptz,
    add column restart_requested_by text,
    add column restarted_at timestamptz,
    -- The last health check's error, and failures in a row since the last
    -- healthy check.
    add column health_error text,
    add column health_failures_in_row integer not null default 0
        check (health_failures_in_row >= 0);

-- One row per health check of an instance, kept 35 days; uptime is the
-- share of healthy checks over a window.
create table public.health_checks (
    id          bigint generated always as identity primary key,
    instance_id uuid not null references public.instances (id) on delete cascade,
    checked_at  timestamptz not null default now(),
    healthy     boolean not null,
    -- Per endpoint: {"backend": {"status": 200, "ms": 12}, "matrix": {"error": "..."}}.
    endpoints   jsonb not null default '{}'::jsonb,
    error       text
);
create index health_checks_instance_checked on public.health_checks (instance_id, checked_at desc);

alter table public.reconcile_runs enable row level security;
alter table public.health_checks  enable row level security;

-- Migration 3 created the roles. Operators' tables: no customer access.
revoke all on table public.reconcile_runs, public.health_checks
from public, anon, authenticated;
revoke all on sequence public.health_checks_id_seq from public, anon, authenticated;
grant all on table public.reconcile_runs, public.health_checks to service_role;
grant usage, select on sequence public.health_checks_id_seq to service_role;
create policy reconcile_runs_service_role on public.reconcile_runs
    for all to service_role using (true) with check (true);
create policy health_checks_service_role on public.health_checks
    for all to service_role using (true) with check (true);
