"""Providers: where a model lives (base URL), with which key, over which pooled client.

A model id is `provider:model`. Known providers have a default base URL; for a provider `X`
the environment variables `X_API_KEY` and `X_BASE_URL` (name upper-cased, other characters
as `_`) fill in what config does not say. Precedence: values given in config or code, then the
environment, then the table default. Any OpenAI-compatible endpoint works once declared in
config with a `base_url` (and `api_key` or `api_key_env` when it needs one).

A missing key is reported when the provider is resolved, that is when the model is built
(`infer_model`), not at the first call: a misconfigured deployment fails at startup.

A `Provider` owns one pooled HTTP client (a `transport.Transport`), created lazily in the
running loop and shared by every model built on it. `transport="auto"` (the default) is the
lean HTTP/1.1 client (`h1_pool.H1Client`) for an http(s) URL with no proxy variable applying
to it, aiohttp otherwise; "lean" and "aiohttp" force one. `ssl_context` (or `ca_file` in
config) sets the CAs and TLS options of https connections. Models `acquire()` it on
`__aenter__` and `release()` it on `__aexit__`; the last release closes the client, but only
a client the provider created (`_owns_client`). `shared_provider` returns one Provider per
distinct configuration, so two models of the same provider share one pool.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agenthost.backends.common.transport import TRANSPORT_KINDS, Transport, TransportKind
from agenthost.backends.models.prices import find_price
from agenthost.core.errors import ConfigError, UnknownProviderError
from agenthost.core.usage import Price

if TYPE_CHECKING:
    import aiohttp

# seconds; see docs/defaults.md. A whole call (when ModelSettings.timeout is not set), the TCP
# connect, and the longest silence of a streamed answer (before its head and between chunks)
DEFAULT_TIMEOUT = 300.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A known provider: its default base URL and whether it needs an API key."""

    name: str
    base_url: str | None
    needs_key: bool = True


