"""Counts the statements and prepares an `agenthost serve` replica sends to Postgres, on the
client side (asyncpg), for benchmarks/pg_statements.py. Installed in the replica as its
`sitecustomize` (the benchmark copies this file into a directory put first on PYTHONPATH).

Every `Connection.execute/fetch*/...` is one statement and one round trip (asyncpg sends
Bind/Execute/Sync together); a statement not yet prepared on that connection costs one more
round trip (Parse/Describe). A thread writes the counts so far to `$AGENTHOST_PG_COUNT` each
time the benchmark asks (the file `$AGENTHOST_PG_COUNT.ask` appears), so the replica needs no
signal or endpoint of its own. Inactive without that variable.
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
from typing import Any

_OUT = os.environ.get("AGENTHOST_PG_COUNT")


def _label(query: str, prefix: str) -> str:
    text = " ".join(query.split())
    return text.replace(prefix, "{p}") if prefix else text


def _install(out: str) -> None:
    import asyncpg.connection

    conn_class: Any = asyncpg.connection.Connection
    statements: collections.Counter[str] = collections.Counter()
    prepares = [0]
    lock = threading.Lock()
    prefix = os.environ.get("AGENTHOST_PG_PREFIX", "")

    execute, run, get_statement = conn_class.execute, conn_class._execute, conn_class._get_statement

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # the simple query protocol; with args it goes through _execute
            with lock:
                statements[_label(query, prefix)] += 1
        return await execute(self, query, *args, **kw)

    async def counted_run(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        with lock:
            statements[_label(query, prefix)] += 1
        return await run(self, query, *args, **kw)

    async def counted_get(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        record_class = kw.get("record_class") or self._protocol.get_record_class()
        key = (query, record_class, kw.get("ignore_custom_codec", False))
        if not kw.get("use_cache", True) or self._stmt_cache.get(key) is None:
            with lock:
                prepares[0] += 1
        return await get_statement(self, query, *args, **kw)

    conn_class.execute, conn_class._execute = counted_execute, counted_run
    conn_class._get_statement = counted_get

    def answer() -> None:
        ask = out + ".ask"
        while True:
            threading.Event().wait(0.02)
            if os.path.exists(ask):
                with lock:
                    data = {"statements": dict(statements), "prepares": prepares[0]}
                with open(out + ".tmp", "w") as f:
                    json.dump(data, f)
                os.replace(out + ".tmp", out)
                os.remove(ask)

    threading.Thread(target=answer, name="pg statement counts", daemon=True).start()


if _OUT and re.fullmatch(r"[^\0]+", _OUT):
    _install(_OUT)
