"""geoarena: polygon-detection challenges on satellite imagery.

Subpackages: ``evaluator`` (standalone scorer), ``leaderboard`` (challenge hosting),
``models`` (the DeepGlobe building detector) and ``platform`` (Optuna sweeps + MLflow).
Importing this package imports none of them, so ``geoarena --help`` stays instant.
"""

__version__ = "0.1.0"
