"""The HTTP API through FastAPI's TestClient, on every engine."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.leaderboard.api import create_app
from geoarena.leaderboard.phases import MAX_LIMIT
from geoarena.leaderboard.rescoring import rescore_ids
from geoarena.leaderboard.schema import Submission
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.worker import Worker

from . import webforms
from .factories import HEADER, degrade, make_arena, perfect, synthetic


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def arena(db):
    return make_arena(db, daily_limit=3)


def _client(arena, **settings) -> TestClient:
    """The app in-process; uploads validated in its threads (the process pool is the
    real server's, exercised by the end-to-end tests)."""
    options = {"validate_in_processes": False, **settings}
    app = create_app(Settings(database_url=arena.db.url, **options), arena.db, workers=0)
    return TestClient(app)


def _count(db) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(Submission)).scalar_one()


def test_submit_status_quota_and_mine(arena) -> None:
    _, props = synthetic()
    with _client(arena) as client:
        alpha = _auth(arena.tokens["alpha"])
        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers=alpha,
            files={"file": ("preds.csv", props, "text/csv")},
            data={"description": "first try"},
        )
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["status"] == "queued" and first["queue_position"] == 1
        assert first["filename"] == "preds.csv" and first["description"] == "first try"
        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions?filename=raw.csv",
            headers={**alpha, "Content-Type": "text/csv"},
            content=props,
        )
        assert r.status_code == 202 and r.json()["queue_position"] == 2
        quota = client.get(f"/api/v1/challenges/{arena.slug}/quota", headers=alpha).json()
        assert quota["remaining"] == 1 and quota["daily_used"] == 2
        assert quota["resets_at"].endswith("T00:00:00Z")
        Worker(arena.db).run(exit_when_idle=True)
        status = client.get(f"/api/v1/submissions/{first['uuid']}", headers=alpha).json()
        assert status["status"] == "scored" and set(status["scores"]) == {"public"}
        assert status["scores"]["public"]["cities"]
        mine = client.get(f"/api/v1/challenges/{arena.slug}/submissions", headers=alpha).json()
        assert mine["count"] == 2
        beta = client.get(
            f"/api/v1/challenges/{arena.slug}/submissions", headers=_auth(arena.tokens["beta"])
        ).json()
        assert beta["count"] == 0
        assert (
            client.get(
                f"/api/v1/submissions/{first['uuid']}", headers=_auth(arena.tokens["beta"])
            ).status_code
            == 404
        )


def test_rejected_upload_lists_row_errors_and_stores_nothing(arena) -> None:
    rows = "".join(f"AOI_9_Nowhere_img{i},1,POLYGON EMPTY,1\n" for i in range(60))
    with _client(arena) as client:
        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers=_auth(arena.tokens["alpha"]),
            files={"file": ("bad.csv", HEADER + rows, "text/csv")},
        )
        assert r.status_code == 422
        body = r.json()
        assert body["total"] == 60 and len(body["problems"]) == 50
        assert body["problems"][0] == {
            "file": "bad.csv",
            "line": 2,
            "column": "ImageId",
            "reason": "ImageId 'AOI_9_Nowhere_img0' is not in this phase",
        }
        assert "no quota was used" in body["detail"]
        quota = client.get(
            f"/api/v1/challenges/{arena.slug}/quota", headers=_auth(arena.tokens["alpha"])
        ).json()
        assert quota["total_used"] == 0
    assert _count(arena.db) == 0


def test_quota_refusal_says_why_and_when(arena) -> None:
    _, props = synthetic()
    with _client(arena) as client:
        for i in range(3):
            r = client.post(
                f"/api/v1/challenges/{arena.slug}/submissions",
                headers=_auth(arena.tokens["alpha"]),
                files={"file": ("p.csv", degrade(props, 0.9, seed=i))},
            )
            assert r.status_code == 202
            Worker(arena.db).run(exit_when_idle=True)
        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers=_auth(arena.tokens["alpha"]),
            files={"file": ("p.csv", props)},
        )
        assert r.status_code == 429
        assert "daily quota" in r.json()["detail"]
        assert r.json()["quota"]["remaining"] == 0


