// The official AG-UI client (@ag-ui/client HttpAgent), unchanged, against an agenthost server.
// Run by tests/unit/server/test_agui_js.py with AGENTHOST_URL and AGENTHOST_API_KEY set;
// prints one JSON object with what it saw.
import { HttpAgent } from "@ag-ui/client";

const url = process.env.AGENTHOST_URL;
const headers = { Authorization: `Bearer ${process.env.AGENTHOST_API_KEY}` };

function agentFor(name, threadId) {
  return new HttpAgent({ url: `${url}/agui/${name}`, headers, threadId, initialState: { theme: "dark" } });
}

function recorder() {
  const seen = { types: [], text: "", toolCalls: [], toolResults: [], finished: null, error: null, interrupts: null };
  const subscriber = {
    onEvent({ event }) {
      seen.types.push(event.type);
    },
    onTextMessageContentEvent({ event }) {
      seen.text += event.delta;
    },
    onToolCallEndEvent({ toolCallName, toolCallArgs }) {
      seen.toolCalls.push({ name: toolCallName, args: toolCallArgs });
    },
    onToolCallResultEvent({ event }) {
      seen.toolResults.push(event.content);
    },
    onRunFinishedEvent(params) {
      seen.finished = params.outcome;
      if (params.outcome === "interrupt") seen.interrupts = params.interrupts;
    },
    onRunErrorEvent({ event }) {
      seen.error = { code: event.code, message: event.message };
    },
  };
  return { seen, subscriber };
}

// 1. a conversation: two runs on one thread, state and messages kept by the agent
const helper = agentFor("helper", `js-thread-${Date.now()}`);
helper.addMessage({ id: "u1", role: "user", content: "hello from ag-ui" });
const first = recorder();
await helper.runAgent({}, first.subscriber);
helper.addMessage({ id: "u2", role: "user", content: "tool please" });
const second = recorder();
await helper.runAgent({}, second.subscriber);

// 2. a failure: RUN_ERROR reaches the client; an agent without tools streams its text
const plain = agentFor("plain", `js-plain-${Date.now()}`);
plain.addMessage({ id: "t1", role: "user", content: "just text" });
const plainSeen = recorder();
await plain.runAgent({}, plainSeen.subscriber);
const failing = agentFor("plain", `js-fail-${Date.now()}`);
failing.addMessage({ id: "f1", role: "user", content: "fail now" });
const third = recorder();
let thrown = null;
try {
  await failing.runAgent({}, third.subscriber);
} catch (err) {
  thrown = String(err?.message ?? err);
}

// 3. approval: the run ends with an interrupt, resume answers it
const payer = agentFor("payer", `js-pay-${Date.now()}`);
payer.addMessage({ id: "p1", role: "user", content: "pay bob" });
const paused = recorder();
await payer.runAgent({}, paused.subscriber);
const resumed = recorder();
let resumeError = null;
try {
  await payer.runAgent(
    { resume: [{ interruptId: paused.seen.interrupts[0].id, status: "resolved", payload: { approve: true } }] },
    resumed.subscriber,
  );
} catch (err) {
  resumeError = String(err?.stack ?? err);
}

// 4. a refusal before the run (unknown agent): an HTTP error the client raises
let refused = null;
try {
  const nope = agentFor("nope", "x");
  nope.addMessage({ id: "n1", role: "user", content: "hi" });
  await nope.runAgent({});
} catch (err) {
  refused = String(err?.message ?? err);
}

console.log(
  JSON.stringify({
    first: first.seen,
    second: second.seen,
    messages: helper.messages.map((m) => ({ role: m.role, content: m.content ?? null })),
    state: helper.state,
    third: third.seen,
    plain: plainSeen.seen,
    thrown,
    paused: paused.seen,
    resumed: resumed.seen,
    resumeError,
    refused,
  }),
);
