"""Base classes shared by every contract."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """A message body on the bus. Unknown fields are refused so that drift is loud."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


class Empty(Contract):
    """A request or reply that carries nothing."""
