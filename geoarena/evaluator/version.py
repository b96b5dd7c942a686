"""The scoring code's version."""

#: bumped whenever a change can alter a score; leaderboards store it with every score and
#: offer a rescore when it changes.
EVALUATOR_VERSION = "1.0.1"
