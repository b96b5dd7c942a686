"""Reading the pages' posted forms: the CSRF check first, then text fields and the phase
fields, validated by the same models as the API's JSON (forms have no null and no
numbers, so a blank field means "not set")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.datastructures import FormData
from pydantic import ValidationError

from geoarena.errors import InvalidInput, invalid_input_from
from geoarena.leaderboard.phases import PhaseChange, blank_is_none
from geoarena.leaderboard.web import csrf

#: the phase form's fields that are times (``datetime-local`` inputs, read as UTC).
TIMES = ("opens_at", "closes_at", "finals_until")
#: its count fields (a number, ``none`` for unlimited, blank for "keep").
COUNTS = ("daily_limit", "total_limit", "concurrent_limit", "final_selections")


async def checked_form(request: Request, *, files: int = 0, fields: int = 100) -> FormData:
    """The posted form (at most ``files`` files and ``fields`` fields), once its CSRF
    token is checked."""
    form = await request.form(max_files=files, max_fields=fields)
    csrf.check(request, form.get(csrf.FIELD))
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def utc_time(value: str) -> datetime:
    """A ``datetime-local`` value (or any ISO time), UTC unless it names its zone."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def phase_change(form: FormData) -> PhaseChange:
    """The phase fields filled in (blank: keep), validated like the API's."""
    fields: dict[str, Any] = {}
    try:
        for name in TIMES:
            if text(form, name):
                fields[name] = utc_time(text(form, name))
    except ValueError as exc:
        raise InvalidInput.about(f"not a time: {exc}", column=name) from None
    for name in COUNTS:
        if text(form, name):
            fields[name] = blank_is_none(text(form, name))
    if text(form, "late_policy"):
        fields["late_policy"] = text(form, "late_policy")
    try:
        return PhaseChange.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input_from(exc, file="phase form") from None
