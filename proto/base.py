"""Base classes shared by every contract."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """A message body on the bus. Unknown fields are refused so that drift is loud."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)

    @classmethod
    def from_row(cls, row: object, **values: Any) -> Self:
        """This contract from the same-named attributes of `row` (a table row, any object);
        `values` gives the fields that are named or computed differently."""
        copied = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in values and hasattr(row, name)
        }
        return cls.model_validate({**copied, **values})


class Empty(Contract):
    """A request or reply that carries nothing."""
