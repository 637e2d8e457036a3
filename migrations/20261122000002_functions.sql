-- SQL functions used by the customer portal and the MindRoom backend.
--
-- All of them are `security invoker` (the default, spelled out): they run
-- with the caller's privileges, so when a customer (role `authenticated`)
-- calls one, row-level security still decides which rows it sees and
-- whether it may write at all. Names are schema-qualified and each function
-- pins `search_path = ''`, so a caller's search_path cannot redirect them.
-- "Today" is `current_date` in the session's TimeZone (UTC on Supabase).

-- The account's instances that are not `deprovisioned`, newest first.
-- Instances belong to an account through their subscription.
create function public.get_user_instance(p_account_id uuid)
returns setof public.instances
language sql
stable
security invoker
set search_path = ''
as $$
    select i.*
    from public.instances i
    join public.subscriptions s on s.id = i.subscription_id
    where s.account_id = p_account_id
      and i.status <> 'deprovisioned'
    order by i.created_at desc, i.id
$$;
comment on function public.get_user_instance(uuid) is
    'Instances of the account (through subscriptions.account_id) that are not deprovisioned, newest first. Security invoker: RLS applies.';

-- Records usage in today's usage_metrics row, creating it when missing:
-- messages_sent grows by p_messages (a counter); agents_used and
-- storage_used_gb are gauges, set to the given value when not null and
-- otherwise kept (a new row starts from the latest earlier row, else 0).
-- Negative input is rejected (SQLSTATE 22023); null p_messages counts as 0.
-- Returns the row as stored.
create function public.track_usage(
    p_subscription_id uuid,
    p_messages        integer default 0,
    p_agents          integer default null,
    p_storage_gb      numeric default null
)
returns public.usage_metrics
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    v_row public.usage_metrics;
begin
    if p_subscription_id is null then
        raise exception 'track_usage: p_subscription_id must not be null'
            using errcode = 'null_value_not_allowed';
    end if;
    if p_messages < 0 then
        raise exception 'track_usage: p_messages must not be negative (got %)', p_messages
            using errcode = 'invalid_parameter_value';
    end if;
    if p_agents < 0 then
        raise exception 'track_usage: p_agents must not be negative (got %)', p_agents
            using errcode = 'invalid_parameter_value';
    end if;
    if p_storage_gb < 0 then
        raise exception 'track_usage: p_storage_gb must not be negative (got %)', p_storage_gb
            using errcode = 'invalid_parameter_value';
    end if;

    insert into public.usage_metrics as u
        (subscription_id, metric_date, messages_sent, agents_used, storage_used_gb)
    select p_subscription_id,
           current_date,
           coalesce(p_messages, 0),
           coalesce(p_agents, prev.agents_used, 0),
           coalesce(p_storage_gb, prev.storage_used_gb, 0)
    from (select 1) as one
    left join lateral (
        select m.agents_used, m.storage_used_gb
        from public.usage_metrics m
        where m.subscription_id = p_subscription_id
          and m.metric_date < current_date
        order by m.metric_date desc
        limit 1
    ) as prev on true
    on conflict (subscription_id, metric_date) do update
        set messages_sent   = u.messages_sent + excluded.messages_sent,
            agents_used     = coalesce(p_agents, u.agents_used),
            storage_used_gb = coalesce(p_storage_gb, u.storage_used_gb)
    returning u.* into v_row;

    return v_row;
end;
$$;
comment on function public.track_usage(uuid, integer, integer, numeric) is
    'Upserts today''s usage_metrics row: messages_sent += p_messages; agents_used / storage_used_gb (gauges) set when not null. Rejects negative input (22023). Security invoker: RLS and grants apply (customers cannot write usage).';

-- Whether the account may use the service now: it has a subscription that
-- is `active`, or `trialing` with no trial end or a trial end in the future.
create function public.has_active_subscription(p_account_id uuid)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
    select exists (
        select 1
        from public.subscriptions s
        where s.account_id = p_account_id
          and (s.status = 'active'
               or (s.status = 'trialing'
                   and (s.trial_ends_at is null or s.trial_ends_at > now())))
    )
$$;
comment on function public.has_active_subscription(uuid) is
    'True when the account has an active subscription, or a trialing one whose trial has not ended (null trial_ends_at = open-ended). Security invoker: RLS applies.';

-- Today's usage of the subscription against its limits; no usage row yet
-- counts as zero. `within_limits` is true when no usage exceeds its limit
-- (usage equal to the limit is still within it; to ask "may one more
-- message be sent", compare messages_today < max_messages_per_day).
-- No row at all when the subscription does not exist (or is not visible).
create function public.check_usage_limits(p_subscription_id uuid)
returns table (
    within_limits        boolean,
    messages_today       integer,
    max_messages_per_day integer,
    agents_used          integer,
    max_agents           integer,
    storage_used_gb      numeric,
    max_storage_gb       integer
)
language sql
stable
security invoker
set search_path = ''
as $$
    select coalesce(u.messages_sent, 0) <= s.max_messages_per_day
               and coalesce(u.agents_used, 0) <= s.max_agents
               and coalesce(u.storage_used_gb, 0) <= s.max_storage_gb,
           coalesce(u.messages_sent, 0),
           s.max_messages_per_day,
           coalesce(u.agents_used, 0),
           s.max_agents,
           coalesce(u.storage_used_gb, 0)::numeric,
           s.max_storage_gb
    from public.subscriptions s
    left join public.usage_metrics u
           on u.subscription_id = s.id and u.metric_date = current_date
    where s.id = p_subscription_id
$$;
comment on function public.check_usage_limits(uuid) is
    'Today''s usage (zero without a row) against the subscription''s limits; within_limits = nothing exceeds its limit. No row for an unknown subscription. Security invoker: RLS applies.';

-- Starts a new day, run by a scheduler (any number of times a day): gives
-- every subscription that is active, trialing or past_due a zero row for
-- today unless it has one (agents_used / storage_used_gb carried over from
-- its latest earlier row), then deletes rows older than p_keep_days days
-- (metric_date < current_date - p_keep_days). Returns the number of rows
-- inserted; a second call the same day inserts none.
create function public.reset_daily_usage(p_keep_days integer default 90)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    v_inserted integer;
begin
    if p_keep_days is null or p_keep_days < 0 then
        raise exception 'reset_daily_usage: p_keep_days must be a non-negative number of days (got %)',
            coalesce(p_keep_days::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;

    insert into public.usage_metrics
        (subscription_id, metric_date, messages_sent, agents_used, storage_used_gb)
    select s.id,
           current_date,
           0,
           coalesce(prev.agents_used, 0),
           coalesce(prev.storage_used_gb, 0)
    from public.subscriptions s
    left join lateral (
        select m.agents_used, m.storage_used_gb
        from public.usage_metrics m
        where m.subscription_id = s.id
          and m.metric_date < current_date
        order by m.metric_date desc
        limit 1
    ) as prev on true
    where s.status in ('active', 'trialing', 'past_due')
    on conflict (subscription_id, metric_date) do nothing;
    get diagnostics v_inserted = row_count;

    delete from public.usage_metrics
    where metric_date < current_date - p_keep_days;

    return v_inserted;
end;
$$;
comment on function public.reset_daily_usage(integer) is
    'Inserts a zero usage row for today (gauges carried over) for each active/trialing/past_due subscription lacking one, deletes rows older than p_keep_days days; returns rows inserted. Idempotent within a day. Security invoker.';