def test_authentication_and_roles(arena) -> None:
    organizer_routes = [
        ("post", "/api/v1/organizer/challenges"),
        ("post", f"/api/v1/organizer/challenges/{arena.slug}/baselines"),
        ("post", f"/api/v1/organizer/challenges/{arena.slug}/reveal"),
        ("post", f"/api/v1/organizer/challenges/{arena.slug}/rescore"),
        ("get", "/api/v1/organizer/rescores/1"),
        ("post", "/api/v1/organizer/rescores/1/publish"),
        ("get", f"/api/v1/organizer/challenges/{arena.slug}/export.csv"),
    ]
    with _client(arena) as client:
        for method, path in organizer_routes:
            assert getattr(client, method)(path).status_code == 401, path
            r = getattr(client, method)(path, headers=_auth(arena.tokens["alpha"]))
            assert r.status_code == 403, path
        bad = _auth(arena.tokens["alpha"][:-2] + "zz")
        assert client.get(f"/api/v1/challenges/{arena.slug}/quota", headers=bad).status_code == 401
        lb.revoke_token(arena.db, key=arena.tokens["beta"])
        r = client.get(
            f"/api/v1/challenges/{arena.slug}/quota", headers=_auth(arena.tokens["beta"])
        )
        assert r.status_code == 401
        # Cookies never authenticate API calls (no cross-site form submissions).
        client.cookies.set("geoarena_token", arena.tokens["alpha"])
        assert client.get(f"/api/v1/challenges/{arena.slug}/quota").status_code == 401


def test_private_scores_hidden_until_reveal_and_truth_never_served(arena) -> None:
    truth, props = synthetic()
    with _client(arena) as client:
        alpha = _auth(arena.tokens["alpha"])
        org = _auth(arena.organizer_token)
        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers=alpha,
            files={"file": ("p.csv", props)},
        )
        uuid = r.json()["uuid"]
        Worker(arena.db).run(exit_when_idle=True)
        lb = f"/api/v1/challenges/{arena.slug}/leaderboard"
        assert client.get(lb, params={"split": "private"}).status_code == 403
        assert client.get(lb, params={"split": "private"}, headers=alpha).status_code == 403
        assert client.get(f"{lb}.csv", params={"split": "private"}).status_code == 403
        assert client.get(lb, params={"split": "private"}, headers=org).status_code == 200
        assert set(client.get(f"/api/v1/submissions/{uuid}", headers=alpha).json()["scores"]) == {
            "public"
        }
        # Crawl every GET route as a participant and anonymously: the truth never appears.
        polygon = re.search(rb'"(POLYGON \(\([^"]+)"', truth).group(1).decode()
        pages = [
            "/",
            f"/c/{arena.slug}",
            f"/c/{arena.slug}/teams/alpha",
            f"/s/{uuid}",
            "/openapi.json",
            f"{lb}",
            f"{lb}.csv",
            f"/api/v1/submissions/{uuid}",
            f"/api/v1/challenges/{arena.slug}/submissions",
        ]
        for headers in (alpha, {}):
            for page in pages:
                r = client.get(page, headers=headers)
                assert polygon not in r.text, page
                assert "truth.csv" not in r.text, page
        paths = client.get("/openapi.json").json()["paths"]
        assert not any("truth" in p and "get" in ops for p, ops in paths.items())  # upload only
        organizer = f"/api/v1/organizer/challenges/{arena.slug}"
        assert client.post(f"{organizer}/close", headers=org).status_code == 204
        assert client.post(f"{organizer}/reveal", headers=org).status_code == 204
        assert client.get(lb, params={"split": "private"}, headers=alpha).status_code == 200
        assert set(client.get(f"/api/v1/submissions/{uuid}", headers=alpha).json()["scores"]) == {
            "public",
            "private",
        }


def test_rate_limit_per_token(arena) -> None:
    with _client(arena, rate_limit_per_minute=5) as client:
        alpha = _auth(arena.tokens["alpha"])
        codes = [
            client.get(f"/api/v1/challenges/{arena.slug}/quota", headers=alpha).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        r = client.get(f"/api/v1/challenges/{arena.slug}/quota", headers=alpha)
        assert int(r.headers["retry-after"]) >= 1
        beta = client.get(
            f"/api/v1/challenges/{arena.slug}/quota", headers=_auth(arena.tokens["beta"])
        )
        assert beta.status_code == 200  # limits are per token


def test_oversized_upload_is_cut_off(arena) -> None:
    body = synthetic()[1] * 30  # far past the limit plus the multipart allowance
    with _client(arena, max_upload_bytes=1000) as client:

        def chunks():
            for i in range(0, len(body), 4096):
                yield body[i : i + 4096]

        r = client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers={**_auth(arena.tokens["alpha"]), "Content-Type": "text/csv"},
            content=chunks(),
        )
        assert r.status_code == 413
        assert "limit" in r.json()["detail"]
    assert _count(arena.db) == 0


