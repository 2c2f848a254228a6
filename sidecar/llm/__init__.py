"""Local GGUF models served through llama.cpp on the HTTP server's OpenAI-compatible routes,
with the sidecar's datasets offered to them as tools.

Nothing here imports llama-cpp-python until a configured model loads, so a sidecar without
the `llm` extra starts and serves SQL as before.
"""

from sidecar.llm.models import ModelService
from sidecar.llm.routes import LlmApi

__all__ = ["LlmApi", "ModelService"]
