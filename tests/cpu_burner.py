"""Keep every core busy until told to stop: the load of `make test-stress`.

    python tests/cpu_burner.py [--parent PID] [--max-seconds S] [--workers N]

One busy-looping process per core (or N). It stops on SIGTERM/SIGINT, when the process
`--parent` is gone (the shell of `make test-stress`, so a killed make leaves nothing behind),
or after `--max-seconds` (default 3 hours), whichever comes first. Not a test module.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import threading
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _burn(parent: int, deadline: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # not the parent's handlers
        signal.signal(sig, signal.SIG_DFL)
    checked = 0.0
    x = 0
    while True:
        for _ in range(200_000):
            x = (x * 1_103_515_245 + 12_345) & 0xFFFFFFFF
        now = time.monotonic()
        if now - checked > 0.5:
            checked = now
            if now > deadline or (parent and not _alive(parent)):
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, default=0, help="stop when this pid is gone")
    parser.add_argument("--max-seconds", type=float, default=3 * 3600)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.max_seconds
    workers = [
        multiprocessing.Process(target=_burn, args=(args.parent or os.getpid(), deadline))
        for _ in range(max(1, args.workers))
    ]
    for worker in workers:
        worker.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"cpu_burner: {len(workers)} busy processes (pid {os.getpid()})", file=sys.stderr)
    while not stop.wait(0.5):
        if not any(worker.is_alive() for worker in workers):
            break
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
    print("cpu_burner: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
