"""log-service's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

INGESTED = Counter("botcenter_log_ingested_total", "Events stored (new rows).")
DUPLICATES = Counter(
    "botcenter_log_duplicates_total", "Redelivered events that were already stored."
)
REJECTED = Counter(
    "botcenter_log_rejected_total", "Events on evt.> that could not be stored.", ["reason"]
)
STREAM_CLIENTS = Gauge("botcenter_log_stream_clients", "Open websocket stream clients.")
STREAM_SENT = Counter("botcenter_log_stream_sent_total", "Events sent to stream clients.")
STREAM_SLOW_CLOSED = Counter(
    "botcenter_log_stream_slow_closed_total", "Stream clients closed with 1013 (too slow)."
)
PARTITIONS = Gauge("botcenter_log_partitions", "Daily partitions of the events table.")
STREAM_BUFFERED = Gauge(
    "botcenter_log_stream_buffered_bytes", "Bytes waiting to be sent to stream clients."
)
