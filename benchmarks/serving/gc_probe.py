"""``inprod serve`` with the garbage collector's pauses counted; optionally frozen after startup.

An experiment for a suggested change, not how inprod runs: gc_check.py starts the server through
this wrapper. ``BENCH_GC_STATS=FILE`` makes it write, every second, the collections per
generation with their total and longest pause; ``BENCH_GC_FREEZE=1`` calls ``gc.collect();
gc.freeze()`` once uvicorn has started (models loaded), so that later full collections no
longer walk the hundreds of thousands of objects that the imports and the models left behind.

    python benchmarks/serving/gc_probe.py serve --port 8000   # same arguments as `inprod`
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

_stats = {g: {"collections": 0, "total_s": 0.0, "max_s": 0.0} for g in (0, 1, 2)}
_started = [0.0]


def _on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took = time.perf_counter() - _started[0]
    s = _stats[info["generation"]]
    s["collections"] += 1
    s["total_s"] += took
    s["max_s"] = max(s["max_s"], took)


def _dump_forever(path: str) -> None:
    while True:
        time.sleep(1.0)
        snapshot = {"generations": _stats, "tracked_objects": len(gc.get_objects())}
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(snapshot, f)
        os.replace(tmp, path)


def _freeze_after_startup() -> None:
    import uvicorn.server

    original = uvicorn.server.Server.startup

    async def startup(self, sockets=None):
        await original(self, sockets=sockets)
        gc.collect()
        gc.freeze()

    uvicorn.server.Server.startup = startup


def main() -> None:
    path = os.environ.get("BENCH_GC_STATS")
    if path:
        gc.callbacks.append(_on_gc)
        threading.Thread(target=_dump_forever, args=(path,), daemon=True).start()
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        _freeze_after_startup()
    from inprod.cli import main as inprod_main

    sys.argv = ["inprod", *sys.argv[1:]]
    inprod_main()


if __name__ == "__main__":
    main()
