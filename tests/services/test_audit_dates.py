"""The audit list's date filter counts days of the configured time zone (the list shows its times
in that zone), not UTC days: an event late in the evening belongs to that evening's day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from energyapp.db.engine import session_scope
from energyapp.services import admin, audit
from energyapp.services.validation import day_start
from energyapp.services.views import UserView
from tests.api.test_admin import as_user
from tests.conftest import apply_env

DAY = date(2024, 1, 15)  # winter: Madrid is UTC+1
ACTION = "tz_probe"
# 23:30 in Madrid on DAY, and 00:30 in Madrid on the next day.
LATE_EVENING = datetime(2024, 1, 15, 22, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2024, 1, 15, 23, 30, tzinfo=UTC)
# 00:30 in Madrid on DAY (still the day before in UTC).
EARLY_MORNING = datetime(2024, 1, 14, 23, 30, tzinfo=UTC)


@pytest.fixture
def madrid_admin(app_env: dict[str, str], make_user, monkeypatch: pytest.MonkeyPatch):
    apply_env(monkeypatch, timezone="Europe/Madrid")
    user = make_user("jefa@empresa.cl", role="admin")
    with session_scope() as db:
        for label, moment in (
            ("early", EARLY_MORNING),
            ("late", LATE_EVENING),
            ("after", AFTER_MIDNIGHT),
        ):
            event = audit.record(db, ACTION, actor_id=user.id, target_type="probe", target_id=label)
            event.created_at = moment
    return user


def _labels(actor: UserView, date_from: date | str | None, date_to: date | str | None) -> set:
    rows = admin.audit_events(actor, action=ACTION, date_from=date_from, date_to=date_to)
    return {row.target_id for row in rows}


def test_audit_date_filter_counts_days_in_the_configured_time_zone(madrid_admin) -> None:
    actor = UserView.of(madrid_admin)
    next_day = DAY + timedelta(days=1)
    assert _labels(actor, DAY, DAY) == {"early", "late"}
    assert _labels(actor, next_day, None) == {"after"}
    assert _labels(actor, None, DAY - timedelta(days=1)) == set()
    assert _labels(actor, next_day.isoformat(), next_day.isoformat()) == {"after"}


def test_the_api_audit_filter_uses_the_same_days(api, madrid_admin) -> None:
    as_user(api, madrid_admin)
    day, next_day = DAY.isoformat(), (DAY + timedelta(days=1)).isoformat()

    def labels(query: str) -> set:
        response = api.get(f"/api/admin/audit?action={ACTION}&{query}")
        assert response.status_code == 200
        return {row["target_id"] for row in response.json()}

    assert labels(f"from={day}&to={day}") == {"early", "late"}
    assert labels(f"from={next_day}") == {"after"}
    assert labels(f"to={day}") == {"early", "late"}


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        ("UTC", date(2024, 1, 15), datetime(2024, 1, 15, tzinfo=UTC), 24),
        ("Europe/Madrid", date(2024, 1, 15), datetime(2024, 1, 14, 23, tzinfo=UTC), 24),
        # Spring forward: a 23-hour day; fall back: a 25-hour day.
        ("Europe/Madrid", date(2024, 3, 31), datetime(2024, 3, 30, 23, tzinfo=UTC), 23),
        ("Europe/Madrid", date(2024, 10, 27), datetime(2024, 10, 26, 22, tzinfo=UTC), 25),
        # Chile moves its clocks at midnight: the day starts at 01:00 (04:00 UTC) that Sunday.
        ("America/Santiago", date(2024, 9, 8), datetime(2024, 9, 8, 4, tzinfo=UTC), 23),
    ],
)
def test_day_start_is_local_midnight_in_utc(
    zone: str, day: date, start: datetime, hours: int
) -> None:
    tz = ZoneInfo(zone)
    assert day_start(day, tz) == start
    assert day_start(day, tz, plus_days=1) - start == timedelta(hours=hours)
    assert day_start(None, tz) is None
