"""An image to an agenthost agent through the official OpenAI Python SDK (pip install openai).

The image goes as an OpenAI `image_url` content part with a data: URL; the server keeps it as
an artifact of the session (uploads/image-1.png) and gives it to the agent's model. An http(s)
image URL is passed to the model as it is (the server never fetches it). AGENTHOST_URL
defaults to http://127.0.0.1:8000. Run by tests/unit/server/test_artifacts_examples.py.
"""

import base64
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("AGENTHOST_URL", "http://127.0.0.1:8000") + "/v1",
    api_key=os.environ.get("AGENTHOST_API_KEY", "local"),
)
png = b"\x89PNG\r\n\x1a\n" + bytes(24)  # use open("photo.png", "rb").read()
image = "data:image/png;base64," + base64.b64encode(png).decode()
reply = client.chat.completions.create(
    model="assistant",
    messages=[
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        }
    ],
    extra_headers={"X-Session-Id": "photo-1"},
)
print("reply:", reply.choices[0].message.content)
