# The README's two commands. Both work on a fresh machine with Python >= 3.11.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install browsers

# Install everything and run the whole pipeline end to end on embedded defaults
# (synthetic data, CPU, local SQLite leaderboard, local MLflow SQLite store).
demo: install
	$(VENV)/bin/geoarena demo

# Install everything and run the whole test suite.
test: install browsers
	$(PY) -m pytest

install:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'

# Headless Chromium for the leaderboard page tests (Debian packages).
browsers:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
