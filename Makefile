# babyllama: `make demo` trains the quickstart story model on the built-in corpus; `make test` runs the tests.
# Both set up a virtual environment in .venv first (torch is pinned so pip takes the local CPU wheel).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0
RUN     ?= runs/quickstart
DATA    ?= data/quickstart

.PHONY: setup demo test test-all bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)" || $(BIN)/pip install -q "torch>=2.11"
	$(BIN)/pip install -q -e ".[dev,eval]"
	touch $@

# Built-in stories -> SentencePiece tokenizer + token shards -> ~1M-param Llama -> samples.
demo: setup
	$(BIN)/babyllama prepare --source builtin --out $(DATA) --vocab-size 1024 --overwrite
	$(BIN)/babyllama pretrain --config recipes/quickstart.toml --overwrite train.run_dir=$(RUN) data.data_dir=$(DATA)
	$(BIN)/babyllama sample $(RUN)/model --num-samples 3 --prompt "Once upon a time" --max-new-tokens 200

test: setup
	$(BIN)/python -m pytest -x

bench: setup
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) runs data
