"""botcenter bot-service:
bots, encrypted tokens, desired/actual state, live discord.py connections sharded across
replicas.
"""

__version__ = "0.1.0"
