"""botcenter command-service:
commands, prompts, API connections; executes commands and syncs them to Discord.
"""

__version__ = "0.1.0"
