# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install bytecode bench eval clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# pip compiles what it installs, but an editable install leaves our own modules as source,
# and with PYTHONDONTWRITEBYTECODE set (as on some CI machines) every process (CLI, crawl
# child, NLP fork server) recompiled them on every run: ~0.5 s of CPU per crawl. Stale
# files are harmless: Python checks each against its source and recompiles in memory.
bytecode:
	$(BIN)/python -m compileall -q crawler nlp alerts newsradar scheduler.py

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/newsradar demo

test: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

bench: $(STAMP) bytecode
	$(BIN)/python bench/run.py

eval: $(STAMP)
	$(BIN)/newsradar eval extraction
	$(BIN)/newsradar eval detection

clean:
	rm -rf $(VENV) newsradar-demo *.egg-info
