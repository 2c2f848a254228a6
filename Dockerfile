# syntax=docker/dockerfile:1
# agent-sidecar in one image: the sidecar (`sidecar run`, reading /etc/sidecar/sidecar.yaml),
# the Kubernetes injector (`python -m sidecar.inject serve`) and the egress lock (iptables).
#
#   docker build -t agent-sidecar:0.1.0 .
#   docker build --build-arg WITH_MODELS=true -t agent-sidecar:0.1.0-llm .   # + llama.cpp, ~8 min
#
# The compiler needed for llama.cpp stays in the build stage; the final stage gets the finished
# virtual environment, runs as uid 10001 and works with a read-only root filesystem.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG WITH_MODELS=false
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN if [ "$WITH_MODELS" = "true" ]; then \
        apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar sidecar
COPY connectors connectors
COPY accelerators accelerators
COPY policies policies
# GGML_NATIVE=OFF: a llama.cpp that runs on any x86-64 CPU with AVX2, not only the builder's.
RUN if [ "$WITH_MODELS" = "true" ]; then \
        CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install '.[llm]'; \
    else \
        pip install .; \
    fi

FROM ${PYTHON_IMAGE}
ARG WITH_MODELS=false
# iptables: the egress lock's init container; libgomp1: llama.cpp's OpenMP threads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iptables \
        $(if [ "$WITH_MODELS" = "true" ]; then echo libgomp1; fi) \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 sidecar \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/sidecar --no-create-home \
        --shell /usr/sbin/nologin sidecar \
    && mkdir -p /etc/sidecar /var/lib/sidecar \
    && chown 10001:10001 /var/lib/sidecar
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/sidecar \
    SIDECAR_CONFIG=/etc/sidecar/sidecar.yaml
WORKDIR /var/lib/sidecar
USER 10001:10001
EXPOSE 8090 50051 15432
HEALTHCHECK CMD ["python", "-m", "sidecar.inject.probe", "http://127.0.0.1:8090/health"]
ENTRYPOINT ["sidecar"]
CMD ["run"]
