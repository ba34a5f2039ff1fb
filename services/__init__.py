"""The shared service kernel: settings, bus, database, vault, telemetry, runner and CLI.

Imports flow one way: a service -> this kernel -> the contracts (`proto`).
"""

__version__ = "0.1.0"
