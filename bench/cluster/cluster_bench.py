#!/usr/bin/env python3
"""Nodes side by side (issue 13), in one run on this machine:

1. get_model_status on a front end that joined a second node (2 nodes x 8 virtual CPU
   devices: 8 local, 8 shown as b/cpu:N) beside a single modeld with 16 devices, each measured
   by protocol_load (50 connections, unpipelined), alternated twice; the best of each.
   Targets: the 2-node rate >= 0.8x the 1-node rate, its p99 < 3 ms.
2. A routed load (device b/cpu:0, through the front end) beside a local one (cpu:0 of the
   same front end), each a load and an unload of a 4 MiB file that both nodes' roots hold,
   20 times, alternated: the median load_time_ms modeld reports and the median the client
   waits for the answer; the overhead of the hop is the difference.

Usage: cluster_bench.py BUILD_DIR [DURATION_S]"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_support import Client, write_model  # noqa: E402


def devices(n):
    return ",".join(f"cpu:{i}=256MiB" for i in range(n))


class Server:
    """A modeld of its own data dir over `root`; `ports` the ports it printed."""

    def __init__(self, binary, root, extra):
        self.data = tempfile.mkdtemp(prefix="modeld-cluster-data-")
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--model-root", root, "--data-dir", self.data,
                                      "--log-level", "error"] + extra, stdout=subprocess.PIPE, text=True)
        self.node_port = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"modeld {extra} did not start")
            port = int(line.rsplit(":", 1)[1])
            if line.startswith("node "):
                self.node_port = port
            elif line.startswith("listening on "):
                self.port = port
                break

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def status_rate(load_binary, port, duration):
    out = subprocess.run([load_binary, "--port", str(port), "--connections", "50", "--duration", str(duration),
                          "--warmup", "1", "--command", "get_model_status"], capture_output=True, text=True, check=True)
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    return float(fields["req_per_s"]), float(fields["p99_ms"])


def load_times(client, device_id, model_id):
    started = time.perf_counter()
    answer = client.call("post_model_load", {"model_id": model_id, "device_id": device_id})
    waited = (time.perf_counter() - started) * 1000
    if not answer["success"]:
        raise RuntimeError(f"load on {device_id}: {answer['error']}")
    client.call("post_model_unload", {"model_id": model_id, "device_id": device_id})
    return answer["data"]["load_time_ms"], waited


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    duration = sys.argv[2] if len(sys.argv) > 2 else "5"
    binary = os.path.join(build, "runtime", "modeld")
    load_binary = os.path.join(build, "bench", "protocol", "protocol_load")
    root = tempfile.mkdtemp(prefix="modeld-cluster-models-")
    write_model(os.path.join(root, "shared.safetensors"), 4)
    servers = []
    try:
        one = Server(binary, root, ["--devices", devices(16), "--node-name", "one"])
        b = Server(binary, root, ["--devices", devices(8), "--node-name", "b", "--node-listen", "127.0.0.1:0"])
        a = Server(binary, root, ["--devices", devices(8), "--node-name", "a", "--join", f"127.0.0.1:{b.node_port}"])
        servers = [one, b, a]
        client = Client(a.port)
        for _ in range(100):
            if len(client.call("get_device_list")["data"]["devices"]) == 16:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the front end does not show b's 8 devices")

        rates = {"1 node x 16": [], "2 nodes x 8": []}
        for _ in range(2):
            rates["1 node x 16"].append(status_rate(load_binary, one.port, duration))
            rates["2 nodes x 8"].append(status_rate(load_binary, a.port, duration))
        for name, runs in rates.items():
            for n, (rps, p99) in enumerate(runs, 1):
                print(f"get_model_status, {name:11} run {n}: {rps:9.0f} req/s, p99 {p99:.3f} ms")
        single = max(rate for rate, _ in rates["1 node x 16"])
        joined, joined_p99 = max(rates["2 nodes x 8"])
        ratio = joined / single
        print(f"2 nodes x 8 devices: {ratio:.2f}x the rate of 1 node x 16 (target >= 0.8x: "
              f"{'held' if ratio >= 0.8 else 'missed'}), p99 {joined_p99:.3f} ms (target < 3 ms: "
              f"{'held' if joined_p99 < 3 else 'missed'})")

        local, remote = [], []
        for _ in range(20):
            local.append(load_times(client, "cpu:0", "shared.safetensors"))
            remote.append(load_times(client, "b/cpu:0", "shared.safetensors"))
        for name, runs in (("local cpu:0", local), ("routed b/cpu:0", remote)):
            print(f"load of 4 MiB on {name:14}: load_time_ms median {statistics.median(r[0] for r in runs):.3f}, "
                  f"answer after {statistics.median(r[1] for r in runs):.3f} ms (median of {len(runs)})")
        hop = statistics.median(r[1] for r in remote) - statistics.median(r[1] for r in local)
        print(f"routed load overhead: {hop:.3f} ms per load")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
