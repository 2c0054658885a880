"""Embedders: text -> unit vectors (float32 numpy rows).

`StaticEmbedder` (the default, `local`) is WordLlama's l2_supercat model: a static table of
256-dimension token vectors averaged over a text. Its weights and tokenizer ship inside the
`wordllama` wheel; we read those two files directly (safetensors + tokenizers) rather than
through `WordLlama.load`, which looks for the tokenizer in a folder the wheel does not have
and then downloads it, and configures the root logger on import. Nothing is downloaded.

`HttpEmbedder` calls an OpenAI-compatible `POST {base_url}/embeddings` ({model, input}) and
reads `data[].embedding` by `index`; any failure is a KnowledgeUnavailable naming the endpoint.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agenthost.backends.knowledge._endpoint import JsonEndpoint
from agenthost.core.errors import ConfigError, KnowledgeUnavailable, MissingExtraError

if TYPE_CHECKING:
    import aiohttp
    import numpy as np
    from numpy.typing import NDArray

    Vectors = NDArray[np.float32]

LOCAL = "local"
LOCAL_NAME = "local:wordllama-l2-supercat-256"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


class Embedder(Protocol):
    """`name` is stored with each knowledge base: a base is searched with the embedder it was
    filled with."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...

    async def aclose(self) -> None: ...


def _package_dir(module: str, extra: str, feature: str) -> Path:
    spec = importlib.util.find_spec(module)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(feature, extra, module)
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedder:
    """WordLlama l2_supercat (256 dimensions) from the files inside its wheel."""

    name = LOCAL_NAME

    def __init__(self, *, batch_size: int = 256) -> None:
        self.batch_size = batch_size
        self._table: Vectors | None = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Read the weights and the tokenizer (about 0.1 s; done on first use)."""
        if self._table is not None:
            return
        root = _package_dir("wordllama", "knowledge", "The embedded embedding model")
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - installed with wordllama
            raise MissingExtraError(
                "The embedded embedding model", "knowledge", exc.name or "tokenizers"
            ) from None
        weights, tokenizer = root.joinpath(*_WEIGHTS), root.joinpath(*_TOKENIZER)
        for path in (weights, tokenizer):
            if not path.is_file():
                raise ConfigError(
                    f"{path} is missing from the installed wordllama package; reinstall it "
                    f"(pip install --force-reinstall 'agenthost[knowledge]')."
                )
        table = load_file(str(weights))["embedding.weight"]
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._table = np.ascontiguousarray(table, dtype=np.float32)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        self.load()
        table = self._table
        assert table is not None
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        top = table.shape[0] - 1
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            encodings = self._tokenizer.encode_batch(batch, add_special_tokens=False)
            for offset, encoding in enumerate(encodings):
                ids = np.asarray(encoding.ids, dtype=np.int64)
                if ids.size:
                    out[start + offset] = table[np.minimum(ids, top)].mean(axis=0)
        return normalize(out)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if len(texts) <= 8 and self._table is not None:
            return self.embed_sync(texts)  # a query: cheaper than a thread hop
        async with self._lock:  # one batch at a time; the tokenizer is not shared across threads
            return await asyncio.to_thread(self.embed_sync, texts)

    async def aclose(self) -> None:
        return None


def normalize(vectors: Vectors) -> Vectors:
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: Vectors = (vectors / norms).astype(np.float32, copy=False)
    return unit


class HttpEmbedder(JsonEndpoint):
    """An OpenAI-compatible embeddings endpoint."""

    what = "embedding"
    path = "/embeddings"

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 128,
        client: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(
            provider, model, base_url=base_url, api_key=api_key, timeout=timeout, client=client
        )
        self.batch_size = batch_size

    async def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(await self._embed(list(texts[start : start + self.batch_size])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalize(np.asarray(rows, dtype=np.float32))

    async def _embed(self, batch: list[str]) -> list[list[float]]:
        import orjson

        payload = await self._post({"model": self.model, "input": batch})
        try:
            data = orjson.loads(payload)["data"]
            ordered = sorted(data, key=lambda item: item.get("index", 0))
            vectors = [item["embedding"] for item in ordered]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise self._bad_answer("data[].embedding", exc) from exc
        if len(vectors) != len(batch):
            reason = f"{len(vectors)} embeddings for {len(batch)} inputs"
            raise KnowledgeUnavailable("embedding", self.url, reason)
        return vectors
