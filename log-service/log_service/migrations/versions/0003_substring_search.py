"""log: search matches substrings ("greet" finds "/greet"), not whole words.

Full-text search (`tsv @@ websearch_to_tsquery`) matched whole words only. The search is
now `message ILIKE '%<q>%'` (the user's `%`, `_` and `\\` escaped), served by a trigram
GIN index (pg_trgm) for patterns of 3 characters or more; shorter ones scan the caller's
rows, which the other filters and row-level security already narrow. The generated
`tsv` column and its index are dropped: nothing reads them, and every ingested row paid
for both.

pg_trgm is a trusted extension: `bc_owner` may create it (bootstrap grants it CREATE on
the database). It lives in this schema, so nothing outside `log` depends on it.

Revision ID: 0003
Revises: 0002
"""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    "0003",
    "0002",
    upgrade=[
        "create extension if not exists pg_trgm with schema log",
        "create index events_message_trgm_idx on events using gin (message log.gin_trgm_ops)",
        "drop index if exists events_tsv_idx",
        "alter table events drop column if exists tsv",
    ],
    downgrade=[
        "alter table events add column tsv tsvector"
        " generated always as (to_tsvector('simple', message)) stored",
        "create index events_tsv_idx on events using gin (tsv)",
        "drop index if exists events_message_trgm_idx",
    ],
)
