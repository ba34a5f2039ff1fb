"""Alembic environment: the kernel runs it inside this service's schema as the owner role."""

from command_service.models import metadata
from services.db.migrate import run_env

run_env(target_metadata=metadata)
