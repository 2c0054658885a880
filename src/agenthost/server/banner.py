"""What `agenthost serve` prints when it is up: where to go, and examples to paste."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


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
) -> str:
    """The page URL, and a ready-to-paste curl command and OpenAI SDK example."""
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
