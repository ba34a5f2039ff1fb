"""botcenter log-service:
bot events and logs from JetStream to Postgres; query API; live websocket fan-out.
"""

__version__ = "0.1.0"
