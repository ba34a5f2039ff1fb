"""botcenter auth-service:
OAuth sign-in (Discord, Google), users and settings, access/refresh tokens, JWKS, personal API
tokens.
"""

__version__ = "0.1.0"
