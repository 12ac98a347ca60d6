"""How long each kind of typed input may be: the one table that the services, the API's
models and the UI's input handlers all read, so a limit is written once.

The UI clips what it holds to a little over these (`UI_SLACK`) and lets the service refuse the
rest with its Spanish message: a user who pastes too much sees why, and nothing they typed is
silently cut to an accepted length.
"""

from __future__ import annotations

from typing import Final

EMAIL: Final = 254
NAME: Final = 120  # a person's name (users.name)
PASSWORD: Final = 1024  # bounds the hashing work per attempt
TOTP_CODE: Final = 64  # a 6-digit code or a recovery code, with room for spaces
TITLE: Final = 200  # conversations.title
TITLE_INPUT: Final = 1000  # a rename field: longer than TITLE so the service explains the limit
SEARCH: Final = 200
MODEL: Final = 100
REQUEST_ID: Final = 64
REFRESH_TOKEN: Final = 200
TOKEN: Final = 200  # a session cookie or a login ticket (opaque, 43 characters when genuine)
USER_AGENT: Final = 400  # auth_sessions.user_agent and login_tickets.user_agent
ROLE: Final = 20
AUDIT_ACTION: Final = 60
ID_TEXT: Final = 20  # an id typed into a field: 2^63-1 has 19 digits
DAY_TEXT: Final = 10  # YYYY-MM-DD
NEXT_PATH: Final = 500
MESSAGE_INPUT: Final = 200_000  # the composer: the configured max_message_chars refuses on send
MESSAGE_API: Final = 100_000  # the API body field; the configured limit still applies after
NAME_INPUT: Final = 200  # a name field: longer than NAME so the service explains the limit
PAGE_SIZE: Final = 200  # rows one list request (admin lists, audit) may ask for: `limit=`


def clip(value: object, limit: int) -> str:
    """What a UI input handler stores: the value as text, at most `limit` characters. Events
    can carry any JSON, so a non-string becomes its text rather than an error."""
    text = value if isinstance(value, str) else str(value)
    return text[:limit]
