"""The shared service kernel: settings, bus, database, vault, telemetry, runner; and, in
`devstack/`, the development tooling above it (CLI, embedded stack, generators).

Imports flow one way: a service -> this kernel -> the contracts (`proto`).
"""

__version__ = "0.1.0"
