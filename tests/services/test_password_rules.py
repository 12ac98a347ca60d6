"""The rules a new password must pass (registration, password change, the CLI), as NIST
SP 800-63B asks: any characters up to a generous length; nothing common or breached; nothing
built from the company's name or the account's own email."""

from __future__ import annotations

import pytest

from energyapp.services.accounts import password_problem, password_rule
from tests.conftest import apply_env

COMMON = (
    "Esa contraseña es demasiado común o aparece en filtraciones de datos; elige otra menos "
    "predecible."
)
HAS_EMAIL = "La contraseña no puede contener tu correo ni la parte anterior a la @."
HAS_COMPANY = "La contraseña no puede contener el nombre de la empresa (EnergyApp)."


def problem(password: str, email: str = "ana.perez@empresa.cl") -> str | None:
    return password_problem(password, password, email)


@pytest.mark.parametrize(
    "password",
    [
        "clave-segura-1",
        "a" * 200,
        "ж" * 100,
        "caballo correcto batería grapa",
        "ñandú-ágil-7",
        "x" * 1024,
    ],
)
def test_long_and_non_ascii_passwords_are_accepted(settings_env, password: str) -> None:
    assert problem(password) is None


def test_the_rule_shown_to_users_no_longer_speaks_of_bytes(settings_env) -> None:
    rule = password_rule()
    assert "bytes" not in rule and rule.startswith("Mínimo 8 caracteres") and "comunes" in rule


def test_only_a_huge_password_is_too_long(settings_env) -> None:
    assert problem("x" * 1025) == "La contraseña es demasiado larga: el máximo es 1024 caracteres."


def test_length_counts_characters_after_nfkc(settings_env) -> None:
    """Four "ﬁ" ligatures are eight letters once normalised; seven "ñ" are seven, not 14 bytes."""
    assert problem("\ufb01" * 4) is None
    assert problem("ñ" * 7) == "La contraseña debe tener al menos 8 caracteres."


def test_the_confirmation_is_compared_in_nfkc(settings_env) -> None:
    assert password_problem("a\u00f1o-nuevo-77", "an\u0303o-nuevo-77") is None
    assert password_problem("año-nuevo-77", "año-nuevo-78") == "Las contraseñas no coinciden."


@pytest.mark.parametrize(
    "password", ["password123", "PASSWORD123", "qwerty123", "iloveyou1", "ｐａｓｓｗｏｒｄ１２３"]
)
def test_common_and_breached_passwords_are_refused(settings_env, password: str) -> None:
    assert problem(password) == COMMON


@pytest.mark.parametrize(
    "password",
    ["energyapp-2024", "Mi ENERGYAPP favorita", "energy app 99", "ＥｎｅｒｇｙＡｐｐ-77"],
)
def test_the_company_name_is_refused_in_any_case(settings_env, password: str) -> None:
    assert problem(password) == HAS_COMPANY


def test_the_company_name_comes_from_settings(settings_env, monkeypatch) -> None:
    apply_env(monkeypatch, company_name="Alvarado Mazzei")
    assert problem("alvarado-mazzei-1") == (
        "La contraseña no puede contener el nombre de la empresa (Alvarado Mazzei)."
    )
    assert problem("energyapp-2024") is None
    apply_env(monkeypatch, company_name="")
    assert problem("alvarado-mazzei-1") is None


@pytest.mark.parametrize(
    "password", ["ana.perez@empresa.cl", "ANA.PEREZ@EMPRESA.CL!", "anaperez2024", "soy-Ana-Perez"]
)
def test_the_users_own_email_or_its_local_part_is_refused(settings_env, password: str) -> None:
    assert problem(password) == HAS_EMAIL


def test_a_short_local_part_only_refuses_the_whole_address(settings_env) -> None:
    """ "ana" is inside too many good passwords ("banana", "mañana") to refuse it there."""
    assert problem("banana-split-42", email="ana@empresa.cl") is None
    assert problem("ana@empresa.cl-1", email="ana@empresa.cl") == HAS_EMAIL


def test_without_an_email_only_the_general_rules_apply(settings_env) -> None:
    assert password_problem("anaperez2024", "anaperez2024") is None
