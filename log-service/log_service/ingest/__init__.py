"""Ingestion: every event of JetStream's `evt.>` into PostgreSQL's daily partitions.

`worker` pulls batches from the durable consumer shared by all replicas (through the
bus's `natsfast`) and acknowledges them once stored; `store` is the service layer it hands
rows to (partitions, retention, the COPY through the repository).
"""
