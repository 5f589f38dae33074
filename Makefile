# Two commands do everything: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run index test lint screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch pulls several GB of GPU packages.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(BIN)/python -m bot index

# Index first: only what changed is embedded (about a second when nothing did); exit code 1 means
# some document could not be read (the report names it), which should not stop the chat.
run: $(STAMP)
	$(BIN)/python -m bot index || test $$? -eq 1
	$(BIN)/python -m bot serve

# Lint, types and layers: ruff, mypy on bot/, then import-linter's contracts (the dependency
# direction between bot/'s sub-packages, no import cycles); all configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check bot tests app.py scripts
	$(BIN)/mypy bot
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
