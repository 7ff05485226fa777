# The README's two commands: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo venv node lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# cdktf-cli (pinned, from package-lock.json) into ./node_modules, for the end-to-end `cdktf deploy` tests
node:
	bash scripts/setup-cdktf.sh

test: $(STAMP) node
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(VENV)/bin/tocsin test tests/scenarios/

demo: $(STAMP)
	bash scripts/demo.sh

bench: $(STAMP)
	$(PY) bench/evaluator.py

clean:
	rm -rf $(VENV) node_modules .tf-plugins cdktf.out .demo
