"""Whether an error means "the database cannot be used now" (503 and a Spanish message, never a
500), for the adapters: the UI gate and states, the API's error handlers and streams. The
classification lives in `db/failures.py`; adapters read it from here so that they never import
the database layer (the errors themselves are `domain/errors.py`)."""

from __future__ import annotations

from energyapp.db.failures import database_unavailable as database_unavailable
from energyapp.db.failures import log_unavailable as log_unavailable
