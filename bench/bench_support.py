"""What the Python benches share: model files to load, and a line client of modeld's protocol."""
import json
import socket
import struct


def write_model(path, mib):
    """A safetensors file of `mib` MiB of F16 weights, one tensor."""
    count = mib * (1 << 20) // 2
    header = json.dumps({"w": {"dtype": "F16", "shape": [count], "data_offsets": [0, count * 2]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _ in range(mib):
            f.write(chunk)


class Client:
    """One connection; call() sends a request and reads the next line."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, command, data=None):
        self.sock.sendall((json.dumps({"command": command, "data": data or {}}) + "\n").encode())
        return json.loads(self.file.readline())
