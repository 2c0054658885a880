"""A plugin agent that uses what its host grants it: the first granted model, the
`get_weather` tool and the first knowledge base (examples/config/plugin.yaml).

Run by the host as a subprocess on stdio.
"""

from collections.abc import AsyncIterator

from agenthost import (
    HostAPI,
    Manifest,
    Message,
    MessageCompleted,
    Permissions,
    RunCompleted,
    RunContext,
)
from agenthost.plugin import serve


class ResearchAgent:
    manifest = Manifest(
        id="example:research",
        name="research",
        description="Answers from the handbook, the weather tool and a model.",
        permissions=Permissions(models=True, tools=True, knowledge_bases=True),
    )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[object]:
        granted = ctx.resources
        question = ctx.input.text
        notes = []
        for kb in granted.knowledge_bases[:1]:
            chunks = await host.retrieve(kb.kb_id, question, top_k=1)
            notes += [c.text for c in chunks]
        if any(t.tool_name == "get_weather" for t in granted.tools):
            weather = await host.call_tool("get_weather", {"city": "Paris"})
            notes.append(str(weather.content))
        prompt = Message.user(f"{question}\nNotes: {' | '.join(notes)}")
        answer = await host.invoke_model(granted.models[0].model_id, [prompt])
        yield [MessageCompleted(message=answer.message), RunCompleted(usage=answer.usage)]


if __name__ == "__main__":
    serve(ResearchAgent())
