# The two targets a newcomer needs: `make demo` and `make test`.
# Each one installs what it needs on a fresh Debian machine by itself.
# `make screenshots` refreshes docs/screenshots (the tests write theirs to a temporary
# directory, so `make test` leaves the tree clean).

SHELL := /bin/bash
# Debian's own interpreter where there is one: built with profile-guided and link-time
# optimisation and libpython linked in, which a python3 first on PATH (a pyenv build,
# say) may not be — the attestation service costs less CPU on it (bench/RESULTS.md).
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV := .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := python3-venv pcscd vsmartcard-vpcd libpcsclite-dev swig postgresql chromium chromium-driver eapoltest hostapd systemd kamailio kamailio-ims-modules kamailio-presence-modules stunnel4

.PHONY: demo test screenshots

demo: $(VENV)/.installed
	$(PY) -m server.demo

test: $(VENV)/.installed .wheelhouse/.built
	$(VENV)/bin/ruff check hw attest server tests bench vulture_whitelist.py
	$(VENV)/bin/vulture
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q

# The browser tests that take the desk screenshots the README shows.
SCREENSHOT_TESTS := tests/test_web_auth.py tests/test_web_desk.py tests/test_web_provisioning.py tests/test_web_access.py

screenshots: $(VENV)/.installed
	SIMATTEST_SCREENSHOTS=docs/screenshots $(VENV)/bin/pytest -q $(SCREENSHOT_TESTS)

.debian-packages: Makefile
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing Debian packages; run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi
	@touch $@

# The dependencies as wheels, for tests/test_wheel.py to install offline into a fresh
# virtualenv beside the wheel it builds.
.wheelhouse/.built: pyproject.toml $(VENV)/.installed
	mkdir -p .wheelhouse
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > .wheelhouse/requirements.txt
	$(PY) -m pip wheel -q -w .wheelhouse -r .wheelhouse/requirements.txt
	@touch $@

$(VENV)/.installed: pyproject.toml .debian-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@
