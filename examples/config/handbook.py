"""The knowledge base examples/config/plugin.yaml grants its plugin agent."""

from agenthost import InMemoryKnowledgeBase

HANDBOOK = InMemoryKnowledgeBase(
    "handbook",
    {
        "umbrella": "Take an umbrella when it rains; the office lends them at the front desk.",
        "hours": "The office is open from 9 to 18, Monday to Friday.",
    },
)
