"""Alembic environment: the kernel runs it inside this service's schema as the owner role."""

from services.db.migrate import run_env
from storage_service.models import metadata

run_env(target_metadata=metadata)
