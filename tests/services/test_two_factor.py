"""Starting 2FA setup: a reload of the forced setup page keeps the QR already shown; an
explicit new start replaces it; the code confirms against the secret on screen."""

from __future__ import annotations

import pyotp
import pytest

from energyapp.domain.errors import Conflict, Forbidden
from energyapp.services import two_factor


def test_the_forced_setup_page_shows_the_pending_secret_again(make_user) -> None:
    user = make_user("ana@inacapmail.cl")
    first = two_factor.begin_setup(user.id, keep_pending=True)
    again = two_factor.begin_setup(user.id, keep_pending=True)
    assert again.secret == first.secret and again.qr_data_uri == first.qr_data_uri
    codes = two_factor.confirm_setup(user.id, pyotp.TOTP(first.secret).now(), None)
    assert codes  # the code from the QR scanned on the first load is accepted


def test_an_explicit_new_setup_replaces_the_pending_secret(make_user) -> None:
    user = make_user("ana@inacapmail.cl")
    first = two_factor.begin_setup(user.id, keep_pending=True)
    fresh = two_factor.begin_setup(user.id)
    assert fresh.secret != first.secret


def test_setup_cannot_start_once_2fa_is_on(make_user) -> None:
    user = make_user("ana@inacapmail.cl", totp=True)
    with pytest.raises(Conflict):
        two_factor.begin_setup(user.id, keep_pending=True)


@pytest.mark.parametrize(
    ("totp_on", "step"),
    [
        (False, lambda user_id: two_factor.begin_setup(user_id)),
        (False, lambda user_id: two_factor.begin_setup(user_id, keep_pending=True)),
        (False, lambda user_id: two_factor.confirm_setup(user_id, "123456", None)),
        (True, lambda user_id: two_factor.disable(user_id, "clave-segura-1", "123456", None)),
    ],
    ids=["setup", "forced-setup", "confirm", "disable"],
)
def test_demo_accounts_may_neither_turn_2fa_on_nor_off(make_user, totp_on, step) -> None:
    """Everyone shares them: one visitor's 2FA would lock every other visitor out."""
    user = make_user("visita@alvaradomazzei.cl", demo=True, totp=totp_on)
    with pytest.raises(Forbidden) as refusal:
        step(user.id)
    assert refusal.value.message.startswith("Las cuentas de demostración no pueden")
    assert refusal.value.status == 403
