"""The site's login and forms: tokens never in URLs, cookie flags, and a CSRF check on
every form route (walked from the page modules, so a new form cannot forget it)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.leaderboard.api import create_app, pages
from geoarena.leaderboard.schema import AuditEntry, Submission
from geoarena.leaderboard.settings import Settings

from . import webforms
from .factories import make_arena, synthetic


def _app(arena, **settings):
    options = {"validate_in_processes": False, **settings}
    return create_app(Settings(database_url=arena.db.url, **options), arena.db, workers=0)


def _form_routes() -> list[tuple[str, str]]:
    return [
        (route.path, method)
        for module in pages.PAGE_MODULES
        for route in module.router.routes
        for method in getattr(route, "methods", ())
        if method == "POST"
    ]


def _changes(db) -> tuple[int, int]:
    with db.session() as s:
        return (
            s.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
            s.execute(select(func.count()).select_from(Submission)).scalar_one(),
        )


def test_every_form_refuses_a_missing_or_foreign_csrf_token(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    uuid = lb.submit(
        db, principal=arena.members["alpha"], slug=arena.slug, data=synthetic()[1]
    ).uuid
    lb.Worker(db).run(exit_when_idle=True)
    values = {
        "slug": arena.slug,
        "uuid": uuid,
        "team": "alpha",
        "rescore_id": "1",
        "action": "publish",
    }
    routes = _form_routes()
    assert len(routes) >= 4
    csrf_refused: set[str] = set()
    with TestClient(_app(arena)) as client, TestClient(_app(arena)) as other:
        other_token = webforms.csrf_token(other)  # a real token, of another browser
        for who in (arena.tokens["alpha"], arena.organizer_token):
            client.cookies.clear()
            assert webforms.login(client, who).status_code == 303
            before = _changes(db)
            for path, _ in routes:
                url = re.sub(r"\{(\w+)(:path)?\}", lambda m: values[m.group(1)], path)
                fields = {"token": who, "final": uuid, "name": "x", "reason": "x"}
                for token in (None, other_token):
                    data = fields if token is None else {**fields, "csrf_token": token}
                    r = client.post(url, data=data, follow_redirects=False)
                    assert r.status_code == 403, (url, token, r.status_code)
                    if "CSRF" in r.text:  # (else refused for the role, before the form)
                        csrf_refused.add(path)
                    # with a file too (the upload forms); a form that takes none says 400
                    files = {"file": ("p.csv", synthetic()[1])}
                    r = client.post(url, data=data, files=files, follow_redirects=False)
                    assert r.status_code in (400, 403), (url, token, r.status_code)
            assert _changes(db) == before
    assert csrf_refused == {path for path, _ in routes}


def test_login_cookie_flags_and_no_token_in_any_url(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    with TestClient(_app(arena)) as client:
        r = webforms.login(client, arena.tokens["alpha"], next=f"/c/{arena.slug}")
        assert r.status_code == 303 and arena.tokens["alpha"] not in r.headers["location"]
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        page = client.get(f"/c/{arena.slug}/overview").text
        assert arena.tokens["alpha"] not in page  # the login is never echoed into a page
        login_page = client.get("/login").text
        assert 'method="post"' in login_page and 'type="password"' in login_page


PROXIED = {"x-forwarded-proto": "https"}


@pytest.mark.parametrize(
    ("settings", "headers", "client_host", "scheme", "secure"),
    [
        ({}, PROXIED, "127.0.0.1", "http", True),  # from the trusted proxy
        ({}, PROXIED, "10.1.2.3", "http", False),  # anybody else may claim it
        ({"trusted_proxies": ["10.1.2.3"]}, PROXIED, "10.1.2.3", "http", True),
        ({}, {}, "10.1.2.3", "https", True),  # TLS straight to the server
        ({"secure_cookies": False}, {}, "10.1.2.3", "https", False),  # forced either way
        ({"secure_cookies": True}, {}, "10.1.2.3", "https", True),
        ({}, {}, "127.0.0.1", "http", False),
    ],
)
def test_secure_cookies_behind_tls(db, settings, headers, client_host, scheme, secure) -> None:
    arena = make_arena(db, teams=("alpha",))
    app = _app(arena, **settings)
    with TestClient(app, base_url=f"{scheme}://testserver", client=(client_host, 5000)) as client:
        token = webforms.csrf_token(client)
        r = client.post(
            "/login",
            data={"token": arena.tokens["alpha"], "csrf_token": token},
            headers=headers,
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert ("; secure" in r.headers["set-cookie"].lower()) is secure


def test_a_login_makes_older_forms_stale(db) -> None:
    """A token is bound to the login it was rendered for: a form rendered before logging
    in (or as somebody else) is refused after it."""
    arena = make_arena(db, teams=("alpha",))
    with TestClient(_app(arena)) as client:
        anonymous_form = webforms.csrf_token(client, "/login")
        webforms.login(client, arena.tokens["alpha"])
        r = client.post("/logout", data={"csrf_token": anonymous_form}, follow_redirects=False)
        assert r.status_code == 403
        r = client.post(
            "/logout", data={"csrf_token": webforms.csrf_token(client, "/")}, follow_redirects=False
        )
        assert r.status_code == 303 and "geoarena_token=" in r.headers["set-cookie"]


def test_phase_form_reads_times_as_utc_and_names_a_bad_one(db) -> None:
    """The admin page's phase form goes through PhaseChange: a ``datetime-local`` value is
    UTC, ``none`` is unlimited, a blank field is kept, and a value that is not a time is a
    422 naming its field (nothing changed)."""
    arena = make_arena(db, daily_limit=3)
    route = f"/admin/c/{arena.slug}/phases"
    with TestClient(_app(arena)) as client:
        assert webforms.login(client, arena.organizer_token).status_code == 303
        form = {"csrf_token": webforms.csrf_token(client, f"/admin/c/{arena.slug}")}
        fields = {"name": "main", "closes_at": "2999-01-01T10:30", "daily_limit": "none"}
        answer = client.post(route, data={**form, **fields}, follow_redirects=False)
        assert answer.status_code == 303
        refused = client.post(route, data={**form, "name": "main", "opens_at": "soon"})
        assert refused.status_code == 422 and "opens_at" in refused.text
    (phase,) = lb.challenge_view(db, slug=arena.slug).phases
    assert (
        phase.closes_at is not None and phase.closes_at.isoformat() == "2999-01-01T10:30:00+00:00"
    )
    assert phase.daily_limit is None and phase.opens_at is None
