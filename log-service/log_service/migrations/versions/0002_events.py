"""log: the events table, partitioned by day, with full-text search and row-level security.

Idempotency: a partitioned table's unique keys must contain the partition column, so the
primary key is (id, occurred_at). Both come from the event itself (the publisher sets
them once; a redelivery carries the same bytes), so a redelivered event always lands on
the same key and `ON CONFLICT DO NOTHING` drops it.

Partitions are created and dropped by two SECURITY DEFINER functions owned by bc_owner:
the service roles cannot create tables, and the system role may only call these two,
whose arguments are bounded and which touch nothing but `events_pYYYYMMDD` partitions.
"""

from services.db.migrate import sql_revision
from services.db.rls import owner_only, system_may

_ENSURE = """
create function ensure_partitions(p_from date, p_to date) returns integer
language plpgsql security definer set search_path = log, pg_temp as $fn$
declare
    d date;
    made integer := 0;
    part text;
begin
    if p_from is null or p_to is null or p_to < p_from or p_to - p_from > 62 then
        raise exception 'ensure_partitions: bad range % .. %', p_from, p_to;
    end if;
    -- Replicas call this concurrently; creating the same partition twice must not race.
    perform pg_advisory_xact_lock(hashtext('log.events.partitions'));
    d := p_from;
    while d <= p_to loop
        part := 'events_p' || to_char(d, 'YYYYMMDD');
        if to_regclass('log.' || part) is null then
            execute format(
                'create table log.%I partition of log.events for values from (%L) to (%L)',
                part, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00'
            );
            -- Reached only through the parent (where row-level security applies).
            execute format('revoke all on log.%I from bc_log, bc_log_system', part);
            made := made + 1;
        end if;
        d := d + 1;
    end loop;
    return made;
end
$fn$
"""

_DROP = """
create function drop_partitions_before(p_before date) returns integer
language plpgsql security definer set search_path = log, pg_temp as $fn$
declare
    r record;
    dropped integer := 0;
begin
    if p_before is null or p_before > (now() at time zone 'utc')::date + 1 then
        raise exception 'drop_partitions_before: bad date %', p_before;
    end if;
    perform pg_advisory_xact_lock(hashtext('log.events.partitions'));
    for r in
        select c.relname
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'log.events'::regclass and c.relname ~ '^events_p[0-9]{8}$'
    loop
        if to_date(substring(r.relname from 9), 'YYYYMMDD') < p_before then
            execute format('drop table log.%I', r.relname);
            dropped := dropped + 1;
        end if;
    end loop;
    return dropped;
end
$fn$
"""

_LIST = """
create function partition_days() returns setof date
language sql stable security definer set search_path = log, pg_temp as $fn$
    select to_date(substring(c.relname from 9), 'YYYYMMDD')
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'log.events'::regclass and c.relname ~ '^events_p[0-9]{8}$'
    order by 1
$fn$
"""


_EVENTS = """
create table events (
    id uuid not null,
    occurred_at timestamptz not null,
    owner_id uuid not null,
    bot_id uuid,
    domain text not null,
    kind text not null,
    level text not null,
    message text not null default '',
    payload jsonb not null,
    -- JetStream stream sequence: the order the live stream delivers events in.
    seq bigint not null,
    ingested_at timestamptz not null default now(),
    tsv tsvector generated always as (to_tsvector('simple', message)) stored,
    primary key (id, occurred_at)
) partition by range (occurred_at)
"""

_FUNCTIONS = ("ensure_partitions(date, date)", "drop_partitions_before(date)", "partition_days()")

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _EVENTS,
        "create index events_owner_time_idx on events (owner_id, occurred_at desc, id desc)",
        "create index events_bot_time_idx on events (bot_id, occurred_at desc, id desc)",
        "create index events_owner_seq_idx on events (owner_id, seq)",
        "create index events_tsv_idx on events using gin (tsv)",
        # The ingest consumer writes every user's events; maintenance reads counts.
        *owner_only("events"),
        *system_may("events", "bc_log_system", "insert", "select"),
        _ENSURE,
        _DROP,
        _LIST,
        *(
            statement
            for fn in _FUNCTIONS
            for statement in (
                f"revoke all on function {fn} from public",
                f"grant execute on function {fn} to bc_log_system",
            )
        ),
        "grant execute on function partition_days() to bc_log",
        # Today and a few days around it, so a fresh install ingests at once.
        "select ensure_partitions((now() at time zone 'utc')::date - 1,"
        " (now() at time zone 'utc')::date + 3)",
    ],
    downgrade=[
        "drop function if exists ensure_partitions(date, date)",
        "drop function if exists drop_partitions_before(date)",
        "drop function if exists partition_days()",
        "drop table if exists events",
    ],
)
