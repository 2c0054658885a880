"""Compaction counts the request as it is sent (system prompt + this turn's retrieved excerpts
+ history + tool specs), and sub-agents of a composition compact too. In-process fake models
record every request; each test checks all of them against the budget."""

from __future__ import annotations

from collections import Counter

from agenthost.backends.knowledge.memory import InMemoryKnowledgeBase
from agenthost.backends.sessions import open_session_store
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.engine.compaction import Compaction, count_request, counter_for
from agenthost.engine.composition.chain import ChainAgent
from agenthost.engine.history import SUMMARY_PREFIX, HistoryCache
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.retrieval import Retrieval
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import FunctionModel

BUDGET = 900
WORDS = "lorem ipsum dolor sit amet " * 8  # about 60 tokens
# each excerpt about 150 tokens; top_k=2 adds about 300 tokens to the system prompt
HANDBOOK = {
    f"page{i}.md": f"lorem page {i}: " + "the handbook says consectetur adipiscing elit " * 16
    for i in range(3)
}


class Recorder:
    """A model that answers every request and keeps what it was sent."""

    def __init__(self, name: str) -> None:
        self.requests: list[list[Message]] = []
        self.model = FunctionModel(self, name=name)

    def __call__(self, messages: list[Message], tools: object) -> str:
        self.requests.append(list(messages))
        return f"answer {len(self.requests)}: {WORDS}"


def summariser(calls: list[int]) -> FunctionModel:
    def reply(messages: list[Message], tools: object) -> str:
        calls.append(1)
        return f"summary #{len(calls)}"

    return FunctionModel(reply, name="test:summariser")


def tokens(request: list[Message]) -> int:
    return count_request(counter_for("test:function"), request)


async def test_the_request_with_retrieved_excerpts_stays_under_the_budget() -> None:
    recorder = Recorder("test:agent")
    calls: list[int] = []
    agent = LLMAgent(
        model=recorder.model,
        instructions="Answer from the handbook.",
        retrieval=Retrieval(bases=[InMemoryKnowledgeBase("handbook", HANDBOOK)], top_k=2),
        compaction=Compaction(budget_tokens=BUDGET, keep_turns=2, model=summariser(calls)),
    )
    async with open_session_store("memory://") as store:
        runner = Runner(agent, store=store, app="t")
        runs = [await collect(runner.run("u", "s", f"q{i} lorem: {WORDS}")) for i in range(14)]
    assert all(events[-1].type == "run.completed" for events in runs)
    # the excerpts were in the system prompt of every request, and they are large
    excerpts = [r[0].text for r in recorder.requests]
    assert all("page" in text and "consectetur" in text for text in excerpts)
    system_tokens = tokens(recorder.requests[-1][:1])
    assert system_tokens > BUDGET // 3
    # every request, excerpts included, stayed under the budget: compaction made room
    assert max(tokens(r) for r in recorder.requests) <= BUDGET
    assert calls, "the history never passed the budget: the test proves nothing"
    # ... and without counting the excerpts it would not have: the history alone then fit
    summaries = [e for events in runs for e in events if e.type == "compaction.summary"]
    assert summaries and all(e.data is not None for e in summaries)
    assert any(e.data["tokens_before"] > BUDGET for e in summaries if e.data is not None)
    # events keep their order in a turn that compacted: the summary, then what was retrieved
    compacted = next(ev for ev in runs if any(e.type == "compaction.summary" for e in ev))
    kinds = [e.type for e in compacted]
    assert kinds.index("compaction.summary") < kinds.index("knowledge.retrieved")


async def test_sub_agents_of_a_chain_compact_and_store_the_summary() -> None:
    """Both agents of a chain compact their own requests; a summary a sub-agent stores is
    the session's: the next turn of either agent starts from it."""
    first, second = Recorder("test:first"), Recorder("test:second")
    calls: list[int] = []
    setting = Compaction(budget_tokens=BUDGET // 2, keep_turns=2, model=summariser(calls))
    chain = ChainAgent(
        [
            LLMAgent(model=first.model, name="drafter", instructions="Draft.", compaction=setting),
            LLMAgent(model=second.model, name="editor", instructions="Edit.", compaction=setting),
        ],
        name="pipeline",
    )
    async with open_session_store("memory://") as store:
        runner = Runner(chain, store=store, app="t")
        runs = [await collect(runner.run("u", "s", f"q{i}: {WORDS}")) for i in range(10)]
        session = await store.get(SessionKey(app="t", user_id="u", session_id="s"))
    assert all(events[-1].type == "run.completed" for events in runs)
    assert session is not None
    summaries = [e for e in session.events if e.type == "compaction.summary"]
    assert summaries, "no sub-agent compacted"
    authors = Counter(e.author for e in summaries)
    assert set(authors) <= {"drafter", "editor"} and authors["drafter"] >= 1
    for recorder in (first, second):
        assert len(recorder.requests) == 10
        assert max(tokens(r) for r in recorder.requests) <= BUDGET // 2
    # the session's view starts from the latest summary, which names a stored range
    view = HistoryCache().view(session)
    assert view.messages[0].text.startswith(SUMMARY_PREFIX)
    last = summaries[-1].data
    assert last is not None and 1 <= last["start_seq"] <= last["end_seq"]
    # the requests after a summary carry it (system, summary, kept turns)
    carried = [r for r in first.requests if len(r) > 1 and r[1].text.startswith(SUMMARY_PREFIX)]
    assert carried
