"""Filling the site's forms from a test client: every form carries a CSRF token that is
read from the page the form is on, as a browser would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_token(client: TestClient, page: str = "/login") -> str:
    """The form token of ``page`` (fetching it also sets the browser's CSRF cookie)."""
    match = _TOKEN.search(client.get(page).text)
    assert match, f"no form token on {page}"
    return match.group(1)


def login(client: TestClient, token: str, **kwargs):
    """Post the login form as a browser would; returns the response."""
    data = {"token": token, "csrf_token": csrf_token(client), **kwargs}
    return client.post("/login", data=data, follow_redirects=False)
