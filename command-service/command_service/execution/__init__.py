"""The execution engine: runs a saved command when a Discord invocation arrives.

`executor` checks and answers an invocation, `cache` keeps each bot's setup in memory so
the hot path reads no database, `templates` renders user templates in a bounded sandbox
(`template_limits` holds its size rules), and `outbound` makes the guarded HTTP calls of
http and ai commands. Configuration (commands, prompts, connections) is `service.py`'s.
"""
