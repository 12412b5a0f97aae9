#!/usr/bin/env python3
"""Replays the fuzz_protocol corpus against a real modeld over TCP.

Usage: python3 tests/fuzz_replay/replay.py [MODELD] [--corpus DIR] [--deadline SECONDS]
       (MODELD defaults to build/runtime/modeld, DIR to fuzz/corpus/protocol)

Starts MODELD on 127.0.0.1 port 0 with a temporary model root (one small safetensors file,
tiny.safetensors), a temporary data dir and one CPU device, then sends every corpus file on a
connection of its own, and all of them pipelined on one more connection. Each connection is
half-closed after its bytes are sent, so the server answers what is in flight and closes it;
every line it sent back is read up to that end. Checks:
  - every complete line (ended by '\\n') that the server's framing makes a request gets exactly
    one answer: a line longer than --max-frame-bytes gets one (FRAME_TOO_LARGE), a blank line
    none, an unfinished last line none; lines with an "event" member (progress events of
    stream: true, pushes of subscribe_status) are allowed on top;
  - every line the server sends is a JSON object, and every answer has a boolean success (in
    the connection's key case: hello may switch it to camel or Pascal);
  - the server is alive at the end and answers a final ping, then drains and exits 0 on SIGTERM.
Every read has a timeout and the whole run a deadline. Prints one summary line; exits 1 on
any failure (listing them first), 2 when the server cannot be started.
Python 3 standard library only.
"""
import argparse
import json
import os
import pathlib
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAME_LIMIT = 8192          # --max-frame-bytes: small, so long lines of the corpus are FRAME_TOO_LARGE
READ_TIMEOUT = 30.0         # seconds one read may wait for the next bytes
BOM = b"\xef\xbb\xbf"


def expected_answers(data, limit=FRAME_LIMIT):
    """Requests the server's framing makes of `data` (protocol/framing.hpp): complete lines
    only; a trailing '\\r' and a leading byte-order mark are not part of the line; a longer line
    than `limit` is one FRAME_TOO_LARGE; a line of spaces and tabs only is skipped."""
    count = 0
    for raw in data.split(b"\n")[:-1]:
        text = raw[:-1] if raw.endswith(b"\r") else raw
        if text.startswith(BOM):
            text = text[len(BOM):]
        if len(text) > limit or text.strip(b" \t"):
            count += 1
    return count


def member(obj, snake_key):
    """obj[snake_key] in any of the server's key cases (snake, camel, Pascal)."""
    want = snake_key.replace("_", "").lower()
    for key, value in obj.items():
        if key.replace("_", "").lower() == want:
            return True, value
    return False, None


def write_tiny_safetensors(path):
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<16f", *range(16)))


