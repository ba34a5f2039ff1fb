"""botcenter storage-service:
uploads (avatars, config files): validation, processing, object storage.
"""

__version__ = "0.1.0"
