"""Configured models: where their .gguf comes from, loading them, and their state.

llama-cpp-python is an optional extra (it compiles llama.cpp, about 8 minutes), so it is
imported only when a model is configured, and its absence is a model in the `error` state with
the install command, shown at start-up, in /v1/status and /v1/models and in every request to
that model, while SQL keeps working. Models load in the background like datasets; requests
wait for a model still loading.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sidecar.config import Model
from sidecar.llm import convert
from sidecar.llm.errors import OpenAIError
from sidecar.llm.queue import ModelQueue
from sidecar.llm.stopping import stoppable
from sidecar.llm.windows import embed_whole

log = logging.getLogger("sidecar.llm")
INSTALL_HINT = (
    "install the llm extra: pip install 'agent-sidecar[llm]' "
    '(it compiles llama.cpp; set CMAKE_ARGS="-DGGML_NATIVE=OFF" for a portable build)'
)


class LoadError(Exception):
    """Why a model cannot be served, in one line that names the fix."""


class ModelState(StrEnum):
    PENDING = "pending"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


def import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise LoadError(f"llama-cpp-python is not installed ({error}); {INSTALL_HINT}") from None
    return llama_cpp


def gguf_path(model: Model, base_dir: Path, cache_dir: Path | None = None) -> Path:
    """The model's .gguf: a file (relative to sidecar.yaml's folder), a package's assemble(),
    or a package holding a BERT embedding model (config.json, model.safetensors), written as
    GGUF once into `cache_dir` (default: .sidecar/models next to sidecar.yaml)."""
    if model.scheme == "file":
        path = (base_dir / model.location).resolve()
        if not path.is_file():
            raise LoadError(f"{path} does not exist or is not a file")
        return path
    module_name = model.location.replace("-", "_")
    try:
        package = importlib.import_module(module_name)
    except ImportError:
        raise LoadError(
            f"package {model.location} is not installed; pip install {model.location}"
        ) from None
    assemble = getattr(package, "assemble", None)
    if callable(assemble):
        try:
            return Path(assemble())
        except (OSError, ValueError) as error:
            raise LoadError(
                f"package {model.location} could not write its model: {error}"
            ) from None
    folder = _model_folder(package)
    if folder is None:
        raise LoadError(
            f"package {model.location} has no assemble() that writes a .gguf, nor a BERT "
            "model (config.json and model.safetensors)"
        )
    version = getattr(package, "__version__", "0")
    target = (cache_dir or base_dir / ".sidecar" / "models") / f"{module_name}-{version}.gguf"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return convert.bert_to_gguf(folder, target)
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise LoadError(f"package {model.location}: cannot convert its model: {error}") from None


def _model_folder(package: Any) -> Path | None:
    """Where a package keeps Hugging Face model files: `get_model_path()`, else `model/`."""
    locate = getattr(package, "get_model_path", None)
    candidates = [Path(locate())] if callable(locate) else []
    candidates += [Path(path) / "model" for path in getattr(package, "__path__", [])]
    return next((path for path in candidates if convert.is_bert_model(path)), None)


def check_chat_format(llama_cpp: Any, name: str | None) -> None:
    """A misspelt chat_format fails at load with the known names, not at the first request."""
    if name is None:
        return
    try:
        llama_cpp.llama_chat_format.get_chat_completion_handler(name)
    except Exception as error:  # its message lists the valid formats
        raise LoadError(f"params.chat_format: {error}") from None


@dataclass
class ModelEntry:
    """One configured model, its llama.cpp contexts once loaded, and its worker queue."""

    config: Model
    base_dir: Path
    cache_dir: Path | None = None
    state: ModelState = ModelState.PENDING
    error: str | None = None
    path: Path | None = None
    llama: Any = None
    embedder: Any = None
    load_seconds: float | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    _loaded: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.queue = ModelQueue(self.config.name, self.config.params.queue_size)

    @property
    def name(self) -> str:
        return self.config.name

    def load(self) -> None:
        """Load the model; failures are recorded and logged, never raised."""
        self.state = ModelState.LOADING
        started = time.perf_counter()
        try:
            llama_cpp = import_llama()
            check_chat_format(llama_cpp, self.config.params.chat_format)
            self.path = gguf_path(self.config, self.base_dir, self.cache_dir)
            self.llama = self._open(llama_cpp, embedding=False)
            if self.config.params.embedding:
                self.embedder = self._open(llama_cpp, embedding=True)
        except LoadError as error:
            self._fail(str(error))
        except Exception as error:  # llama.cpp's own failures: a bad file, too little memory
            self._fail(f"{type(error).__name__}: {error}")
        else:
            self.state = ModelState.READY
            self.load_seconds = time.perf_counter() - started
        self._loaded.set()

    def _open(self, llama_cpp: Any, *, embedding: bool) -> Any:
        """A context for generation, or one with mean pooling for /v1/embeddings.

        Embeddings get their own context because a decoder model needs pooling switched on
        for them, which a generating context must not have. llama.cpp maps the weights from
        the file, so the two contexts share them in memory.
        """
        params = self.config.params
        options: dict[str, Any] = {
            "model_path": str(self.path),
            "n_ctx": params.n_ctx,
            "verbose": False,
        }
        if params.n_threads is not None:
            options["n_threads"] = params.n_threads
            options["n_threads_batch"] = params.n_threads
        if embedding:
            options["embedding"] = True
            options["pooling_type"] = llama_cpp.LLAMA_POOLING_TYPE_MEAN
            # one input is one batch: llama-cpp-python's default (512) would cap an input
            # there whatever n_ctx says
            options["n_batch"] = options["n_ubatch"] = params.n_ctx
        elif params.chat_format is not None:
            options["chat_format"] = params.chat_format
        try:
            if embedding:
                return llama_cpp.Llama(**options)
            return stoppable(llama_cpp)(self.queue.abandoned, **options)
        except ValueError as error:
            raise LoadError(f"llama.cpp cannot load {self.path}: {error}") from None

    def _fail(self, message: str) -> None:
        self.state, self.error = ModelState.ERROR, message
        log.error("model %s cannot be served: %s", self.name, message)

    async def ready(self) -> ModelEntry:
        """This model once loaded; an OpenAI error (503) when it cannot be served."""
        if not self._loaded.is_set():
            await asyncio.to_thread(self._loaded.wait)
        if self.state is not ModelState.READY:
            raise OpenAIError(
                503,
                f"model {self.name} is unavailable: {self.error}",
                type="service_unavailable",
                code="model_unavailable",
            )
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "sidecar",
            "description": self.config.description,
            "state": self.state.value,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "embedding": self.config.params.embedding,
            "queued": self.queue.depth,
        }

    def embed_tokens(self) -> int:
        """The longest input /v1/embeddings embeds whole: one batch of the embedding context,
        and no more than the model was trained on (its positions end there)."""
        return min(self.embedder.n_batch, self.embedder._model.n_ctx_train())


class ModelService:
    """The configured models by name; loading, lookup, status."""

    def __init__(self, models: list[Model], base_dir: Path, cache_dir: Path | None = None) -> None:
        self.models = {model.name: ModelEntry(model, base_dir, cache_dir) for model in models}

    def load(self) -> None:
        """One model after another: loading two large models at once only thrashes memory."""
        for entry in self.models.values():
            entry.load()

    def get(self, name: str | None) -> ModelEntry:
        """The model a request names; the only one when it names none and there is one."""
        if name is None and len(self.models) == 1:
            return next(iter(self.models.values()))
        known = ", ".join(self.models) or "none configured (add a models: section)"
        if name is None and len(self.models) > 1:
            raise OpenAIError(
                400,
                f"model is required when several are served; name one of: {known}",
                param="model",
            )
        entry = self.models.get(name or "")
        if entry is None:
            raise OpenAIError(
                404,
                f"The model '{name}' does not exist; known: {known}",
                type="invalid_request_error",
                param="model",
                code="model_not_found",
            )
        return entry

    def status(self) -> list[dict[str, Any]]:
        return [entry.describe() for entry in self.models.values()]

    def embed(self, name: str, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for `texts` from a model's embedding context, for the search indexes.

        Called from worker threads (index builds, queries): waits for the model to load, then
        runs in the model's own worker after the requests queued before it, like any request.
        A text longer than the context is embedded whole, a window at a time (`windows`)."""
        entry = self.models.get(name)
        if entry is None:
            raise RuntimeError(f"model {name} is not configured")
        entry._loaded.wait()
        if entry.state is not ModelState.READY or entry.embedder is None:
            raise RuntimeError(f"model {name} cannot embed: {entry.error or 'no embedding: true'}")
        embedder, context = entry.embedder, entry.embed_tokens()
        return asyncio.run(entry.queue.run(lambda: embed_whole(embedder, texts, context)))

    def close(self) -> None:
        for entry in self.models.values():
            entry.queue.close()
