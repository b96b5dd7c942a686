"""CSRF protection of every form: a signed double-submit token.

A browser gets a random nonce in an HttpOnly cookie; each form carries
``HMAC(key, nonce, login)`` in a hidden field. A forged form on another site can make the
browser send the cookies, but cannot read them nor compute the field, and a token is bound
to the login it was rendered for (logging in or out makes the old forms stale). Checking is
the first thing each form handler does with the submitted fields (:func:`check`); a test
walks every form route of the app and expects a refusal without the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from markupsafe import Markup

from geoarena.errors import Forbidden
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.web.cookies import LOGIN_COOKIE, set_cookie

NONCE_COOKIE = "geoarena_csrf"
FIELD = "csrf_token"


class Signer:
    """Computes and checks form tokens with one key (``Settings.secret_key``, or a key this
    process drew at start)."""

    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key else secrets.token_bytes(32)

    def token(self, nonce: str, login: str | None) -> str:
        login_hash = hashlib.sha256((login or "").encode()).hexdigest()
        message = f"{nonce}\x00{login_hash}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def valid(self, submitted: str, nonce: str, login: str | None) -> bool:
        return hmac.compare_digest(submitted.encode(), self.token(nonce, login).encode())


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.csrf
    return signer


def nonce(request: Request) -> str:
    """This browser's nonce: its cookie's, or a new one that :func:`remember` will set."""
    value = request.cookies.get(NONCE_COOKIE) or getattr(request.state, "csrf_nonce", None)
    if not value:
        value = secrets.token_urlsafe(24)
        request.state.csrf_nonce = value
    return value


def field(request: Request) -> Markup:
    """The hidden input every form of a page carries."""
    token = _signer(request).token(nonce(request), request.cookies.get(LOGIN_COOKIE))
    return Markup(f'<input type="hidden" name="{FIELD}" value="{token}">')


def remember(request: Request, response: Response, settings: Settings) -> None:
    """Set the nonce cookie when this request drew a new nonce."""
    drawn = getattr(request.state, "csrf_nonce", None)
    if drawn and not request.cookies.get(NONCE_COOKIE):
        set_cookie(response, request, settings, NONCE_COOKIE, drawn)


def check(request: Request, submitted: object) -> None:
    """Refuse a form whose token is missing or was not made for this browser and login."""
    cookie = request.cookies.get(NONCE_COOKIE)
    if (
        not isinstance(submitted, str)
        or not cookie
        or not _signer(request).valid(submitted, cookie, request.cookies.get(LOGIN_COOKIE))
    ):
        raise Forbidden(
            "this form expired or was not sent from this site (CSRF check): reload the "
            "page and send it again"
        )
