"""A stdlib-only plugin for the isolation tests (one run at a time).

Messages: "name RUN_ID" calls host.state_get naming RUN_ID and answers "ok" or the refusal's
code; "say TEXT" writes TEXT to stderr and answers; "crash TEXT" writes TEXT to stderr and
exits with code 3.
"""

import json
import sys

out = sys.stdout
next_id = 0


def send(message):
    out.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    out.flush()


def call_host(method, params):
    global next_id
    next_id += 1
    send({"id": f"p{next_id}", "method": method, "params": params})
    while True:
        reply = json.loads(sys.stdin.readline())
        if reply.get("id") == f"p{next_id}" and "method" not in reply:
            return reply


def finish(request, run_id, text):
    message = {"role": "assistant", "parts": [{"kind": "text", "text": text}]}
    result = [{"type": "message.completed", "message": message}, {"type": "run.completed"}]
    params = {"run_id": run_id, "sequence": 1, "result": result}
    send({"method": "agent.result", "params": params})
    send({"id": request["id"], "result": {"run_id": run_id, "status": "completed", "results": 1}})


def run(request):
    context = request["params"]["context"]
    run_id = context["run_id"]
    command, _, arg = context["input"]["text"].partition(" ")
    if command == "name":
        reply = call_host("host.state_get", {"run_id": arg, "scope": "session", "key": "k"})
        finish(request, run_id, "ok" if "result" in reply else reply["error"]["data"]["code"])
    elif command == "say":
        sys.stderr.write(arg + "\n")
        sys.stderr.flush()
        finish(request, run_id, "said")
    elif command == "crash":
        sys.stderr.write(arg + "\n")
        sys.stderr.flush()
        sys.exit(3)


for line in sys.stdin:
    request = json.loads(line)
    method = request.get("method")
    if method == "initialize":
        manifest = {
            "id": "test:isolation",
            "name": "isolation",
            "permissions": {"state": ["session"]},
        }
        send({"id": request["id"], "result": {"protocol_version": "1", "manifest": manifest}})
    elif method == "agent.run":
        run(request)
    elif method == "agent.cancel":
        send({"id": request["id"], "result": {"cancelled": False}})
    elif method == "shutdown":
        send({"id": request["id"], "result": None})
        break
