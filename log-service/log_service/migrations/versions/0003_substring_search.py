"""log: search matches substrings ("greet" finds "/greet"), not whole words.

Full-text search (`tsv @@ websearch_to_tsquery`) matched whole words only. The search is
now `message ILIKE '%<q>%'` with the user's `%`, `_` and `\\` escaped (repository.py).

No index serves it, on purpose: under row-level security PostgreSQL applies a query's own
conditions after the policy's unless their operators are LEAKPROOF, and neither ILIKE
(`texticlike`) nor `@@` is, so a pg_trgm GIN index (like the old `tsv` one) is never used
for the owner's queries -- measured: the plans scan the owner's rows in either case.
The owner's rows are found by the owner/bot/time indexes (the console always sends a time
range) and retention bounds them. So the generated `tsv` column and its GIN index, which
every ingested row paid for and no query used, are dropped.
"""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "drop index if exists events_tsv_idx",
        "alter table events drop column if exists tsv",
    ],
    downgrade=[
        "alter table events add column tsv tsvector"
        " generated always as (to_tsvector('simple', message)) stored",
        "create index events_tsv_idx on events using gin (tsv)",
    ],
)
