"""Challenge hosting: a SQL-backed leaderboard with teams, tokens, phases, quotas,
public/private splits, scoring workers, an HTTP API, web pages and a CLI.

Kept import-light (the CLI imports it on ``geoarena --help``): use the submodules,
``geoarena.leaderboard.service`` for the operations and ``geoarena.leaderboard.api`` for
the FastAPI app.
"""
