#!/usr/bin/env python3
"""Chaos test: a storm of every command against a real modeld while faults are injected.

16 connections send a random mix of every command (loads with every dtype and evict, loads
with leases, keep-alives, pinning and priorities, releases, unloads plain and forced, validations at every level, metadata puts with and without expected_revision, cache
commands, benchmarks, status, subscriptions, cancels, timeout_ms from 50 ms up) against two
virtual devices and real model files. Another connection injects crash, hang, slow and oom
into random devices and services, and files are added, truncated and removed under the root.

Then it checks, and prints as one summary line: every request answered exactly once (none
lost, none twice, none malformed); every acknowledged metadata write present; every device
ready again within 10 s of the last fault, each one's `used` equal to the sum of its loaded
models' bytes less what they share (`shared_saved`), the RAM cache's used its entries' bytes less
what they share (`shared_bytes_saved`), within its budget; no lease left once every connection that took one has closed; the server's RSS back within 10% of its value before the storm. Exit status 0
only when all of that holds.

    chaos.py --binary build/runtime/modeld [--seconds 60] [--connections 16] [--seed N]
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

DEVICES = ["cpu:0", "cpu:1"]
SERVICES = ["metadata_store", "cache", "validation"]
DTYPES = ["auto", "fp32", "fp16", "bf16", "Fp16"]
LEVELS = ["basic", "standard", "comprehensive", "Comprehensive"]
# A crash more often than this per target would reach the supervisors' restart limit (5 in 60 s)
# and mark it failed for good, which the storm is not meant to test.
MAX_CRASHES_PER_MINUTE = 3


def write_safetensors(path, values, seed=0):
    header = json.dumps({"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, values * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.write(bytes(rng.getrandbits(8) & 0x3F for _ in range(values * 4)))


def write_checkpoint(path, unet_values, seed):
    """A checkpoint of its own unet (`seed`) and the VAE and text encoder every one of them shares."""
    parts = [("model.diffusion_model.input_blocks.0.0.weight", unet_values, seed),
             ("first_stage_model.decoder.conv_in.weight", 8192, 100),
             ("cond_stage_model.transformer.text_model.embeddings.weight", 4096, 200)]
    header, offset = {}, 0
    for name, values, _ in parts:
        header[name] = {"dtype": "F32", "shape": [values], "data_offsets": [offset, offset + values * 4]}
        offset += values * 4
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for _, values, part_seed in parts:
            rng = random.Random(part_seed)
            f.write(bytes(rng.getrandbits(8) & 0x3F for _ in range(values * 4)))


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# How long a connection waits for any answer before it counts what is unanswered as lost.
STALL_SECONDS = 60


class Ledger:
    """Every request sent and every answer seen, by request_id."""

    def __init__(self):
        self.sent = {}        # request_id -> command
        self.answers = {}     # request_id -> count
        self.malformed = []   # lines that are no valid answer
        self.events = 0
        self.acked_writes = {}  # model_id -> [(revision, custom)]
        self.codes = {}
        self.examples = {}  # code -> the first message with it
        self.shared_loads = 0  # loads that found components held already (shared_components)

    def answer(self, line):
        try:
            msg = json.loads(line)
        except ValueError:
            self.malformed.append(line[:200])
            return None
        if not isinstance(msg, dict):
            self.malformed.append(line[:200])
            return None
        if "event" in msg:
            if msg["event"] not in ("progress", "status", "lease_revoked"):
                self.malformed.append(line[:200])
            self.events += 1
            return None
        rid = msg.get("request_id")
        ok = msg.get("success")
        well_formed = isinstance(ok, bool) and ("data" in msg if ok else (
            isinstance(msg.get("error"), dict) and isinstance(msg["error"].get("code"), str)
            and isinstance(msg["error"].get("message"), str)))
        if not well_formed or rid not in self.sent:
            self.malformed.append(line[:200])
            return None
        self.answers[rid] = self.answers.get(rid, 0) + 1
        code = "OK" if ok else msg["error"]["code"]
        self.codes[code] = self.codes.get(code, 0) + 1
        if not ok:
            self.examples.setdefault(code, f"{self.sent[rid]}: {msg['error']['message'][:160]}")
        elif isinstance(msg["data"], dict) and msg["data"].get("shared_components"):
            self.shared_loads += 1
        return msg


class Connection:
    """One client connection: sends requests, reads every line, keeps a few in flight."""

    def __init__(self, name, port, ledger, rng, models, deadline):
        self.name, self.port, self.ledger, self.rng = name, port, ledger, rng
        self.models, self.deadline = models, deadline
        self.counter = 0
        self.in_flight = {}  # request_id -> future
        self.subscriptions = []
        self.leases = []  # lease ids this connection was given

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 24)
        self.read_task = asyncio.create_task(self.read_loop())

    async def read_loop(self):
        while True:
            line = await self.reader.readline()
            if not line:
                break
            msg = self.ledger.answer(line.decode("utf-8", "replace"))
            if msg is None:
                continue
            data = msg.get("data")
            if isinstance(data, dict) and isinstance(data.get("lease_id"), str):
                self.leases = (self.leases + [data["lease_id"]])[-8:]
            fut = self.in_flight.pop(msg["request_id"], None)
            if fut and not fut.done():
                fut.set_result(msg)
        for fut in self.in_flight.values():
            if not fut.done():
                fut.set_result(None)

    async def send(self, command, data=None, **envelope):
        self.counter += 1
        rid = f"{self.name}-{self.counter}"
        request = {"request_id": rid, "command": command, "data": data or {}}
        request.update(envelope)
        fut = asyncio.get_running_loop().create_future()
        self.in_flight[rid] = fut
        self.ledger.sent[rid] = command
        self.writer.write((json.dumps(request) + "\n").encode())
        await self.writer.drain()
        return rid, fut

    async def call(self, command, data=None, **envelope):
        """The answer, or None when the connection closed or nothing came within STALL_SECONDS."""
        _, fut = await self.send(command, data, **envelope)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), STALL_SECONDS)
        except asyncio.TimeoutError:
            return None

    def random_request(self):
        r, model = self.rng, self.rng.choice(self.models())
        device = r.choice(DEVICES + [None])
        with_device = {"device_id": device} if device else {}
        choices = [
            ("ping", {}), ("hello", {"client": "chaos"}), ("get_models", {"limit": r.randint(1, 50)}),
            ("get_models", {"format": r.choice(["SafeTensors", "gguf", "onnx"])}),
            ("get_model", {"model_id": model}), ("get_model_status", {}), ("get_device_status", {}),
            ("get_device_list", {}), ("get_model_metadata", {"model_id": model}),
            ("get_model_components", {"model_id": model}),
            ("post_model_validate", {"model_id": model, "validation_level": r.choice(LEVELS)}),
            ("post_model_load", dict(model_id=model, dtype=r.choice(DTYPES), evict=r.random() < 0.5, **with_device)),
            ("post_model_load", dict(model_id=model, **with_device)),
            ("post_model_unload", dict(model_id=model, **with_device) if r.random() < 0.7 else with_device),
            ("post_model_load", dict(model_id=model, lease=True, keep_alive_ms=r.choice([-1, 200, 1000, 5000]),
                                     pinned=r.random() < 0.2, priority=r.choice(["low", "normal", "high", "High"]),
                                     evict=r.random() < 0.5, **with_device)),
            ("release", {"lease_id": r.choice(self.leases) if self.leases and r.random() < 0.8
                         else "lease-0000000000000000"}),
            ("post_model_unload", dict(model_id=model, force=True, **with_device)),
            ("post_model_benchmark", dict(model_id=model, iterations=r.randint(1, 3), warmup=r.randint(0, 1),
                                          benchmark_type=r.choice(["full", "load", "Inference"]), **with_device)),
            ("get_model_benchmark_results", {"model_id": model}),
            ("get_model_cache", {}), ("post_model_cache", {"model_id": model}),
            ("delete_model_cache", {"model_id": model} if r.random() < 0.7 else {}),
            ("post_model_scan", {}),
            ("put_model_metadata", None),
        ]
        return r.choice(choices)

    async def storm(self):
        """Sends until the deadline, up to 4 requests in flight, some cancelled."""
        pending = set()
        while time.monotonic() < self.deadline:
            command, data = self.random_request()
            envelope = {}
            if self.rng.random() < 0.2:
                envelope["timeout_ms"] = self.rng.choice([50, 100, 250, 1000, 3000])
            if self.rng.random() < 0.1:
                envelope["stream"] = True
            if command == "put_model_metadata":
                pending.add(asyncio.create_task(self.put_metadata(envelope)))
            else:
                rid, fut = await self.send(command, data, **envelope)
                pending.add(fut)
                if self.rng.random() < 0.05:
                    await self.send("cancel", {"target_request_id": rid})
            roll = self.rng.random()
            if roll < 0.02 and len(self.subscriptions) < 2:
                msg = await self.call("subscribe_status", {"interval_ms": self.rng.choice([50, 200, 500])})
                if msg and msg.get("success"):
                    self.subscriptions.append(msg["data"]["subscription_id"])
            elif roll < 0.04 and self.subscriptions:
                await self.call("unsubscribe", {"subscription_id": self.subscriptions.pop()})
            while len(pending) >= 4:
                done, pending = await asyncio.wait(pending, timeout=STALL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                if not done:  # nothing answered for a long time: what is unanswered counts as lost
                    return
        if pending:
            await asyncio.wait(pending, timeout=STALL_SECONDS)

    async def put_metadata(self, envelope):
        model = self.rng.choice(self.models())
        marker = f"{self.name}-{self.counter}-{self.rng.random():.6f}"
        data = {"model_id": model, "metadata": {"custom": {"chaos": marker}, "tags": ["Chaos", self.name]}}
        if self.rng.random() < 0.5:
            current = await self.call("get_model_metadata", {"model_id": model})
            if current and current.get("success"):
                data["expected_revision"] = current["data"]["revision"]
        msg = await self.call("put_model_metadata", data, **envelope)
        if msg and msg.get("success"):
            self.ledger.acked_writes.setdefault(model, []).append((msg["data"]["revision"], marker))

    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
        await self.read_task


class Storm:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ledger = Ledger()
        self.faults = 0
        self.crashes = {}
        self.work = tempfile.mkdtemp(prefix="modeld-chaos-")
        self.root = os.path.join(self.work, "models")
        self.chaos_dir = os.path.join(self.root, "chaos")
        self.model_ids = []

    def models(self):
        return self.model_ids

    def start_server(self):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_demo_models.py"), self.root],
                       check=True, stdout=subprocess.DEVNULL)
        os.makedirs(self.chaos_dir, exist_ok=True)
        for i in range(4):
            write_safetensors(os.path.join(self.chaos_dir, f"seed{i}.safetensors"), 4096 * (i + 1), seed=i)
        for i in range(3):  # fine-tunes of one base: devices share their VAE and text encoder
            write_checkpoint(os.path.join(self.chaos_dir, f"finetune{i}.safetensors"), 32768, seed=10 + i)
        self.proc = subprocess.Popen(
            [self.args.binary, "--listen", "127.0.0.1:0", "--model-root", self.root, "--data-dir",
             os.path.join(self.work, "data"), "--devices", "cpu:0=256MiB,cpu:1=256MiB", "--cache-size", "128MiB",
             "--enable-fault-injection", "--status-deadline-ms", "200", "--drain-grace-ms", "5000"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "stderr.log"), "wb"))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on"):
            raise SystemExit("chaos: modeld did not start: " + open(os.path.join(self.work, "stderr.log")).read())
        self.port = int(line.rsplit(":", 1)[1])

    async def refresh_models(self, conn):
        msg = await conn.call("get_models", {"limit": 1000})
        if msg and msg.get("success"):
            self.model_ids = [m["model_id"] for m in msg["data"]["models"]] or self.model_ids

    async def warm_up(self, conn):
        """Touches every path once (torch threads, allocator arenas), then empties the devices
        and the cache, so the RSS baseline is that of a server that has worked."""
        await self.refresh_models(conn)
        for model in self.model_ids:
            await conn.call("post_model_validate", {"model_id": model, "validation_level": "comprehensive"})
            await conn.call("post_model_load", {"model_id": model, "device_id": "cpu:0"})
            await conn.call("post_model_benchmark", {"model_id": model, "device_id": "cpu:1", "iterations": 1})
        await self.settle(conn)

    async def settle(self, conn):
        await conn.call("post_model_unload", {})
        await conn.call("delete_model_cache", {})
        await asyncio.sleep(1.0)

    async def inject_faults(self, conn, deadline):
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.3, 1.2))
            target = self.rng.choice([f"device:{d}" for d in DEVICES] + SERVICES)
            modes = ["crash", "hang", "slow"] + (["oom"] if target.startswith("device") else [])
            mode = self.rng.choice(modes)
            now = time.monotonic()
            recent = [t for t in self.crashes.get(target, []) if now - t < 60]
            if mode == "crash" and len(recent) >= MAX_CRASHES_PER_MINUTE:
                mode = "hang"
            duration = self.rng.randint(100, 1500)
            msg = await conn.call("inject_fault", {"target": target, "mode": mode, "duration_ms": duration})
            if msg and msg.get("success"):
                self.faults += 1
                if mode == "crash":
                    self.crashes[target] = recent + [now]

    async def mutate_files(self, deadline):
        n = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.2, 0.8))
            files = sorted(os.listdir(self.chaos_dir))
            roll = self.rng.random()
            if roll < 0.4 or not files:
                n += 1
                write_safetensors(os.path.join(self.chaos_dir, f"new{n}.safetensors"), self.rng.randint(64, 65536), n)
            elif roll < 0.7:
                path = os.path.join(self.chaos_dir, self.rng.choice(files))
                with open(path, "r+b") as f:
                    f.truncate(max(0, os.path.getsize(path) // 2))
            else:
                os.remove(os.path.join(self.chaos_dir, self.rng.choice(files)))

    async def wait_ready(self, conn, limit):
        """Seconds until every device is ready (or busy) again, or None."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            msg = await conn.call("get_device_status", {})
            if msg and msg.get("success") and all(d["state"] in ("ready", "busy") for d in msg["data"]["devices"]):
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        return None

    async def storm(self, seconds, faults):
        self.storms = getattr(self, "storms", 0) + 1
        prefix = f"s{self.storms}"
        deadline = time.monotonic() + seconds
        clients = [Connection(f"{prefix}c{i}", self.port, self.ledger, random.Random(self.rng.random()), self.models, deadline)
                   for i in range(self.args.connections)]
        for c in clients:
            await c.open()
        injector = Connection(f"{prefix}faults", self.port, self.ledger, self.rng, self.models, deadline)
        await injector.open()
        control = Connection(f"{prefix}catalog", self.port, self.ledger, self.rng, self.models, deadline)
        await control.open()

        async def keep_catalog_fresh():
            while time.monotonic() < deadline:
                await asyncio.sleep(2)
                await self.refresh_models(control)

        work = [self.mutate_files(deadline), keep_catalog_fresh()] + [c.storm() for c in clients]
        if faults:
            work.append(self.inject_faults(injector, deadline))
        await asyncio.gather(*work)
        for c in clients + [injector, control]:
            await c.close()

    async def run(self):
        self.start_server()
        control = Connection("control", self.port, self.ledger, self.rng, self.models, 0)
        await control.open()
        await self.warm_up(control)

        # A short storm first, without faults, so the baseline is that of a server whose caches,
        # pools and allocator arenas have seen the work once.
        await self.storm(min(5, self.args.seconds), faults=False)
        await self.settle(control)
        rss_before = rss_bytes(self.proc.pid)
        # Closed through the storm: idle all along, a long storm would outlast modeld's idle
        # timeout (10 minutes), which closes it with a line of its own.
        await control.close()
        await self.storm(self.args.seconds, faults=True)
        faults_stopped = time.monotonic()
        control = Connection("checks", self.port, self.ledger, self.rng, self.models, 0)
        await control.open()

        problems = []
        ready_after = await self.wait_ready(control, 10 - (time.monotonic() - faults_stopped) + 1.5)
        if ready_after is None:
            problems.append("a device was not ready 10 s after the faults stopped")
        # Every storm connection has closed: each lease it held is given back.
        leased = None
        for _ in range(50):
            status = (await control.call("get_model_status", {}))["data"]
            leased = [(m["model_id"], len(m["leases"])) for m in status["loaded_models"] if m["leases"]]
            if not leased:
                break
            await asyncio.sleep(0.1)
        if leased:
            problems.append(f"leases outlived their connections: {leased[:4]}")
        status = (await control.call("get_model_status", {}))["data"]
        restarts = sum(d["restarts"] for d in status["devices"]) + sum(s["restarts"] for s in status["services"])
        for d in status["devices"]:
            used = d["memory"].get("used")
            # Its models' bytes count a component they share once per model; the device holds it once.
            held = (sum(m["bytes"] for m in d["loaded_models"]) - d["memory"].get("shared_saved", 0) +
                    d["memory"].get("allocator_reserve", 0))
            if used != held:
                problems.append(f"{d['device_id']}: used {used} != {held} held by its models")
        # The RAM cache holds each entry's own bytes and each shared component block once.
        cache = status["cache"]
        cache_held = sum(e["bytes"] for e in cache["entries"]) - cache["shared_bytes_saved"]
        if cache["used_bytes"] != cache_held or cache["used_bytes"] > cache["budget_bytes"]:
            problems.append(f"cache: used {cache['used_bytes']} != {cache_held} held by its entries"
                            f" (budget {cache['budget_bytes']})")

        missing = 0
        for model, writes in self.ledger.acked_writes.items():
            msg = await control.call("get_model_metadata", {"model_id": model})
            if not msg or not msg.get("success"):
                continue  # its file was removed by the storm, and its metadata with it
            revision, marker = max(writes)
            current = msg["data"]
            if current["revision"] < revision or (current["revision"] == revision and
                                                  current.get("custom", {}).get("chaos") != marker):
                missing += 1
        if missing:
            problems.append(f"{missing} acknowledged metadata writes missing")

        await self.settle(control)
        rss_after = rss_bytes(self.proc.pid)
        await control.close()
        self.proc.send_signal(signal.SIGTERM)
        exit_code = self.proc.wait(timeout=30)
        if exit_code != 0:
            problems.append(f"modeld exited {exit_code}")

        sent = len(self.ledger.sent)
        once = sum(1 for rid in self.ledger.sent if self.ledger.answers.get(rid) == 1)
        lost = sum(1 for rid in self.ledger.sent if rid not in self.ledger.answers)
        twice = sum(1 for n in self.ledger.answers.values() if n > 1)
        malformed = len(self.ledger.malformed)
        growth = (rss_after - rss_before) / rss_before if rss_before else 0
        if lost:
            examples = [f"{rid} ({self.ledger.sent[rid]})" for rid in self.ledger.sent if rid not in self.ledger.answers]
            problems.append(f"{lost} requests never answered, e.g. " + ", ".join(examples[:8]))
        if twice:
            problems.append(f"{twice} requests answered more than once")
        if malformed:
            problems.append(f"{malformed} malformed lines, e.g. {self.ledger.malformed[0]!r}")
        if growth > 0.10 and not self.args.no_rss_check:
            problems.append(f"RSS grew {growth:.1%} (limit 10%)")
        print(f"chaos: seconds={self.args.seconds} connections={self.args.connections} requests={sent} "
              f"answered_once={once} lost={lost} answered_twice={twice} malformed={malformed} "
              f"faults={self.faults} restarts={restarts} events={self.ledger.events} shared_loads={self.ledger.shared_loads} "
              f"writes_acked={sum(len(w) for w in self.ledger.acked_writes.values())} writes_missing={missing} "
              f"ready_after_s={ready_after if ready_after is None else round(ready_after, 2)} "
              f"rss_before_mib={rss_before / 2**20:.1f} rss_after_mib={rss_after / 2**20:.1f} ({growth:+.1%})")
        print("chaos: answers by code: " + ", ".join(f"{k}={v}" for k, v in sorted(self.ledger.codes.items())))
        if self.args.verbose:
            for code, example in sorted(self.ledger.examples.items()):
                print(f"chaos: e.g. {code}: {example}")
        for p in problems:
            print("chaos: FAILED: " + p)
        if problems:
            print("chaos: modeld stderr kept in " + self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "runtime", "modeld"))
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--verbose", action="store_true", help="print one message of each error code")
    parser.add_argument("--no-rss-check", action="store_true",
                        help="report RSS but do not require it back within 10%% (sanitizer builds keep freed "
                             "memory in quarantine)")
    args = parser.parse_args()
    print(f"chaos: seed {args.seed}")
    sys.exit(asyncio.run(Storm(args).run()))


if __name__ == "__main__":
    main()
