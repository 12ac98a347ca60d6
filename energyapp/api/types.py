"""Parameter and field types shared by every route: the API's half of the one validation layer
(`energyapp.services.validation`; the websocket's half is the gate and the same services).

- ids (path, query, body) are integers in 1..2^63-1: a larger one is a 422, never a database
  overflow;
- every text (body field, query parameter, form field) is a `Text`: a NUL is a 422 with a
  Spanish message (PostgreSQL stores no NUL);
- days are `date`s, bounded by the service that filters by them (`validation.bounded_date`).

A route declares `conversation_id: IdPath`, `actor_id: IdQuery = None`,
`title: Annotated[Text, Field(max_length=200)]` or `q: Annotated[Text, Query(max_length=200)]`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from energyapp.services.validation import MAX_ID, NUL, NUL_REFUSED

__all__ = ["MAX_ID", "IdField", "IdPath", "IdQuery", "Text"]


def _refuse_nul(value: object) -> object:
    if isinstance(value, str) and NUL in value:
        raise PydanticCustomError("nul_character", NUL_REFUSED)
    return value


Text = Annotated[str, BeforeValidator(_refuse_nul)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]
