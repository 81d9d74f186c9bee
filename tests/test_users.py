"""HR accounts after the first: the admin adds, deactivates, reactivates and resets users (API and
/users), everyone changes their own password (/api/me/password and /account). Changes that should
end access end the other logins at once; every change is audited."""
from __future__ import annotations

import re
from typing import Any

from sqlmodel import select

from conftest import PASSWORD, Api, login
from server import auth
from server.store import Store
from server.tables import AuditLog
from test_pages_hr import csrf_of, post, text_of


def actions(store: Store) -> list[str]:
    return store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog))])


async def api_login(client: Any, email: str, password: str) -> int:
    resp = await client.post("/api/login", json={"email": email, "password": password})
    return int(resp.status)


async def another_login(client: Any, email: str) -> Api:
    """The same user logged in again (another browser or script)."""
    resp = await client.post("/api/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return Api(client, (await resp.json())["token"])


async def test_admin_manages_users_over_the_api(client: Any, store: Store, admin: Api, hr: Api) -> None:
    _, listed = await admin.call("GET", "/api/users", expect=200)
    assert {u["email"]: u["role"] for u in listed["users"]} == {"admin@example.com": "admin", "hr@example.com": "hr"}
    status, _ = await hr.call("GET", "/api/users")
    assert status == 403
    hr_id = next(u["id"] for u in listed["users"] if u["role"] == "hr")
    admin_id = next(u["id"] for u in listed["users"] if u["role"] == "admin")

    # Deactivated: the running login ends now and no new one starts; reactivated: it can log in.
    _, row = await admin.call("POST", f"/api/users/{hr_id}/disable", json={}, expect=200)
    assert row["disabled"] is True
    assert (await hr.call("GET", "/api/me"))[0] == 401
    assert await api_login(client, "hr@example.com", PASSWORD) == 401
    await admin.call("POST", f"/api/users/{hr_id}/enable", json={}, expect=200)
    assert await api_login(client, "hr@example.com", PASSWORD) == 200
    status, body = await admin.call("POST", f"/api/users/{admin_id}/disable", json={})
    assert status == 409 and "your own account" in body["error"]
    assert (await admin.call("POST", "/api/users/424242/disable", json={}))[0] == 404

    # A reset: the user's logins end, the new password works, the old one does not.
    again = await another_login(client, "hr@example.com")
    status, body = await admin.call("POST", f"/api/users/{hr_id}/password", json={"password": "short"})
    assert status == 422
    await admin.call("POST", f"/api/users/{hr_id}/password", json={"password": "a brand new passphrase"},
                     expect=200)
    assert (await again.call("GET", "/api/me"))[0] == 401
    assert await api_login(client, "hr@example.com", PASSWORD) == 401
    assert await api_login(client, "hr@example.com", "a brand new passphrase") == 200
    assert {"user.disable", "user.enable", "user.password_reset"} <= set(actions(store))


async def test_changing_your_own_password_ends_your_other_logins(client: Any, store: Store, hr: Api) -> None:
    other = await another_login(client, "hr@example.com")
    status, body = await hr.call("POST", "/api/me/password",
                                 json={"current_password": "not it at all", "new_password": "a brand new passphrase"})
    assert status == 422 and "current password" in body["error"]
    status, body = await hr.call("POST", "/api/me/password",
                                 json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert status == 422 and "differ" in body["error"]
    await hr.call("POST", "/api/me/password",
                  json={"current_password": PASSWORD, "new_password": "a brand new passphrase"}, expect=200)
    assert (await hr.call("GET", "/api/me"))[0] == 200  # this login goes on
    assert (await other.call("GET", "/api/me"))[0] == 401  # the other one ended
    assert await api_login(client, "hr@example.com", "a brand new passphrase") == 200
    assert actions(store).count("user.password_change") == 1


async def test_users_and_account_pages(client: Any, store: Store) -> None:
    await login(client, store, "hr@example.com", "hr")  # an HR user to manage
    store.run_sync(lambda db: auth.create_user(db, "boss@example.com", PASSWORD, "admin"))
    resp = await client.post("/login", data={"email": "boss@example.com", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303

    page = await (await client.get("/users")).text()
    csrf = csrf_of(page)
    assert "hr@example.com" in text_of(page) and "Users" in text_of(page)
    # Add: the temporary password is shown once, and works.
    resp = await post(client, "/users", {"csrf_token": csrf, "email": "New.Person@Example.com", "role": "hr"})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    shown = re.search(r'id="shown-password"[^>]*value="([^"]+)"', page)
    assert shown and "Account created for new.person@example.com" in text_of(page)
    assert await api_login(client, "new.person@example.com", shown.group(1)) == 200
    assert shown.group(1) not in await (await client.get("/users")).text()
    resp = await post(client, "/users", {"csrf_token": csrf, "email": "not an email", "role": "hr"})
    assert resp.status == 422 and "email" in text_of(await resp.text()).lower()
    resp = await post(client, "/users", {"csrf_token": csrf, "email": "new.person@example.com", "role": "hr"})
    assert resp.status == 409 and "already exists" in text_of(await resp.text())

    new_id = int(re.search(r'data-user-id="(\d+)">\s*<th scope="row">new.person@example.com',
                           await (await client.get("/users")).text()).group(1))  # type: ignore[union-attr]
    resp = await post(client, f"/users/{new_id}/disable", {"csrf_token": csrf})
    assert resp.status == 303
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "The account was deactivated" in page and "Deactivated" in page
    assert await api_login(client, "new.person@example.com", shown.group(1)) == 401
    resp = await post(client, f"/users/{new_id}/enable", {"csrf_token": csrf})
    assert resp.status == 303
    resp = await post(client, f"/users/{new_id}/password", {"csrf_token": csrf})
    reset = re.search(r'id="shown-password"[^>]*value="([^"]+)"', await resp.text())
    assert reset and reset.group(1) != shown.group(1)
    assert await api_login(client, "new.person@example.com", reset.group(1)) == 200
    assert (await post(client, f"/users/{new_id}/disable", {})).status == 403  # no CSRF token

    # An HR user has no user admin, but has their own account page.
    client.session.cookie_jar.clear()
    resp = await client.post("/login", data={"email": "hr@example.com", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/users")).status == 403
    page = await (await client.get("/account")).text()
    csrf = csrf_of(page)
    assert 'href="/users"' not in page
    resp = await post(client, "/account/password", {"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": "a brand new passphrase",
                                                    "new_password_again": "a brand new passphrase!"})
    assert resp.status == 422 and "The two new passwords differ" in text_of(await resp.text())
    resp = await post(client, "/account/password", {"csrf_token": csrf, "current_password": "wrong wrong wrong",
                                                    "new_password": "a brand new passphrase",
                                                    "new_password_again": "a brand new passphrase"})
    assert resp.status == 422 and "The current password is not right" in text_of(await resp.text())
    resp = await post(client, "/account/password", {"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": "a brand new passphrase",
                                                    "new_password_again": "a brand new passphrase"})
    assert resp.status == 303
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "Your password was changed" in page  # and this page session still works
    assert await api_login(client, "hr@example.com", "a brand new passphrase") == 200
