"""LLM backends: OpenAI-compatible servers and Anthropic through their official clients, with retries,
a concurrency limit, and token and cost accounting. Prompts are built elsewhere (operators).

A spec names a backend: ``openai:MODEL`` (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``; a server other than
api.openai.com may go without a key) or ``anthropic:MODEL`` (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``),
with options after ``?`` (``openai:o3?effort=high&timeout=900``; see ``llm/options.py``).
``openai:gpt-4o@3,anthropic:claude-sonnet-4-5@1`` is a weighted ensemble; ``KERNELEVOLVE_LLM`` holds the
default list and ``KERNELEVOLVE_LLM_PRICES`` extends the price table. The official clients are the
optional extra ``kernelevolve[llm]``, imported only when a backend that needs one is made.

    specs = resolve_specs(cli_values)               # or KERNELEVOLVE_LLM
    llm = Ensemble.from_specs(specs)
    llm.check()                                     # LLMConfigError now, not mid-run
    reply = llm.complete([Message("user", prompt)], rng)   # as each spec's options say
"""

from kernelevolve.llm.backend import Backend
from kernelevolve.llm.ensemble import Ensemble
from kernelevolve.llm.errors import LLMConfigError, LLMError, LLMRequestError
from kernelevolve.llm.messages import Completion, Message
from kernelevolve.llm.options import ModelOptions
from kernelevolve.llm.spec import BackendSpec, make_backend, parse_spec, resolve_specs

__all__ = [
    "Backend",
    "BackendSpec",
    "Completion",
    "Ensemble",
    "LLMConfigError",
    "LLMError",
    "LLMRequestError",
    "Message",
    "ModelOptions",
    "make_backend",
    "parse_spec",
    "resolve_specs",
]