KNOWN_PROVIDERS: Mapping[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("openai", "https://api.openai.com/v1"),
        ProviderSpec("deepseek", "https://api.deepseek.com/v1"),
        ProviderSpec("dashscope", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
        ProviderSpec("openrouter", "https://openrouter.ai/api/v1"),
        ProviderSpec("groq", "https://api.groq.com/openai/v1"),
        ProviderSpec("together", "https://api.together.xyz/v1"),
        ProviderSpec("vllm", "http://127.0.0.1:8000/v1", needs_key=False),
        ProviderSpec("ollama", "http://127.0.0.1:11434/v1", needs_key=False),
        ProviderSpec("llamacpp", "http://127.0.0.1:8080/v1", needs_key=False),
        ProviderSpec("local", None, needs_key=False),  # the embedded model, not over HTTP
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSettings:
    """A provider as declared in config. Unset fields come from the environment or the table.

    `options` are passed to the embedded model's factory for the `local` provider.
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)
    timeout: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    transport: TransportKind | None = None  # None: "auto"
    ca_file: str | None = None  # PEM file of the CAs to trust for https (None: the system's)


def env_prefix(provider: str) -> str:
    """'llamacpp' -> 'LLAMACPP', 'my-llm' -> 'MY_LLM'."""
    return re.sub(r"[^A-Z0-9]", "_", provider.upper())


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


def _check_headers(provider: str, headers: Mapping[str, str]) -> None:
    """Refuse, naming the header, what HTTP/1.1 cannot carry: a name that is not a token, a
    line break in a value (it would start a header of its own), a character outside latin-1."""
    for name, value in headers.items():
        what = "the API key" if name == "Authorization" else f"header {name!r}"
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ConfigError(
                f"Provider {provider!r}: header name {name!r} is not valid in HTTP "
                "(letters, digits and !#$%&'*+-.^_`|~ only)"
            )
        if not isinstance(value, str):
            raise ConfigError(
                f"Provider {provider!r}: {what} must be a string, got {type(value).__name__}"
            )
        if "\r" in value or "\n" in value or "\0" in value:
            raise ConfigError(
                f"Provider {provider!r}: {what} contains a line break or NUL; "
                "remove it (a value read from a file often ends with a newline)"
            )
        try:
            value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"Provider {provider!r}: {what} contains {value[exc.start]!r}, which an HTTP "
                "header cannot carry; use ASCII (or percent-encode it)"
            ) from None


class Provider:
    """Base URL, API key and the one pooled HTTP client of an OpenAI-compatible endpoint."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        client: aiohttp.ClientSession | None = None,
        prices: Mapping[str, Price] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1000,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        transport: TransportKind = "auto",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if transport not in TRANSPORT_KINDS:
            raise ConfigError(
                f"Provider {name!r}: transport must be one of {', '.join(TRANSPORT_KINDS)}, "
                f"got {transport!r}"
            )
        for label, value in (
            ("timeout", timeout),
            ("connect_timeout", connect_timeout),
            ("idle_timeout", idle_timeout),
        ):
            if value is not None and value <= 0:
                raise ConfigError(f"Provider {name!r}: {label} must be > 0, got {value!r}")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.prices = dict(prices or {})
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        _check_headers(name, self.headers)
        self.transport: TransportKind = transport
        self.ssl_context = ssl_context
        self._given = client
        self._client: Transport | None = None
        self._owns_client = client is None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._users = 0

    def __repr__(self) -> str:
        key = "None" if not self.api_key else repr(self.api_key[:3] + "***")
        return f"Provider(name={self.name!r}, base_url={self.base_url!r}, api_key={key})"

    @property
    def client(self) -> Transport:
        """The pooled client, created on first use inside the running loop."""
        return self._client_on(asyncio.get_running_loop())

    def bound(self) -> tuple[Transport, asyncio.AbstractEventLoop]:
        """The pooled client (`client`) and the running loop, asked for once: each look-up of
        the running loop is a `getpid` system call in CPython 3.11."""
        loop = asyncio.get_running_loop()
        return self._client_on(loop), loop

    def _client_on(self, loop: asyncio.AbstractEventLoop) -> Transport:
        client = self._client
        if client is None or (self._owns_client and self._client_loop is not loop):
            client = self._client = self._make_client()
            self._client_loop = loop
        return client

    def _make_client(self) -> Transport:
        if self._given is not None:  # the caller's aiohttp session: wrapped, never closed here
            from agenthost.backends.common.aiohttp_transport import AiohttpTransport

            return AiohttpTransport(self._given, ssl_context=self.ssl_context)
        from agenthost.backends.common.transport import make_transport

        return make_transport(
            self.transport,
            self.base_url,
            max_connections=self.max_connections,
            connect_timeout=self.connect_timeout,
            ssl_context=self.ssl_context,
        )

    def price_for(self, model: str) -> Price | None:
        return find_price(self.name, model, self.prices)

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        """One user is done; the last one closes the client if this provider created it."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the client now if this provider created it (a given client is left alone)."""
        if not self._owns_client or self._client is None:
            return
        client, self._client = self._client, None
        if self._client_loop is asyncio.get_running_loop():  # a dead loop's client is dropped
            await client.aclose()

    async def __aenter__(self) -> Provider:
        self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


def resolve_provider(
    name: str,
    settings: ProviderSettings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    known: Mapping[str, ProviderSettings] | None = None,
) -> Provider:
    """Build the provider `name` from config `settings`, the environment and the table.

    Raises UnknownProviderError (listing the known ones) or ConfigError (no base URL, or a
    missing API key naming the variable to set).
    """
    env = os.environ if env is None else env
    spec = KNOWN_PROVIDERS.get(name)
    if spec is None and settings is None:
        raise UnknownProviderError(name, {*KNOWN_PROVIDERS, *(known or {})})
    settings = settings or ProviderSettings()
    prefix = env_prefix(name)
    base_url = settings.base_url or env.get(f"{prefix}_BASE_URL") or (spec and spec.base_url)
    if not base_url:
        raise ConfigError(
            f"Provider {name!r} has no base URL. Set {prefix}_BASE_URL or give the provider a "
            f"base_url in agenthost.yaml, e.g. http://127.0.0.1:8000/v1."
        )
    key_env = settings.api_key_env or f"{prefix}_API_KEY"
    api_key = settings.api_key or env.get(key_env)
    needs_key = spec.needs_key if spec is not None else settings.api_key_env is not None
    if needs_key and not api_key:
        raise ConfigError(
            f"Provider {name!r} needs an API key and {key_env} is not set. Export {key_env}=... "
            f"or set api_key_env (or api_key) for the provider in agenthost.yaml."
        )
    return Provider(
        name,
        base_url=base_url,
        transport=settings.transport or "auto",
        ssl_context=_ssl_context(name, settings.ca_file),
        api_key=api_key,
        prices=settings.prices,
        timeout=settings.timeout or DEFAULT_TIMEOUT,
        headers=settings.headers,
        connect_timeout=settings.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        idle_timeout=settings.idle_timeout or DEFAULT_IDLE_TIMEOUT,
    )


def _ssl_context(name: str, ca_file: str | None) -> ssl.SSLContext | None:
    """The TLS settings of a provider given `ca_file` (None: the defaults)."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"Provider {name!r}: ca_file {ca_file!r} is not a readable PEM file of CA "
            f"certificates ({exc})"
        ) from exc


# one Provider per configuration and event loop: a pooled client belongs to one loop, and two
# servers in two threads (two loops) must not swap each other's client
_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop | _NoLoop, dict[Any, Provider]] = (
    weakref.WeakKeyDictionary()
)


class _NoLoop:
    """Stands for 'no running loop' (models built before the loop starts)."""


_NO_LOOP = _NoLoop()


def shared_provider(
    name: str,
    settings: ProviderSettings | None = None,
    *,
    known: Mapping[str, ProviderSettings] | None = None,
) -> Provider:
    """`resolve_provider`, returning the same Provider (one pool) for the same configuration."""
    provider = resolve_provider(name, settings, known=known)
    key = (
        name,
        provider.base_url,
        provider.api_key,
        provider.timeout,
        provider.connect_timeout,
        provider.idle_timeout,
        provider.transport,
        settings.ca_file if settings is not None else None,
        tuple(sorted(provider.headers.items())),
        tuple(sorted(provider.prices.items())),
    )
    try:
        owner: asyncio.AbstractEventLoop | _NoLoop = asyncio.get_running_loop()
    except RuntimeError:
        owner = _NO_LOOP
    return _shared.setdefault(owner, {}).setdefault(key, provider)
