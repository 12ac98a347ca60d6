"""/api/admin rules beyond the matrix: the last admin, deactivation, reassignment targets, bulk
moves, the audit trail and its filters."""

from __future__ import annotations

import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, Conversation, Message, MessageRole, User
from energyapp.services import api_tokens
from tests.conftest import api_login


@pytest.fixture
def people(make_user):
    return {
        key: make_user(f"{key}@empresa.cl", "clave-segura-1", role=role, name=key)
        for key, role in (
            ("jefa", "admin"),
            ("sup", "supervisor"),
            ("ana", "trabajador"),
            ("luis", "trabajador"),
        )
    }


def as_user(api, user) -> None:
    with session_scope() as db:
        pair = api_tokens.issue_pair(db, user.id)
    api.cookies.clear()
    api.headers["Authorization"] = f"Bearer {pair.access_token}"


def conversation_of(user, title: str = "Tema") -> int:
    with session_scope() as db:
        conversation = Conversation(owner_id=user.id, title=title, model="m")
        db.add(conversation)
        db.flush()
        db.add(Message(conversation_id=conversation.id, role=MessageRole.user, content="hola"))
        return conversation.id


def audit_actions() -> list[str]:
    with session_scope() as db:
        return [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(api, people) -> None:
    as_user(api, people["jefa"])
    for change in ({"role": "supervisor"}, {"is_active": False}):
        response = api.patch(f"/api/admin/users/{people['jefa'].id}", json=change)
        assert response.status_code == 409 and response.json()["code"] == "last_admin"
    assert (
        api.patch(f"/api/admin/users/{people['sup'].id}", json={"role": "admin"}).status_code == 200
    )
    assert (
        api.patch(f"/api/admin/users/{people['jefa'].id}", json={"role": "supervisor"}).status_code
        == 200
    )  # another admin exists now


def test_deactivation_signs_the_user_out_everywhere(api, people) -> None:
    worker_tokens = api_login(api, "ana@empresa.cl", "clave-segura-1").json()
    worker_cookie = api.cookies.get("energyapp_session")
    as_user(api, people["jefa"])
    assert (
        api.patch(f"/api/admin/users/{people['ana'].id}", json={"is_active": False}).json()[
            "is_active"
        ]
        is False
    )
    api.headers.pop("Authorization")
    api.cookies.set("energyapp_session", worker_cookie)
    assert api.get("/api/auth/me").status_code == 401
    api.cookies.clear()
    assert (
        api.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {worker_tokens['access_token']}"}
        ).status_code
        == 401
    )
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 401
    assert "user_deactivated" in audit_actions()


@pytest.mark.parametrize(("to", "status"), [("missing", 404), ("inactive", 403), ("self", 422)])
def test_reassign_to_a_missing_inactive_or_same_user_is_a_clear_4xx(
    api, people, make_user, to, status
) -> None:
    conversation = conversation_of(people["ana"])
    target = {
        "missing": 999_999,
        "self": people["ana"].id,
        "inactive": make_user("baja@empresa.cl", active=False).id,
    }[to]
    as_user(api, people["jefa"])
    response = api.post(
        f"/api/admin/conversations/{conversation}/reassign", json={"to_user_id": target}
    )
    assert response.status_code == status and response.json()["detail"]
    with session_scope() as db:
        assert db.get(Conversation, conversation).owner_id == people["ana"].id


def test_reassign_is_atomic_audited_and_both_owners_see_it(api, people) -> None:
    conversation = conversation_of(people["ana"], "Informe mensual")
    as_user(api, people["sup"])
    moved = api.post(
        f"/api/admin/conversations/{conversation}/reassign", json={"to_user_id": people["luis"].id}
    )
    assert moved.status_code == 200 and moved.json()["owner_id"] == people["luis"].id
    with session_scope() as db:
        event = db.exec(
            select(AuditEvent).where(AuditEvent.action == "conversation_reassigned")
        ).one()
    assert event.actor_id == people["sup"].id and event.target_id == str(conversation)
    assert f'"from_user_id": {people["ana"].id}' in event.details
    assert f'"to_user_id": {people["luis"].id}' in event.details and event.ip
    as_user(api, people["luis"])
    assert [c["title"] for c in api.get("/api/conversations").json()["items"]] == [
        "Informe mensual"
    ]
    as_user(api, people["ana"])
    assert api.get("/api/conversations").json()["items"] == []


def test_bulk_reassignment_moves_and_audits_each(api, people) -> None:
    for n in range(3):
        conversation_of(people["ana"], f"Tema {n}")
    as_user(api, people["jefa"])
    response = api.post(
        f"/api/admin/users/{people['ana'].id}/reassign-all", json={"to_user_id": people["luis"].id}
    )
    assert response.json() == {"moved": 3}
    assert audit_actions().count("conversation_reassigned") == 3
    assert api.get(f"/api/admin/users/{people['ana'].id}/conversations").json() == []


