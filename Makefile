# The two commands a newcomer needs: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUN_ENV := DEBUG=$${DEBUG:-1}

.PHONY: run test install install-dev migrate seed lint format bench reliability clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Reinstall only when a requirements file changed.
$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput

seed: migrate
	$(RUN_ENV) $(PY) manage.py seed_demo

run: seed
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v 0
	$(RUN_ENV) VENV=$(VENV) bin/serve

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install-dev lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

reliability: install-dev
	$(VENV)/bin/pytest -m reliability $(PYTEST_ARGS)

bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf var staticfiles
