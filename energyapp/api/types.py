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

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, Field, GetJsonSchemaHandler, StrictBool
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from energyapp.services.validation import MAX_ID, NUL, NUL_REFUSED

__all__ = [
    "MAX_ID",
    "NO_NUL",
    "Body",
    "IdField",
    "IdPath",
    "IdQuery",
    "JsonInt",
    "StrictBool",
    "Text",
]

# What `_refuse_nul` checks, as the OpenAPI document states it (a field may state a stricter one).
NO_NUL = "^[^\\u0000]*$"


def _refuse_nul(value: object) -> object:
    if isinstance(value, str) and NUL in value:
        raise PydanticCustomError("nul_character", NUL_REFUSED)
    return value


class _NoNulPattern:
    """Documents the NUL rule in the JSON schema: a `pattern`, unless the field sets its own."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema.setdefault("pattern", NO_NUL)
        return schema


Text = Annotated[str, BeforeValidator(_refuse_nul), _NoNulPattern()]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _json_integer(value: object) -> object:
    """JSON Schema's integer: an int or a number without a fraction (`56.0`), never a string
    or a boolean."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# The bounds first, so the document states them as `minimum`/`maximum`.
IdField = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_json_integer)]


class Body(BaseModel):
    """A JSON request body. Its fields take JSON's types as the document states them, never a
    coerced value: `JsonInt` for integers, `StrictBool` for booleans (pydantic's lax mode would
    take `"5"` for 5 and `0` for false)."""