def test_reading_a_conversation_is_recorded_and_shows_in_the_audit(api, people) -> None:
    conversation = conversation_of(people["ana"])
    as_user(api, people["sup"])
    messages = api.get(f"/api/admin/conversations/{conversation}/messages").json()
    assert [m["content"] for m in messages] == ["hola"]
    audit = api.get("/api/admin/audit?action=conversation_viewed").json()
    assert len(audit) == 1 and audit[0]["actor_email"] == "sup@empresa.cl"
    assert audit[0]["target_id"] == str(conversation)


def test_audit_filters_and_supervisor_scope(api, people) -> None:
    conversation = conversation_of(people["ana"])
    as_user(api, people["jefa"])
    api.get(f"/api/admin/conversations/{conversation}/messages")
    api.post(f"/api/admin/users/{people['ana'].id}/unlock")
    everything = api.get("/api/admin/audit").json()
    assert [e["action"] for e in everything][:2] == ["user_unlocked", "conversation_viewed"]
    by_actor = api.get(f"/api/admin/audit?actor_id={people['jefa'].id}").json()
    assert {e["actor_email"] for e in by_actor} == {"jefa@empresa.cl"}
    assert api.get("/api/admin/audit?from=2000-01-01&to=2000-01-02").json() == []
    assert api.get("/api/admin/audit?from=not-a-date").status_code == 422
    as_user(api, people["sup"])  # the admin's actions are outside a supervisor's scope
    assert api.get("/api/admin/audit").json() == []


def test_user_search_and_paging(api, people, make_user) -> None:
    for n in range(5):
        make_user(f"persona{n}@empresa.cl", name=f"Persona {n}")
    as_user(api, people["jefa"])
    first = api.get("/api/admin/users?limit=3").json()
    second = api.get("/api/admin/users?limit=3&offset=3").json()
    assert len(first) == 3 and not {u["id"] for u in first} & {u["id"] for u in second}
    assert [u["email"] for u in api.get("/api/admin/users?q=PERSONA 3").json()] == [
        "persona3@empresa.cl"
    ]
    assert api.get("/api/admin/users?limit=0").status_code == 422


def test_admin_sessions_view_and_revoke(api, people) -> None:
    api_login(api, "ana@empresa.cl", "clave-segura-1")
    worker_cookie = api.cookies.get("energyapp_session")
    as_user(api, people["jefa"])
    listed = api.get(f"/api/admin/users/{people['ana'].id}/sessions").json()
    assert len(listed) == 1
    assert (
        api.delete(f"/api/admin/users/{people['ana'].id}/sessions/{listed[0]['id']}").status_code
        == 204
    )
    api.headers.pop("Authorization")
    api.cookies.set("energyapp_session", worker_cookie)
    assert api.get("/api/auth/me").status_code == 401


def test_reset_2fa_lets_the_user_set_it_up_again(api, people, make_user) -> None:
    user = make_user("dos@empresa.cl", totp=True)
    as_user(api, people["jefa"])
    assert api.post(f"/api/admin/users/{user.id}/reset-2fa").status_code == 204
    assert api_login(api, "dos@empresa.cl", "clave-segura-1").status_code == 200
    assert "totp_reset" in audit_actions()


def test_unlock_lifts_a_login_lockout(api, people) -> None:
    for _ in range(5):
        api_login(api, "ana@empresa.cl", "wrong-password")
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 429
    as_user(api, people["jefa"])
    assert api.post(f"/api/admin/users/{people['ana'].id}/unlock").status_code == 204
    api.headers.pop("Authorization")
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 200


# --- demo accounts keep their seeded role -------------------------------------------------------
def demo_user(email: str) -> User:
    with session_scope() as db:
        return db.exec(select(User).where(User.email == email)).one()


@pytest.mark.parametrize(
    ("email", "seeded", "other"),
    [
        ("supervisor@alvaradomazzei.cl", "supervisor", "trabajador"),
        ("trabajador@alvaradomazzei.cl", "trabajador", "admin"),
        ("administrador@alvaradomazzei.cl", "admin", "supervisor"),
    ],
)
def test_an_admin_cannot_change_a_demo_accounts_role(
    api, people, demo_users, email, seeded, other
) -> None:
    target = demo_user(email)
    as_user(api, people["jefa"])
    response = api.patch(f"/api/admin/users/{target.id}", json={"role": other})
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"Las cuentas de demostración conservan su rol ({seeded}): las usan todos los "
        "visitantes para conocer ese perfil."
    )
    assert demo_user(email).role == seeded
    assert "role_changed" not in audit_actions()
    assert api.patch(f"/api/admin/users/{target.id}", json={"role": seeded}).status_code == 200


def test_a_demo_account_changed_behind_the_panels_back_can_be_given_its_role_back(
    api, people, demo_users
) -> None:
    with session_scope() as db:  # e.g. by the operator's CLI
        db.exec(
            select(User).where(User.email == "supervisor@alvaradomazzei.cl")
        ).one().role = "trabajador"
    target = demo_user("supervisor@alvaradomazzei.cl")
    as_user(api, people["jefa"])
    assert api.patch(f"/api/admin/users/{target.id}", json={"role": "admin"}).status_code == 403
    restored = api.patch(f"/api/admin/users/{target.id}", json={"role": "supervisor"})
    assert restored.status_code == 200 and restored.json()["role"] == "supervisor"
