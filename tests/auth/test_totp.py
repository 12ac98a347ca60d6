"""TOTP checks: ±1 step, no replay, ASCII digits only; recovery code formats."""

from __future__ import annotations

import pyotp

from energyapp.auth.totp import matching_step, new_recovery_codes, normalize_recovery_code

SECRET = pyotp.random_base32()
NOW = 1_800_000_000.0
STEP = int(NOW // 30)


def code_at(step: int) -> str:
    return pyotp.TOTP(SECRET).at(step * 30)


def test_accepts_the_current_and_adjacent_steps() -> None:
    for step in (STEP - 1, STEP, STEP + 1):
        assert matching_step(SECRET, code_at(step), None, now=NOW) == step


def test_refuses_steps_two_away() -> None:
    assert matching_step(SECRET, code_at(STEP - 2), None, now=NOW) is None
    assert matching_step(SECRET, code_at(STEP + 2), None, now=NOW) is None


def test_never_accepts_a_step_at_or_before_the_last_one() -> None:
    assert matching_step(SECRET, code_at(STEP), STEP, now=NOW) is None
    assert matching_step(SECRET, code_at(STEP - 1), STEP - 1, now=NOW) is None
    assert matching_step(SECRET, code_at(STEP + 1), STEP, now=NOW) == STEP + 1


def test_only_six_ascii_digits() -> None:
    full_width = code_at(STEP).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert matching_step(SECRET, full_width, None, now=NOW) is None
    assert matching_step(SECRET, code_at(STEP)[:5], None, now=NOW) is None
    assert matching_step(SECRET, " " + code_at(STEP) + " ", None, now=NOW) == STEP


def test_recovery_codes_are_distinct_and_normalize() -> None:
    codes = new_recovery_codes(10)
    assert len(set(codes)) == 10 and all(len(c) == 9 and c[4] == "-" for c in codes)
    assert normalize_recovery_code(codes[0].upper().replace("-", "")) == codes[0]
    assert normalize_recovery_code("no es un código") is None
