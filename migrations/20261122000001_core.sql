-- roomctl core schema: accounts, subscriptions, instances and their history.
-- Runs on Supabase (PostgreSQL 15+) and on plain PostgreSQL 13+.
-- roomctl writes these tables with a role that owns them (so RLS does not
-- apply to it); customers read them through the policies in a later file.

create type public.subscription_tier as enum ('free', 'starter', 'professional', 'enterprise');
create type public.subscription_status as enum
    ('trialing', 'active', 'past_due', 'cancelled', 'incomplete', 'paused');
create type public.instance_status as enum
    ('provisioning', 'running', 'stopped', 'failed', 'deprovisioning', 'deprovisioned');

create function public.set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create table public.accounts (
    id                   uuid primary key default gen_random_uuid(),
    email                text,
    full_name            text,
    company_name         text,
    stripe_customer_id   text unique,
    is_admin             boolean not null default false,
    -- Set when Stripe deletes the customer; rows are kept for the audit trail.
    deleted_at           timestamptz,
    -- `created` of the newest Stripe customer event applied to this row.
    last_stripe_event_at timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);

create table public.subscriptions (
    id                     uuid primary key default gen_random_uuid(),
    account_id             uuid not null references public.accounts (id) on delete cascade,
    stripe_subscription_id text unique,
    stripe_price_id        text,
    -- Null while the price maps to no tier (see `error`): never silently free.
    tier                   public.subscription_tier,
    status                 public.subscription_status not null,
    max_agents             integer not null default 1 check (max_agents >= 0),
    max_messages_per_day   integer not null default 100 check (max_messages_per_day >= 0),
    max_storage_gb         integer not null default 1 check (max_storage_gb >= 0),
    trial_ends_at          timestamptz,
    current_period_end     timestamptz,
    cancelled_at           timestamptz,
    -- When `status` last changed: the clock for the past-due grace period
    -- and the retention of cancelled subscriptions.
    status_changed_at      timestamptz not null default now(),
    -- `created` and id of the newest Stripe event applied: older events
    -- never overwrite newer state.
    last_stripe_event_at   timestamptz,
    last_stripe_event_id   text,
    error                  text,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now()
);
create index subscriptions_account_id on public.subscriptions (account_id);

create table public.instances (
    id               uuid primary key default gen_random_uuid(),
    subscription_id  uuid not null references public.subscriptions (id) on delete restrict,
    -- roomctl's instance id; its Dokku apps are `{app_name}-{role}`.
    app_name         text not null unique
                     check (app_name ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    subdomain        text not null unique
                     check (subdomain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    status           public.instance_status not null default 'provisioning',
    host             text,
    frontend_url     text,
    backend_url      text,
    matrix_url       text,
    config           jsonb not null default '{}'::jsonb,
    memory_limit_mb  integer check (memory_limit_mb > 0),
    cpu_limit_millicores integer check (cpu_limit_millicores > 0),
    health_status    text not null default 'unknown'
                     check (health_status in ('unknown', 'healthy', 'unhealthy')),
    last_health_check timestamptz,
    error_message    text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    provisioned_at   timestamptz,
    deprovisioned_at timestamptz
);
create index instances_subscription_id on public.instances (subscription_id);
-- A subscription has at most one instance that is not gone.
create unique index instances_one_live_per_subscription
    on public.instances (subscription_id) where status <> 'deprovisioned';

create table public.webhook_events (
    id               bigint generated always as identity primary key,
    stripe_event_id  text not null unique,
    event_type       text not null,
    event_created_at timestamptz,
    received_at      timestamptz not null default now(),
    processed_at     timestamptz,
    -- applied, stale, recorded (nothing to do) or rejected (see `error`).
    outcome          text,
    error            text,
    account_id       uuid references public.accounts (id) on delete set null,
    payload          jsonb not null
);

create table public.audit_logs (
    id          bigint generated always as identity primary key,
    account_id  uuid references public.accounts (id) on delete set null,
    instance_id uuid references public.instances (id) on delete set null,
    -- Who acted: `roomctl`, `stripe` or `operator:<name>`.
    actor       text not null,
    action      text not null,
    target      text,
    outcome     text not null check (outcome in ('ok', 'failed', 'skipped', 'error')),
    details     jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now()
);
create index audit_logs_account_created on public.audit_logs (account_id, created_at desc);
create index audit_logs_instance_created on public.audit_logs (instance_id, created_at desc);

create table public.usage_metrics (
    id              bigint generated always as identity primary key,
    subscription_id uuid not null references public.subscriptions (id) on delete cascade,
    metric_date     date not null default current_date,
    messages_sent   integer not null default 0 check (messages_sent >= 0),
    agents_used     integer not null default 0 check (agents_used >= 0),
    storage_used_gb numeric(12, 3) not null default 0 check (storage_used_gb >= 0),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (subscription_id, metric_date)
);

create table public.instance_backups (
    id          bigint generated always as identity primary key,
    instance_id uuid references public.instances (id) on delete set null,
    app_name    text not null,
    host        text not null,
    path        text not null,
    size_bytes  bigint not null check (size_bytes >= 0),
    sha256      text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz not null default now()
);
create index instance_backups_instance on public.instance_backups (instance_id);

create table public.api_keys (
    id           uuid primary key default gen_random_uuid(),
    -- Null for operator keys.
    account_id   uuid references public.accounts (id) on delete cascade,
    name         text not null,
    -- The first characters of the key, to tell keys apart in listings.
    key_prefix   text not null check (length(key_prefix) between 4 and 16),
    -- SHA-256 of the whole key, hex. The key itself is never stored.
    key_hash     text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
    scopes       text[] not null default '{}',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

create trigger accounts_updated_at before update on public.accounts
    for each row execute function public.set_updated_at();
create trigger subscriptions_updated_at before update on public.subscriptions
    for each row execute function public.set_updated_at();
create trigger instances_updated_at before update on public.instances
    for each row execute function public.set_updated_at();
create trigger usage_metrics_updated_at before update on public.usage_metrics
    for each row execute function public.set_updated_at();
