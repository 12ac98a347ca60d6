"""One validation layer for what arrives from outside (the JSON API and the websocket alike):
ids, dates and text. Each check raises `InvalidInput` with a Spanish message.

- ids are integers in 1..2^63-1 (a larger one would overflow SQLite's INTEGER and answer 500);
- dates are ISO days (YYYY-MM-DD) in the years 2000..2100 (a filter at the calendar's edge
  would overflow the day arithmetic);
- text never holds NUL (PostgreSQL refuses it in any text column); single-line text (names,
  titles) holds no control character at all: newlines and tabs become spaces, and the others
  (C0, DEL, C1, U+2028/U+2029) are refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from energyapp.domain.errors import InvalidInput

MAX_ID = 2**63 - 1
MIN_YEAR, MAX_YEAR = 2000, 2100
NUL = "\x00"
NUL_REFUSED = "El texto contiene un carácter nulo (\\0), que no se admite."

_DIGITS = re.compile(r"[0-9]{1,19}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Control characters: C0 (U+0000-U+001F), DEL, C1 (U+0080-U+009F), line/paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SINGLE_LINE_SPACE = re.compile("[\t\n]")


def parse_id(value: object, *, field: str = "identificador") -> int:
    """An id from a URL, a form or an event: an int, or its decimal digits, in 1..2^63-1."""
    if isinstance(value, bool):  # True is an int in Python, never an id
        raise InvalidInput(f"El {field} no es válido.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise InvalidInput(f"El {field} no es válido.")
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(f"El {field} no es válido.")
    return number


def id_or_none(value: object) -> int | None:
    """`parse_id`, or None for anything that is not a valid id (the UI ignores those)."""
    try:
        return parse_id(value)
    except InvalidInput:
        return None


def bounded_date(value: object, *, field: str = "fecha") -> date | None:
    """A day (a `date`, or `YYYY-MM-DD`) in the years 2000..2100; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str) and _ISO_DAY.fullmatch(value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            pass
    if not isinstance(value, date):
        raise InvalidInput(f"La {field} no es válida: usa el formato AAAA-MM-DD.")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(f"La {field} debe estar entre los años {MIN_YEAR} y {MAX_YEAR}.")
    return value


def day_start(day: date | None, zone: tzinfo, plus_days: int = 0) -> datetime | None:
    """The first instant of a bounded day (plus some days) as people in `zone` live it, in UTC:
    the edges of a date filter. The days are counted on the calendar before the zone applies,
    so a day with a daylight-saving change is 23 or 25 hours long, as it is on the clock."""
    if day is None:
        return None
    local = datetime.combine(day + timedelta(days=plus_days), time.min, tzinfo=zone)
    return local.astimezone(UTC)


def refuse_nul(value: str) -> str:
    if NUL in value:
        raise InvalidInput(NUL_REFUSED, code="nul_character")
    return value


def contains_nul(value: object) -> bool:
    """Whether NUL appears anywhere in a decoded JSON value (keys included)."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_nul(item) for item in value)
    return False


def clean_text(value: object, *, field: str, single_line: bool) -> str:
    """Text typed by someone, trimmed. Never NUL. `single_line` (names, titles): no control
    character except newline and tab, and every run of whitespace becomes one space.
    Otherwise (a message): newlines, tabs and the rest are kept as written."""
    if not isinstance(value, str):
        raise InvalidInput(f"El campo «{field}» debe ser texto.")
    refuse_nul(value)
    if not single_line:
        return value.strip()
    if CONTROL.search(_SINGLE_LINE_SPACE.sub(" ", value)):
        raise InvalidInput(f"El campo «{field}» contiene caracteres de control no permitidos.")
    return " ".join(value.split())


def one_line(text: str) -> str:
    """A line derived from free text (a title from a message): control characters become
    spaces, whitespace runs one space. Never raises."""
    return " ".join(CONTROL.sub(" ", text).split())
