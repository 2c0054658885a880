// The official OpenAI JavaScript SDK, unchanged, against an agenthost server.
// Run by tests/unit/server/test_js_sdk.py with AGENTHOST_URL and AGENTHOST_API_KEY set;
// prints one JSON object with what it saw.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.AGENTHOST_URL}/v1`,
  apiKey: process.env.AGENTHOST_API_KEY,
  maxRetries: 0,
});

const models = (await client.models.list()).data.map((m) => m.id);

const reply = await client.chat.completions.create({
  model: "plain",
  messages: [{ role: "user", content: "hello from js" }],
});

const stream = await client.chat.completions.create({
  model: "helper",
  messages: [{ role: "user", content: "look it up" }],
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length > 0) streamed += chunk.choices[0].delta.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}

const response = await client.responses.create({ model: "plain", input: "responses from js" });
const events = [];
let deltas = "";
const rstream = await client.responses.create({ model: "plain", input: "streamed", stream: true });
for await (const event of rstream) {
  events.push(event.type);
  if (event.type === "response.output_text.delta") deltas += event.delta;
}

let notFound = null;
try {
  await client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] });
} catch (err) {
  notFound = { status: err.status, code: err.code };
}

console.log(
  JSON.stringify({
    models,
    reply: reply.choices[0].message.content,
    streamed,
    usage,
    response: response.output_text,
    events: [events[0], events[events.length - 1]],
    deltas,
    notFound,
  }),
);
