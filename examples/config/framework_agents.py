"""The framework agents examples/config/adapters.yaml hosts: a pydantic-ai agent and a
LangGraph graph, each on its framework's own test model (no key, no network)."""

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

summarizer = Agent(TestModel(custom_output_text="A short summary."), name="summarizer")

_model = GenericFakeChatModel(messages=iter([AIMessage(content="Hello from the graph.")] * 100))


def _answer(state: MessagesState) -> dict[str, list[AIMessage]]:
    return {"messages": [_model.invoke(state["messages"])]}


graph = StateGraph(MessagesState).add_node("answer", _answer)
graph = graph.add_edge(START, "answer").add_edge("answer", END).compile()