class Server:
    def __init__(self, binary, workdir):
        models = workdir / "models"
        models.mkdir()
        write_tiny_safetensors(models / "tiny.safetensors")
        self.log_path = workdir / "modeld.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--model-root", str(models), "--data-dir",
             str(workdir / "data"), "--devices", "cpu:0=256MiB", "--cache-size", "64MiB",
             "--max-frame-bytes", str(FRAME_LIMIT)],
            stdout=subprocess.PIPE, stderr=self.log)
        self.port = self._read_port(time.monotonic() + 60)

    def _read_port(self, deadline):
        line = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                line += chunk
                for text in line.decode(errors="replace").splitlines():
                    if text.startswith("listening on "):
                        threading.Thread(target=self._drain_stdout, daemon=True).start()
                        return int(text.rsplit(":", 1)[1])
            elif self.proc.poll() is not None:
                break
        raise RuntimeError(f"modeld did not print 'listening on' (exit {self.proc.poll()}); see {self.log_path}")

    def _drain_stdout(self):
        while self.proc.stdout.read(65536):
            pass

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def exchange(port, data, deadline):
    """Sends `data` on a new connection, half-closes it, and returns (lines, error): every line
    the server sent until it closed the connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    send_error = []

    def send():
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            send_error.append(str(e))

    sender = threading.Thread(target=send, daemon=True)  # reads go on while a long send blocks
    sender.start()
    received = b""
    error = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                error = "the run's deadline passed before the server closed the connection"
                break
            sock.settimeout(min(READ_TIMEOUT, left))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                error = f"no bytes from the server for {min(READ_TIMEOUT, left):.0f} s"
                break
            except ConnectionResetError:
                error = "the server reset the connection"
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
        sender.join(timeout=5)
    if send_error and error is None:
        error = "sending failed: " + send_error[0]
    lines = received.split(b"\n")
    if lines[-1]:
        error = error or "the server's last line has no '\\n'"
    return [line for line in lines[:-1]], error


def check(name, data, port, deadline, failures, totals):
    lines, error = exchange(port, data, deadline)
    answers = events = 0
    problems = [error] if error else []
    for line in lines:
        try:
            obj = json.loads(line)  # also fails on bytes that are not UTF-8
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            problems.append(f"not a JSON object in UTF-8: {line[:200]!r}")
            answers += 1  # a broken answer is still the answer
            continue
        if member(obj, "event")[0]:
            events += 1
            continue
        has, success = member(obj, "success")
        if not has or not isinstance(success, bool):
            problems.append(f"no boolean success: {line[:200]!r}")
        answers += 1
    want = expected_answers(data)
    if answers != want:
        problems.append(f"{answers} answers to {want} requests")
    for p in problems:
        failures.append(f"{name}: {p}")
    totals["requests"] += want
    totals["answers"] += answers
    totals["events"] += events


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modeld", nargs="?", default=str(ROOT / "build" / "runtime" / "modeld"))
    parser.add_argument("--corpus", default=str(ROOT / "fuzz" / "corpus" / "protocol"))
    parser.add_argument("--deadline", type=float, default=600, help="seconds for the whole run")
    args = parser.parse_args()

    files = sorted(p for p in pathlib.Path(args.corpus).iterdir() if p.is_file())
    if not files:
        print(f"replay: no files in {args.corpus}")
        return 1
    deadline = time.monotonic() + args.deadline
    failures = []
    totals = {"requests": 0, "answers": 0, "events": 0}
    with tempfile.TemporaryDirectory(prefix="modeld-replay-") as tmp:
        try:
            server = Server(args.modeld, pathlib.Path(tmp))
        except (OSError, RuntimeError) as e:
            print(f"replay: cannot start modeld: {e}")
            return 2
        alive = ping_ok = False
        try:
            pipelined = b""
            for path in files:
                data = path.read_bytes()
                if time.monotonic() >= deadline:
                    failures.append(f"{path.name}: not sent, the run's deadline passed")
                    continue
                check(path.name, data, server.port, deadline, failures, totals)
                pipelined += data if data.endswith(b"\n") or not data else data + b"\n"
                if not server.alive():
                    failures.append(f"{path.name}: modeld exited with {server.proc.returncode}")
                    break
            if server.alive():
                check("(all files pipelined)", pipelined, server.port, deadline, failures, totals)
            alive = server.alive()
            if alive:
                lines, error = exchange(server.port, b'{"request_id":"final","command":"ping"}\n',
                                        time.monotonic() + READ_TIMEOUT)
                try:
                    answer = json.loads(lines[0]) if not error and len(lines) == 1 else {}
                except ValueError:
                    answer = {}
                ping_ok = answer.get("success") is True and answer.get("request_id") == "final"
            if not alive:
                failures.append(f"modeld is not running at the end (exit {server.proc.returncode})")
            elif not ping_ok:
                failures.append("the final ping was not answered")
        finally:
            code = server.stop()
            server.log.close()
            log_tail = server.log_path.read_bytes()[-2000:].decode(errors="replace")
        if code != 0 and alive:
            failures.append(f"modeld exited with {code} after SIGTERM")
        for f in failures:
            print("FAIL", f)
        if failures and log_tail:
            print("--- end of modeld's log\n" + log_tail)
    verdict = "FAIL" if failures else "PASS"
    print(f"replay: {verdict}: {len(files)} files, each on its own connection and all pipelined on one; "
          f"{totals['answers']} answers to {totals['requests']} requests, {totals['events']} events; "
          f"server alive at the end: {'yes' if alive else 'no'}, final ping: {'ok' if ping_ok else 'no'}, "
          f"exit after SIGTERM: {code}; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
