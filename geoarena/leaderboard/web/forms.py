"""Reading the pages' posted forms: the CSRF check first, then text fields and the phase
fields, read and validated by the same model as the API's JSON (a form has no null, so
a blank field means "not set")."""

from __future__ import annotations

from fastapi import Request
from fastapi.datastructures import FormData
from pydantic import ValidationError

from geoarena.errors import invalid_input_from
from geoarena.leaderboard.phases import PhaseChange
from geoarena.leaderboard.web import csrf

#: the phase form's fields: ``datetime-local`` times (UTC, as the model reads a time
#: without a zone), counts (a number, or ``none`` for unlimited) and the late policy.
PHASE_FIELDS = (
    "opens_at",
    "closes_at",
    "finals_until",
    "daily_limit",
    "total_limit",
    "concurrent_limit",
    "final_selections",
    "late_policy",
)


async def checked_form(request: Request, *, files: int = 0, fields: int = 100) -> FormData:
    """The posted form (at most ``files`` files and ``fields`` fields), once its CSRF
    token is checked."""
    form = await request.form(max_files=files, max_fields=fields)
    csrf.check(request, form.get(csrf.FIELD))
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def phase_change(form: FormData) -> PhaseChange:
    """The phase fields filled in (blank: keep), read and validated by the API's model."""
    fields = {name: text(form, name) for name in PHASE_FIELDS if text(form, name)}
    try:
        return PhaseChange.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input_from(exc, file="phase form") from None
