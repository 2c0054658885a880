"""What `agenthost serve` prints when it is up: where to go, and examples to paste."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

SWITCH_MODEL = (
    "To use a real model, set these and restart (e.g. OPENAI_API_KEY=... make demo):",
    "  OPENAI_API_KEY=sk-...                the key (alone, it means openai:gpt-4o-mini)",
    "  OPENAI_BASE_URL=http://HOST/v1       any OpenAI-compatible server (vLLM, Ollama, ...)",
    "  AGENTHOST_MODEL=openai:MODEL         the model to use (or provider:model)",
)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def startup_banner(
    *,
    host: str,
    port: int,
    agents: Sequence[str],
    auth: bool,
    page_path: str | None = None,
    models: Mapping[str, str | None] | None = None,
) -> str:
    """The page URL, the model of each agent (`models`, see `agent_models`) and how to switch
    to another, and a ready-to-paste curl command and OpenAI SDK example."""
    base = f"http://{_url_host(host)}:{port}"
    agent = agents[0] if agents else "assistant"
    auth_header = ' -H "Authorization: Bearer $AGENTHOST_API_KEY"' if auth else ""
    key = 'os.environ["AGENTHOST_API_KEY"]' if auth else '"local"'
    body = shlex.quote('{"message": "Hello!"}')
    lines = [f"agenthost is serving {len(agents)} agent(s) on {base}: {', '.join(agents)}"]
    if page_path is not None:
        lines.append(f"  page:     {base}{page_path}")
    lines += [
        f"  API docs: {base}/docs",
        f"  auth:     {'API keys required' if auth else 'none (local development mode)'}",
        *_model_lines(models or {}),
        "",
        "Try it with curl (streams events as SSE):",
        f"  curl -N {base}/v1/apps/{agent}/runs{auth_header} \\",
        f"    -H 'Content-Type: application/json' -d {body}",
        "",
        "Or with the OpenAI SDK (pip install openai):",
        *(["  import os"] if auth else []),
        "  from openai import OpenAI",
        f'  client = OpenAI(base_url="{base}/v1", api_key={key})',
        f'  reply = client.chat.completions.create(model="{agent}", '
        'messages=[{"role": "user", "content": "Hello!"}])',
        "  print(reply.choices[0].message.content)",
    ]
    return "\n".join(lines) + "\n"


def agent_models(runners: Mapping[str, Any]) -> dict[str, str | None]:
    """Each agent's first chat model ('provider:model'), or None for an agent without one
    (a remote platform, a plugin). `runners` maps agent names to Runners."""
    out: dict[str, str | None] = {}
    for name, runner in runners.items():
        models = getattr(getattr(runner, "agent", None), "models", None) or ()
        out[name] = getattr(models[0], "name", None) if models else None
    return out


def _model_lines(models: Mapping[str, str | None]) -> list[str]:
    named = {agent: model for agent, model in models.items() if model}
    if not named:
        return []
    distinct = set(named.values())
    if len(distinct) == 1:
        lines = [f"  model:    {distinct.pop()}"]
    else:
        lines = [f"  model:    {model} ({agent})" for agent, model in named.items()]
    if any(model.startswith("local:") for model in named.values()):
        lines[0] += "  (embedded: small, fast, no key; for tries, not for real answers)"
        lines += ["", *SWITCH_MODEL]
    return lines
