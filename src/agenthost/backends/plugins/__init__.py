"""Plugin agents: agents in another process speaking agent protocol v1 over JSON-RPC (stdio
or HTTP). Write one with the SDK in `agenthost.plugin`; the wire protocol is in
docs/plugin-protocol.md."""

from agenthost.backends.plugins._agent import PluginAgent, excess_permissions

__all__ = ["PluginAgent", "excess_permissions"]