def test_organizer_flow_over_http(db) -> None:
    truth, props = synthetic()
    raw = lb.issue_token(db, member="boss", role="organizer")
    org = _auth(raw)
    app = create_app(Settings(database_url=db.url, validate_in_processes=False), db, workers=0)
    with TestClient(app) as client:
        r = client.post(
            "/api/v1/organizer/challenges",
            headers=org,
            files={"file": ("truth.csv", truth)},
            data={
                "slug": "web",
                "title": "Web",
                "rules": "spacenet-utilities",
                "daily_limit": "none",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["ranking_metric"] == "f1"
        lb.add_team(db, slug="web", name="alpha")
        alpha = _auth(lb.issue_token(db, member="a", slug="web", team="alpha"))
        r = client.post(
            "/api/v1/organizer/challenges/web/baselines",
            headers=org,
            files={"file": ("b.csv", degrade(props, 0.5))},
            data={"label": "base"},
        )
        assert r.status_code == 202 and r.json()["baseline_label"] == "base"
        first = client.post(
            "/api/v1/challenges/web/submissions", headers=alpha, files={"file": ("a.csv", props)}
        ).json()
        Worker(db).run(exit_when_idle=True)
        r = client.put(
            "/api/v1/challenges/web/finals", headers=alpha, json={"submissions": [first["uuid"]]}
        )
        assert r.status_code == 200 and r.json()["selected"] == [first["uuid"]]
        board = client.get("/api/v1/challenges/web/leaderboard").json()
        assert [row["team"] for row in board["rows"]] == ["alpha"]
        assert board["baselines"][0]["rank"] is None
        assert "earlier submission" in board["rule"]
        rescore = "/api/v1/organizer/challenges/web/rescore"
        for request in (
            {"json": {"reason": "same truth, same split"}},
            {"files": {"file": ("truth2.csv", truth)}, "data": {"reason": "truth re-uploaded"}},
        ):
            route = rescore if "json" in request else f"{rescore}/truth"
            r = client.post(route, headers=org, **request)
            assert r.status_code == 202, r.text
            run = r.json()["id"]
            Worker(db).run(exit_when_idle=True)
            state = client.get(f"/api/v1/organizer/rescores/{run}", headers=org).json()
            assert state["status"] == "ready" and state["changes"]
            assert all(c["old_rank"] == c["new_rank"] for c in state["changes"])
            published = client.post(f"/api/v1/organizer/rescores/{run}/publish", headers=org)
            assert published.status_code == 204
        csv_text = client.get("/api/v1/organizer/challenges/web/export.csv", headers=org).text
        assert csv_text.splitlines()[1].startswith("1,alpha,")
        spec = client.get("/openapi.json").json()
        assert "/api/v1/challenges/{slug}/submissions" in spec["paths"]
        assert perfect(truth)  # the helper stays valid for the synthetic truth


def test_pages_login_quota_and_errors(arena) -> None:
    _, props = synthetic()
    with _client(arena) as client:
        r = webforms.login(client, "ga_nope_nope")
        assert r.status_code == 401 and "invalid token" in r.text
        r = webforms.login(client, arena.tokens["alpha"], next="//evil.com")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        client.post(
            f"/api/v1/challenges/{arena.slug}/submissions",
            headers=_auth(arena.tokens["alpha"]),
            files={"file": ("p.csv", props)},
        )
        page = client.get(f"/c/{arena.slug}/teams/alpha").text
        assert "<strong>2</strong> submissions left (1 of 3 used today" in page
        assert "#1 in queue" in page
        assert client.get(f"/c/{arena.slug}/teams/beta").status_code == 403
        assert client.get("/c/nope").status_code == 404
        assert client.get(f"/c/{arena.slug}?split=private").status_code == 403
        client.post("/logout", data={"csrf_token": webforms.csrf_token(client, "/")})
        assert client.get(f"/c/{arena.slug}/teams/alpha").status_code == 403


def test_a_limit_too_large_to_store_is_refused_and_changes_nothing(arena) -> None:
    """PostgreSQL stores limits as 32-bit integers: a larger one (found by the contract
    test) was a server error; it is a 422 naming the field, and the phase is unchanged."""
    route = f"/api/v1/organizer/challenges/{arena.slug}/phases/main"
    org = _auth(arena.organizer_token)
    with _client(arena) as client:
        for too_large in (2**65, MAX_LIMIT + 1, "1234567890"):
            r = client.put(route, headers=org, json={"total_limit": too_large})
            assert r.status_code == 422, r.text
            assert "total_limit" in r.text
        r = client.put(route, headers=org, json={"total_limit": MAX_LIMIT})
        assert r.status_code == 200, r.text
        assert r.json()["total_limit"] == MAX_LIMIT
        r = client.put(route, headers=org, json={"total_limit": 5})
        assert r.json()["total_limit"] == 5


def test_text_with_a_nul_character_is_refused_on_every_engine(arena) -> None:
    """PostgreSQL cannot store NUL in text (the driver raised: a server error) and SQLite
    stored it: both now answer 422 naming the field, and nothing is written."""
    org = _auth(arena.organizer_token)
    with _client(arena) as client:
        r = client.post(
            f"/api/v1/organizer/challenges/{arena.slug}/rescore",
            headers=org,
            json={"reason": "evaluator\x000.3"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["problems"][0]["column"] == "reason"
        assert client.get("/api/v1/challenges/a%00b/leaderboard").status_code == 422
    assert rescore_ids(arena.db, slug=arena.slug) == []
