"""A plugin without the SDK: the standard library and the wire protocol only, as a plugin in
any language would be written. One run at a time; it replies with the message reversed.

    python examples/plugins/minimal_plugin.py     (started by the host, talks on stdio)
"""

import json
import sys

MANIFEST = {"id": "example:reverse", "name": "reverse", "protocol_version": "1"}


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def run(request_id, context):
    run_id, text = context["run_id"], context["input"]["text"]
    reply = {"role": "assistant", "parts": [{"kind": "text", "text": text[::-1]}]}
    results = [{"type": "message.completed", "message": reply}, {"type": "run.completed"}]
    params = {"run_id": run_id, "sequence": 1, "result": results}
    send({"method": "agent.result", "params": params})
    send({"id": request_id, "result": {"run_id": run_id, "status": "completed", "results": 1}})


for line in sys.stdin:
    request = json.loads(line)
    method, request_id = request.get("method"), request.get("id")
    if method == "initialize":
        send({"id": request_id, "result": {"protocol_version": "1", "manifest": MANIFEST}})
    elif method == "agent.run":
        run(request_id, request["params"]["context"])
    elif method == "agent.cancel":
        send({"id": request_id, "result": {"cancelled": False}})
    elif method == "shutdown":
        send({"id": request_id, "result": None})
        break
    elif request_id is not None:
        send({"id": request_id, "error": {"code": -32601, "message": f"no method {method}"}})
