#!/usr/bin/env python3
"""Eviction rules side by side: one mixed request trace replayed against modeld with
--eviction-policy lru and with --eviction-policy cost (the default), in one run.

Starts modeld (BUILD_DIR/runtime/modeld) on 127.0.0.1 twice, each time fresh, with one virtual
device of DEVICE_MIB (default 640) and --auto-evict, over a root of BIG models of BIG_MIB
(default 2 x 256 MiB) and SMALL models of SMALL_MIB (default 8 x 32 MiB), F16: more than the
device holds. The trace (seeded, the same for both) asks for a big model with probability 0.35
and a small one otherwise, each time `post_model_load`; a model already on the device answers
MODEL_ALREADY_LOADED (a hit, which counts as a use). Every load's load_time_ms is measured by
modeld; a reload is a load of a model evicted earlier. Prints, per rule: loads, reloads,
evictions, the total reload time and the total load time, and cost's reload time as a ratio of
lru's.
Usage: eviction_trace.py BUILD_DIR [REQUESTS] [SEED]"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_support import Client, write_model  # noqa: E402

BIG, BIG_MIB = 2, 256
SMALL, SMALL_MIB = 8, 32
DEVICE_MIB = 640


def trace(requests, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(requests):
        if rng.random() < 0.35:
            out.append(f"big_{rng.randrange(BIG)}.safetensors")
        else:
            out.append(f"small_{rng.randrange(SMALL)}.safetensors")
    return out


def replay(binary, root, data_dir, rule, requests):
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--model-root", root, "--data-dir", data_dir,
         "--devices", f"cpu:0={DEVICE_MIB}MiB", "--auto-evict", "--eviction-policy", rule, "--log-level", "error"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        client = Client(port)
        evicted_before = set()
        figures = {"loads": 0, "hits": 0, "reloads": 0, "big_reloads": 0, "evictions": 0, "reload_ms": 0.0,
                   "load_ms": 0.0}
        for model_id in requests:
            answer = client.call("post_model_load", {"model_id": model_id})
            if not answer["success"]:
                if answer["error"]["code"] != "MODEL_ALREADY_LOADED":
                    raise RuntimeError(f"{rule}: {model_id}: {answer['error']}")
                figures["hits"] += 1
                continue
            data = answer["data"]
            figures["loads"] += 1
            figures["load_ms"] += data["load_time_ms"]
            if model_id in evicted_before:
                figures["reloads"] += 1
                figures["big_reloads"] += model_id.startswith("big_")
                figures["reload_ms"] += data["load_time_ms"]
            figures["evictions"] += len(data["evicted"])
            evicted_before.update(data["evicted"])
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = os.path.join(sys.argv[1], "runtime", "modeld")
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    work = tempfile.mkdtemp(prefix="modeld-eviction-bench-")
    try:
        root = os.path.join(work, "models")
        os.makedirs(root)
        for i in range(BIG):
            write_model(os.path.join(root, f"big_{i}.safetensors"), BIG_MIB)
        for i in range(SMALL):
            write_model(os.path.join(root, f"small_{i}.safetensors"), SMALL_MIB)
        for name in os.listdir(root):  # in the page cache before either rule runs
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 24):
                    pass
        order = trace(requests, seed)
        print(f"trace: {requests} loads (seed {seed}): {BIG} x {BIG_MIB} MiB at 35%, {SMALL} x {SMALL_MIB} MiB at 65%; "
              f"device {DEVICE_MIB} MiB, --auto-evict; each rule twice, alternating, figures summed")
        results = {}
        for run, rule in enumerate(("lru", "cost", "lru", "cost")):
            figures = replay(binary, root, os.path.join(work, f"data-{run}"), rule, order)
            total = results.setdefault(rule, dict.fromkeys(figures, 0))
            for key, value in figures.items():
                total[key] += value
        for rule, f in results.items():
            print(f"{rule:>4}: loads {f['loads']:4d} (hits {f['hits']:4d})  reloads {f['reloads']:4d} "
                  f"(big {f['big_reloads']:3d})  evictions {f['evictions']:4d}  reload time {f['reload_ms']:9.1f} ms  "
                  f"all loads {f['load_ms']:9.1f} ms")
        if results["lru"]["reload_ms"] > 0:
            print(f"cost / lru: reload time {results['cost']['reload_ms'] / results['lru']['reload_ms']:.2f}x, "
                  f"all loads {results['cost']['load_ms'] / results['lru']['load_ms']:.2f}x")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
