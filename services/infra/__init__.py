"""Embedded infrastructure for development and tests: PostgreSQL, NATS, an S3 server."""
