"""Agent cards: what an A2A client reads before it talks to one of our agents.

Each agent gets its own card, built from its manifest: name, description, one skill (the
agent, tagged with its tools), streaming, the JSON-RPC interface at `<base>/a2a/<agent>/`
for A2A 1.0 and 0.3, and, when the server has API keys, the security schemes (`Authorization:
Bearer <key>`, or `X-API-Key: <key>`). The base URL is the one the request came in on (behind a
proxy, run uvicorn with `--proxy-headers` and `--forwarded-allow-ips`).
"""

from __future__ import annotations

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import (
    PROTOCOL_VERSION_0_3,
    PROTOCOL_VERSION_1_0,
    TransportProtocol,
)

from agenthost import __version__
from agenthost.engine.runner import Runner
from agenthost.server.a2a._routes import PREFIX, agent_url
from agenthost.server.auth import USER_HEADER

_TEXT = ["text/plain"]
_INPUT = ["text/plain", "application/json"]
_IMAGES = ["image/png", "image/jpeg", "image/webp", "image/gif"]
_MAX_TAGS = 20


def _security(card: AgentCard) -> None:
    card.security_schemes["bearer"].CopyFrom(
        SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer",
                description="An API key of this agenthost server: Authorization: Bearer <key>. "
                f"An admin key may act as a user with the {USER_HEADER} header.",
            )
        )
    )
    card.security_schemes["apiKey"].CopyFrom(
        SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(
                location="header",
                name="X-API-Key",
                description="The same API key, in the X-API-Key header.",
            )
        )
    )
    for scheme in ("bearer", "apiKey"):  # either one
        card.security_requirements.append(SecurityRequirement(schemes={scheme: StringList()}))


def build_card(name: str, runner: Runner, base: str, *, auth: bool, agents: list[str]) -> AgentCard:
    """The card of agent `name` as served from `base` (scheme://host[:port][/root])."""
    manifest = runner.agent.manifest
    about = manifest.description or f"The {name} agent, hosted by agenthost."
    description = about
    if len(agents) > 1:
        description += (
            f" One of {len(agents)} agents of this server: GET {base}{PREFIX} lists them, "
            f"each with its card."
        )
    url = agent_url(base, name)
    tools = [t.tool_name for t in runner.resources.tools][:_MAX_TAGS]
    inputs = _INPUT + (_IMAGES if manifest.capabilities.multimodal_input else [])
    card = AgentCard(
        name=name,
        description=description,
        version=__version__,
        documentation_url=f"{base}/docs",
        supported_interfaces=[
            AgentInterface(
                url=url,
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_1_0,
            ),
            AgentInterface(
                url=url,
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_0_3,
            ),
        ],
        capabilities=AgentCapabilities(
            streaming=True, push_notifications=False, extended_agent_card=False
        ),
        default_input_modes=inputs,
        default_output_modes=_TEXT,
        skills=[
            AgentSkill(
                id=name,
                name=name,
                description=about,
                tags=["agenthost", *tools],
                input_modes=inputs,
                output_modes=_TEXT,
            )
        ],
    )
    if auth:
        _security(card)
    return card


def card_json(card: AgentCard) -> dict[str, object]:
    """The card as JSON: A2A 1.0 fields plus the 0.3 ones (`url`, `protocolVersion`, ...), so
    clients of either version read it."""
    return agent_card_to_dict(card)
