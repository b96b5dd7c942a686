"""``geoarena compare``: two proposal files against one truth, with a paired bootstrap
over images (is A better than B, or is the gap noise?)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoarena.cli import exit_on_error

from .cli_options import (
    Georeferenced,
    georeferenced_options,
    refuse_prepared,
    rule_options,
    rules_from,
)
from .compare import Comparison, Difference, compare
from .errors import InputError
from .io import DEFAULT_MAX_BYTES, read_truth
from .metrics import MAX_REPLICATES, Metric
from .outputs import check_writable, write_atomically
from .parallel import score_files
from .prepared import PreparedTruth
from .report import crs_name, submission_warnings
from .rules import Rules
from .stored import is_prepared
from .table import DEFAULT_MAX_VERTICES
from .text_tables import TextTable


@click.command("compare")
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("a", metavar="A", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", metavar="B", type=click.Path(dir_okay=False, path_type=Path))
@rule_options
@georeferenced_options
@click.option(
    "--metric",
    type=click.Choice([m.value for m in Metric]),
    default=None,
    help="Overall metric compared (default: the preset's headline).",
)
@click.option(
    "--replicates", type=click.IntRange(1, MAX_REPLICATES), default=1000, show_default=True,
    help="Paired bootstrap replicates.",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
    show_default=True, help="Confidence level of the intervals and of significance.",
)  # fmt: skip
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the comparison as JSON ('-': standard output, no table).",
)  # fmt: skip
def compare_command(
    truth: Path,
    a: Path,
    b: Path,
    preset: str,
    metric: str | None,
    replicates: int,
    seed: int,
    level: float,
    json_out: Path | None,
    **knobs: object,
) -> None:
    """Is submission A better than B on TRUTH, or is the gap noise?

    Scores both against TRUTH (a CSV, a georeferenced file as `geoarena score` reads
    them, or a truth stored by `geoarena prepare` under the same rules), then a paired
    bootstrap over images (stratified by city) gives A - B overall and per city with its
    interval and two-sided p-value. Exit code 0 whatever the verdict, 2 on bad input.
    """
    geo = Georeferenced.pop(knobs)
    rules = rules_from(preset, knobs)
    json_file = None if json_out is None or str(json_out) == "-" else json_out
    crs = None
    with exit_on_error():
        if json_file is not None:
            check_writable(json_file, "--json")
        refuse_prepared([a, b], "given as a submission (the order is TRUTH A B)")
        if is_prepared(truth):
            stored, rules, crs = geo.stored_truth(
                truth, rules, index="grid", max_bytes=DEFAULT_MAX_BYTES
            )
            # the truth loaded once; each file's proposals scored on every core
            submissions = [
                geo.proposals_for(
                    stored, crs, truth, path, on_error="raise", max_vertices=DEFAULT_MAX_VERTICES
                )
                for path in (a, b)
            ]
            scores = [score_files(stored, side, rules) for side in submissions]
        elif geo.applies(truth, a) or geo.applies(truth, b):
            (pair_a, pair_b), rules = geo.read(
                truth, [a, b], rules, on_error="raise", max_vertices=DEFAULT_MAX_VERTICES
            )
            if pair_a.crs != pair_b.crs:  # one reprojected, the other not: no common frame
                raise InputError.about(f"A and B are in different CRSs ({a}, {b})", file=str(b))
            crs = pair_a.crs
            # each on every core, the workers taking their images' rows of both tables
            scores = [score_files(pair.truth, pair.proposals, rules) for pair in (pair_a, pair_b)]
        else:
            # the truth parsed once; each file's proposals parsed and scored on every core
            prepared = PreparedTruth(read_truth(truth), rules)
            scores = [score_files(prepared, path, rules) for path in (a, b)]
    for path, scored in zip((a, b), scores, strict=True):
        for warning in submission_warnings(scored):
            click.echo(f"warning: {path}: {warning}", err=True)
    result = compare(
        scores[0].images,
        scores[1].images,
        metric=Metric(metric) if metric else rules.headline,
        replicates=replicates,
        seed=seed,
        level=level,
        cities=(scores[0].cities, scores[1].cities),
    )
    if json_out is None or json_file is not None:
        click.echo(_render_comparison(result, a.name, b.name, rules))
    if json_out is not None:
        # crs: the units of the area filters the rules record
        where = {"a": str(a), "b": str(b), "crs": None if crs is None else crs_name(crs)}
        text = json.dumps({**where, "rules": rules.to_dict(), **result.to_dict()}, indent=2)
        if json_file is not None:
            with exit_on_error():
                write_atomically(json_file, (text + "\n").encode(), "--json")
        else:
            click.echo(text)


def _render_comparison(result: Comparison, a: str, b: str, rules: Rules) -> str:
    """One row per city (its F1) and one for the overall metric: A, B, A - B with its
    interval and p-value, and the verdict (the better side, or a tie)."""
    table = TextTable(
        f"geoarena compare: A = {a}, B = {b}",
        ["city", "A", "B", "A - B", f"{result.level:.0%} CI", "p", "verdict"],
        caption=f"{rules.name} rules, {result.images} images, {result.replicates} paired"
        f" replicates; cities: F1, overall: {result.metric.label}",
    )

    def row(name: str, d: Difference) -> None:
        verdict = ("A" if d.delta > 0 else "B") if d.significant(result.level) else "tie"
        interval = f"[{d.low:+.3f}, {d.high:+.3f}]"
        cells = (f"{d.a:.4f}", f"{d.b:.4f}", f"{d.delta:+.4f}", interval, f"{d.p_value:.4f}")
        table.add_row(name, *cells, verdict)

    for city, d in result.cities.items():
        row(city, d)
    table.add_rule()
    row("overall", result.overall)
    return table.render()
