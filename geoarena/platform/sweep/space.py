"""The search space: one parameter type per kind of range, each able to ask Optuna.

Names of parameters are training-config fields as users write them (``lr``,
``t_energy``, ``crop_scale.1`` for one element of a tuple field); the mapping onto a
config is ``geoarena.platform.sweep.trial_params``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

import optuna
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: what a parameter can take.
ParamValue = bool | int | float | str


class Strict(BaseModel):
    """A section of the sweep file: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Range(Strict):
    """What the numeric ranges share: the checks of ``low``, ``high``, ``log``, the bounds."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_range(self.low, self.high, self.log)
        if self.log and self.stepped:
            raise ValueError("step cannot be combined with log")
        return self

    @property
    def stepped(self) -> bool:
        """Whether values are restricted to steps (which log-uniform ranges cannot be)."""
        raise NotImplementedError

    def bounds(self) -> list[ParamValue]:
        return [self.low, self.high]


class FloatParam(_Range):
    """Uniform float in ``[low, high]`` (log-uniform with ``log: true``; ``step`` discretises)."""

    type: Literal["float"]
    step: float | None = Field(None, gt=0)

    @property
    def stepped(self) -> bool:
        return self.step is not None

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


class LogParam(FloatParam):
    """Shorthand for ``{type: float, log: true}``: learning rates, weight decay."""

    type: Literal["log"]  # type: ignore[assignment]
    log: bool = True

    @model_validator(mode="after")
    def _forced_log(self) -> LogParam:
        if not self.log:
            raise ValueError("type 'log' is always log-uniform; use type 'float' instead")
        return self


class IntParam(_Range):
    """Integer in ``[low, high]`` with ``step`` (or log-uniform)."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)

    @property
    def stepped(self) -> bool:
        return self.step != 1

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (self.log or (value - self.low) % self.step == 0)
        )


class CategoricalParam(Strict):
    """One of ``choices`` (numbers, strings, booleans)."""

    type: Literal["categorical"]
    choices: list[ParamValue] = Field(min_length=1)

    def suggest(self, trial: optuna.Trial, name: str) -> ParamValue:
        value = trial.suggest_categorical(name, self.choices)
        assert value is not None  # one of the choices, and null is not a valid choice
        return value

    def bounds(self) -> list[ParamValue]:
        return list(self.choices)

    def contains(self, value: object) -> bool:
        return value in self.choices


Param = Annotated[FloatParam | LogParam | IntParam | CategoricalParam, Field(discriminator="type")]


def check_range(low: float, high: float, log: bool) -> None:
    """Refuse an empty range, and a log range that reaches zero."""
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0, got {low}")


__all__ = [
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "LogParam",
    "Param",
    "ParamValue",
    "Strict",
    "check_range",
]
