"""A plugin written against the wire protocol alone (stdlib json, no SDK), one run at a time,
to show the spec is enough and to misbehave on purpose.

argv: [protocol version] [permission...]   e.g. `raw_plugin.py 1 tools`
Messages: "hello" answers; "malformed" sends an agent.result that is not a valid result;
"garbage" writes a line that is not JSON; "skip" sends sequence 2 first; "host" calls
host.state_set and host.call_tool("add") and reports the answers.
"""

import json
import sys

VERSION = sys.argv[1] if len(sys.argv) > 1 else "1"
PERMISSIONS = {p: True for p in sys.argv[2:] if p != "state"}
if "state" in sys.argv[2:]:
    PERMISSIONS["state"] = ["session"]
out = sys.stdout
next_id = 0


def send(message):
    out.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    out.flush()


def call_host(method, params):
    """A host call, waiting for its answer (this plugin does one thing at a time)."""
    global next_id
    next_id += 1
    send({"id": f"p{next_id}", "method": method, "params": params})
    while True:
        reply = json.loads(sys.stdin.readline())
        if reply.get("id") == f"p{next_id}" and "method" not in reply:
            return reply


def result(run_id, sequence, value):
    send(
        {
            "method": "agent.result",
            "params": {"run_id": run_id, "sequence": sequence, "result": value},
        }
    )


def answer(run_id, text):
    message = {"role": "assistant", "parts": [{"kind": "text", "text": text}]}
    return [{"type": "message.completed", "message": message}, {"type": "run.completed"}]


def run(request):
    run_id = request["params"]["context"]["run_id"]
    text = request["params"]["context"]["input"]["text"]
    if text == "malformed":
        result(run_id, 1, {"type": "message.completed"})  # no message
        return
    if text == "garbage":
        out.write("this is not json\n")
        out.flush()
        return
    if text == "skip":
        result(run_id, 2, answer(run_id, "skipped"))
    elif text == "host":
        state = call_host(
            "host.state_set", {"run_id": run_id, "scope": "session", "key": "raw", "value": 7}
        )
        tool = call_host(
            "host.call_tool", {"run_id": run_id, "tool_name": "add", "arguments": {"a": 1, "b": 2}}
        )
        state_said = "ok" if "result" in state else state["error"]["data"]["code"]
        tool_said = tool["result"]["content"] if "result" in tool else tool["error"]["data"]["code"]
        summary = f"state: {state_said}; tool: {tool_said}"
        result(run_id, 1, answer(run_id, summary))
    else:
        result(run_id, 1, answer(run_id, f"raw says {text}"))
    send({"id": request["id"], "result": {"run_id": run_id, "status": "completed", "results": 1}})


for line in sys.stdin:
    request = json.loads(line)
    method = request.get("method")
    if method == "initialize":
        manifest = {
            "id": "test:raw",
            "name": "raw",
            "protocol_version": VERSION,
            "permissions": PERMISSIONS,
        }
        send({"id": request["id"], "result": {"protocol_version": VERSION, "manifest": manifest}})
    elif method == "agent.run":
        run(request)
    elif method == "agent.cancel":
        send({"id": request["id"], "result": {"cancelled": False}})
    elif method == "shutdown":
        send({"id": request["id"], "result": None})
        break
