# fancommunity: two commands. `make run` starts the embedded stack, `make test` checks everything.
# Everything runs from .venv, created on first use from pinned requirements.

SHELL := /bin/bash
# The first Python 3.11+ on PATH (python3, then python3.13 ... python3.11).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run run-sandbox test lint check test-sqlite test-postgres bench screenshots demo-reset clean help

help:
	@echo "make run    - start web + task workers on SQLite with demo data"
	@echo "make test   - lint, checks, the suite on SQLite and on a throwaway PostgreSQL, browser tests"
	@echo "make screenshots - the main pages at laptop and phone size into docs/screenshots/"
	@echo "make bench  - benchmarks on a throwaway PostgreSQL; figures to BENCHMARKS.md (ONLY=bench_send runs one)"

$(PY):
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-runtime

# Web server + task cluster + priority cluster under honcho (Procfile.dev). Ctrl-C or SIGTERM: honcho
# stops every process and waits for them. PUBLIC_BASE_URL follows PORT unless set: honcho gives each
# Procfile line its own PORT (+100 a line), so it is fixed here once for all three.
run: $(VENV)/.installed-runtime
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_demo
	@echo ""
	@echo "  fancommunity is starting (SQLite, django-q2 ORM broker, console SMS and email backends)"
	@echo "  Console:  http://$(HOST):$(PORT)/admin/   login: owner / fancommunity-demo"
	@echo "  Join:     http://$(HOST):$(PORT)/join/demo/"
	@echo "  Play a fan (another terminal):"
	@echo "            PORT=$(PORT) $(PY) manage.py sms_in --from +14155552671 --to +15005550006 hi"
	@echo "  Texts the system sends and mails (invites, password resets) print below. Ctrl-C stops everything."
	@echo ""
	@export PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) PORT=$(PORT) \
		PUBLIC_BASE_URL="$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}" PYTHONUNBUFFERED=1; \
	exec $(VENV)/bin/honcho -f Procfile.dev start -p $(PORT)

# The same stack sending through the real twilio SDK to the local sandbox (a labelled stand-in for
# Twilio: it keeps a ledger and sends signed status callbacks back to the app).
run-sandbox: $(VENV)/.installed-runtime
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_demo
	@echo ""
	@echo "  fancommunity with the Twilio sandbox on http://127.0.0.1:8799 (ledger: sandbox-ledger.jsonl)"
	@echo "  Console:  http://$(HOST):$(PORT)/admin/   login: owner / fancommunity-demo"
	@echo ""
	@export SMS_BACKEND=twilio TWILIO_API_BASE_URL=http://127.0.0.1:8799 PUBLIC_BASE_URL=http://$(HOST):$(PORT); \
	trap 'kill 0' INT TERM; \
	$(PY) manage.py twilio_sandbox --port 8799 --latency-ms 20 --ledger sandbox-ledger.jsonl & \
	$(PY) manage.py qcluster & \
	Q_CLUSTER_NAME=priority $(PY) manage.py qcluster & \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	wait

# Types: mypy with django-stubs over the domain code (models, services, the sending engine).
TYPED := messaging/sending messaging/sms messaging/campaigns/models.py messaging/campaigns/services.py \
	messaging/campaigns/render.py messaging/campaigns/scheduling.py messaging/campaigns/queue.py \
	messaging/audience/models.py messaging/audience/services.py messaging/audience/rules.py \
	messaging/audience/segments.py messaging/audience/imports.py messaging/audience/import_rows.py messaging/audience/import_staging.py messaging/audience/exports.py messaging/audience/list_csv.py \
	messaging/conversations/inbound.py messaging/conversations/store.py messaging/conversations/priority.py messaging/conversations/lane.py \
	messaging/conversations/reconsent.py messaging/privacy accounts/models.py accounts/services.py \
	accounts/phones.py accounts/tokens.py accounts/permissions.py accounts/audit.py accounts/profile.py accounts/team.py \
	consent/models.py consent/services.py consent/keywords.py consent/texts.py \
	messaging/conversations/models.py messaging/conversations/services.py messaging/conversations/inbox.py \
	messaging/conversations/figures.py messaging/conversations/polls.py messaging/conversations/themes.py \
	messaging/conversations/assignment.py messaging/conversations/hours.py messaging/conversations/media.py messaging/conversations/digest.py \
	messaging/console/dashboard.py messaging/console/rollup.py messaging/console/models.py messaging/console/charts.py \
	fancommunity/health.py fancommunity/metrics.py fancommunity/logs.py fancommunity/backups.py fancommunity/middleware.py \
	accounts/api_tokens.py accounts/outbox.py accounts/webhook_delivery.py accounts/integration_models.py \
	accounts/pumping.py accounts/two_factor.py fancommunity/netguard.py fancommunity/logfilters.py fancommunity/security.py \
	accounts/actors.py
TYPED += messaging/automations/series.py messaging/automations/dates.py messaging/automations/occurrences.py \
	messaging/automations/series_models.py messaging/automations/joins.py
TYPED += fancommunity/webhooks_out/endpoints.py accounts/stop_notices.py
TYPED += messaging/campaigns/estimates.py messaging/campaigns/planning.py messaging/campaigns/reports.py messaging/campaigns/trial_send.py messaging/console/home_all.py
TYPED += fancommunity/api_v1/automations.py
TYPED += messaging/automations/keywords.py messaging/automations/drops.py messaging/automations/replies.py \
	messaging/automations/sql.py messaging/automations/privacy.py messaging/automations/keyword_models.py \
	messaging/automations/drop_models.py messaging/automations/drop_joins.py
TYPED += messaging/conversations/handling.py messaging/conversations/replying.py messaging/conversations/thread.py
TYPED += messaging/conversations/lane_record.py
TYPED += messaging/automations/codes.py messaging/automations/fan_drops.py
TYPED += messaging/conversations/lane_links.py messaging/conversations/stop.py

# axe-core for the console's accessibility test (pinned in package-lock.json; no CDN).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)

check: $(VENV)/.installed-dev
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

# Each suite in two calls (docs/ARCHITECTURE.md, "Test suite in parallel"): everything not marked
# serial on pytest-xdist workers (one per core, at most 4; each has its own test database), then
# the serial tests (tests/reliability, tests/e2e; marked by path in tests/conftest.py) alone.
# worksteal: an idle worker takes queued tests from a busy one, so a few slow files do not leave
# one core idle at the end. PYTEST_WORKERS=0 runs the first call without xdist too.
PYTEST_WORKERS ?= auto
XDIST := -n $(PYTEST_WORKERS) --maxprocesses=4 --dist worksteal

test-sqlite: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m "not e2e and not serial" $(XDIST)
	$(PY) -m pytest -q -m "not e2e and serial"

# The full suite again on a private PostgreSQL server that tests/pgtemp.py starts and removes.
test-postgres: $(VENV)/.installed-dev node_modules/.installed
	$(PY) -m tests.pgtemp -- $(PY) -m pytest -q -m "not serial" $(XDIST)
	$(PY) -m tests.pgtemp -- $(PY) -m pytest -q -m serial

test: lint check test-sqlite test-postgres

bench: $(VENV)/.installed-dev
	$(PY) -m tests.pgtemp --durable -- $(PY) -m bench.run $(ONLY)

# The main pages at a laptop's and a phone's size into docs/screenshots/ (the README shows two).
screenshots: $(VENV)/.installed-dev
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/screenshots.py

demo-reset:
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm

clean: demo-reset
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles test.sqlite3*
