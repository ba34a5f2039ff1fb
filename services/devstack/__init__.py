"""Development tooling: the `botcenter` command line, the whole stack on one machine
(embedded PostgreSQL, NATS and S3; the sandbox; every service as a process), the web build,
and the generators of files kept in the repository.

Above the runtime: it imports the runtime, the runtime never imports it (.importlinter).
"""
