"""Public REST routes of the files area: validate, call the owning service over NATS, reply."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["files"])
