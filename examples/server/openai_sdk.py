"""An agenthost server through the official OpenAI Python SDK (pip install openai).

Each agent is a model. AGENTHOST_URL defaults to http://127.0.0.1:8000; AGENTHOST_API_KEY is
needed when the server has keys. Run by tests/unit/server/test_examples.py.
"""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("AGENTHOST_URL", "http://127.0.0.1:8000") + "/v1",
    api_key=os.environ.get("AGENTHOST_API_KEY", "local"),
)
print("models:", [model.id for model in client.models.list()])

# One conversation: the X-Session-Id header keeps the history on the server, so each call
# sends only the new user message.
session = {"X-Session-Id": "sdk-demo"}
reply = client.chat.completions.create(
    model="assistant",
    messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
    extra_headers=session,
)
print("reply:", reply.choices[0].message.content)

stream = client.chat.completions.create(
    model="assistant",
    messages=[{"role": "user", "content": "And in Paris?"}],
    extra_headers=session,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
    elif chunk.usage:
        print(f"\n[{chunk.usage.total_tokens} tokens]")

# The Responses API: previous_response_id continues the same session.
first = client.responses.create(model="echo", input="Name a colour.")
second = client.responses.create(model="echo", input="Another one?", previous_response_id=first.id)
print("responses:", first.output_text, "|", second.output_text)
