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
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


def write_model(path, mib):
    count = mib * (1 << 20) // 2
    header = json.dumps({"w": {"dtype": "F16", "shape": [count], "data_offsets": [0, count * 2]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _ in range(mib):
            f.write(chunk)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, command, data=None):
        self.sock.sendall((json.dumps({"command": command, "data": data or {}}) + "\n").encode())
        return json.loads(self.file.readline())


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
