# The README's two commands: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-cdktn demo venv node lint bench bytecode clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Bytecode for the editable source tree, as `pip install` writes for an installed package: with
# PYTHONDONTWRITEBYTECODE set (CI images often set it) every start would compile it again (~0.2 s of a cold start).
# Only changed files are compiled again.
bytecode: $(STAMP)
	$(PY) -m compileall -q src/tocsin

# cdktf-cli (pinned, from package-lock.json) into ./node_modules, for the end-to-end `cdktf deploy` tests
node:
	bash scripts/setup-cdktf.sh

# The constructs again on cdktn, the maintained fork of cdktf, in a venv of their own (no cdktf there).
CDKTN_VENV := .venv-cdktn
$(CDKTN_VENV)/.installed: pyproject.toml
	test -x $(CDKTN_VENV)/bin/python || $(PYTHON) -m venv $(CDKTN_VENV)
	$(CDKTN_VENV)/bin/python -m pip install -q --upgrade pip
	$(CDKTN_VENV)/bin/python -m pip install -q 'cdktn==0.24.0' 'constructs>=10.3,<11' pytest hypothesis \
		'pydantic>=2.7,<3' pyyaml 'jinja2>=3.1.4' requests httpx cryptography
	$(CDKTN_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

test-cdktn: $(CDKTN_VENV)/.installed
	TOCSIN_CDK=cdktn $(CDKTN_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not e2e" \
		tests/constructs tests/test_readme.py

test: bytecode node
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-cdktn
	$(VENV)/bin/tocsin test tests/scenarios/

demo: bytecode
	bash scripts/demo.sh

bench: bytecode
	$(PY) bench/evaluator.py

clean:
	rm -rf $(VENV) $(CDKTN_VENV) node_modules .tf-plugins cdktf.out .demo
