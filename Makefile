# voicecenter: `make run` runs the demo server, `make test` runs every test.
# Both start with `make setup`, which installs what they need and is idempotent.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3 python3-venv python3-dev gcc kamailio kamailio-sqlite-modules graphviz \
	kamailio-extra-modules kamailio-websocket-modules kamailio-tls-modules mosquitto sip-tester baresip \
	espeak-ng sox ffmpeg sqlite3 chromium rtpengine-daemon
STAMP := $(VENV)/.installed
# Browser libraries (JsSIP) from package-lock.json, bundled for /ui/vendor/.
NPM_STAMP := node_modules/.installed
VENDOR_JS := voicecenter/web/vendor/jssip.min.js

.PHONY: setup run test lint bench clean apt

setup: apt $(STAMP) $(VENDOR_JS)

# Installs only what is missing, so a second run costs one dpkg query.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
		echo "voicecenter runs its own Kamailio and Mosquitto: stopping the distribution's services"; \
		$$SUDO systemctl disable --now kamailio mosquitto >/dev/null 2>&1 || true; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# npm ci only when the lock changed (it empties node_modules first, stamp included).
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q nodejs npm; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENDOR_JS): $(NPM_STAMP)
	npm run --silent vendor

run: setup
	$(VENV)/bin/voicecenter serve

test: setup
	$(VENV)/bin/ruff check voicecenter tests bench
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: setup
	$(VENV)/bin/ruff check voicecenter tests bench

bench: setup
	bench/calls

clean:
	rm -rf var .pytest_cache
