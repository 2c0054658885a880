"""The agenthost benchmark suite: `make bench` (= `python -m benchmarks`).

Every workload runs against the fake OpenAI-compatible server in a separate process and is
compared with bare loops (one pooled HTTP client + orjson, `bare_loops.py`); agenthost rows
run with the in-memory store and again with SQLite. One module per workload:

    turn.py         per-turn overhead, one tool round trip, 0 ms latency (plain and streamed)
    concurrency.py  500 concurrent sessions at 100 ms latency: wall time, peak RSS
    history.py      a turn at 1 and at 150 turns of history
    startup.py      `import agenthost` and `agenthost --help`
    local.py        the embedded model's tool-calling accuracy (local_tool_accuracy.py)

`suite.py` runs them, prints the table (`report.py`) and writes benchmarks/results/latest.json.
`store_micro.py` (session store costs) and `bare_loops.py` also run on their own.
"""
