#!/usr/bin/env python3
"""Status latency while a large load runs, beside the same measurement on an idle server,
in one run. Starts modeld (BUILD_DIR/runtime/modeld) on 127.0.0.1 with one virtual device,
writes a safetensors file of SIZE_MIB (default 2048) F16 weights, then:
  idle:    get_model_status round trips for 3 s
  loading: get_model_status round trips on a second connection while post_model_load copies
           the file into the device
  filling: the same for 2 s after the load answered, while the RAM cache reads the file in
           the background (a cold load on a CPU device reads straight into the device)
and prints p50/p99/max of each. Target: p99 under 10 ms during the load.
Usage: status_during_load.py BUILD_DIR [SIZE_MIB]"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_support import Client, write_model  # noqa: E402


def percentiles(samples):
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, len(s) * 99 // 100)], s[-1]


def measure(client, stop):
    samples = []
    while not stop():
        start = time.perf_counter()
        client.call("get_model_status")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build, mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    work = tempfile.mkdtemp(prefix="status_during_load_")
    server = None
    try:
        os.makedirs(work + "/models")
        write_model(work + "/models/big.safetensors", mib)
        server = subprocess.Popen([build + "/runtime/modeld", "--listen", "127.0.0.1:0", "--data-dir", work + "/data",
                                   "--model-root", work + "/models", "--devices", "cpu:0=%dMiB" % (mib + 512)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(server.stdout.readline().rsplit(":", 1)[1])
        status = Client(port)
        deadline = time.time() + 3
        idle = measure(status, lambda: time.time() > deadline)

        done = threading.Event()
        result = {}

        def load():
            result["reply"] = Client(port).call("post_model_load", {"model_id": "big.safetensors"})
            done.set()

        threading.Thread(target=load).start()
        loading = measure(status, done.is_set)
        reply = result["reply"]
        if not reply.get("success"):
            sys.exit("load failed: %s" % reply)
        data = reply["data"]
        deadline = time.time() + 2
        filling = measure(status, lambda: time.time() > deadline)
        timings = ", ".join("%s %.1f" % (k, v) for k, v in data["timings"].items())
        print("file: %d MiB; load_time_ms %.1f (%s)" % (mib, data["load_time_ms"], timings))
        for name, samples in (("idle", idle), ("during load", loading), ("cache fill", filling)):
            p50, p99, worst = percentiles(samples)
            print("status %-12s n=%6d  p50 %.3f ms  p99 %.3f ms  max %.3f ms" % (name, len(samples), p50, p99, worst))
        p99 = percentiles(loading)[1]
        print("target p99 < 10 ms during the load: %s" % ("PASS" if p99 < 10 else "FAIL"))
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
