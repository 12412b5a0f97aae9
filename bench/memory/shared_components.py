#!/usr/bin/env python3
"""Shared components side by side: two fine-tunes of one base model (each its own unet, the
same VAE and text encoder byte for byte, in SDXL's proportions scaled down) loaded on one
virtual CPU device by modeld with --share-components true and with false, in one run.

For each setting, on a fresh modeld (BUILD_DIR/runtime/modeld) with a fresh data dir:
round 1 loads A then B (the first load of each file computes its component identities; the
RAM cache then fills with both files), then unloads both; round 2 loads them again (the
catalog knows the identities, and both loads are RAM cache hits, from blocks when sharing). Both
settings run twice, alternated, after the files were read once into the page cache. Prints each
load's load_time_ms as modeld measured it, the device's memory.used (physical) and
memory.logical after both loads, and shared_saved, and the RAM cache's used_bytes once both
files are in; then sharing's memory (device and cache) and B's load time as ratios of the
unshared run.
Usage: shared_components.py BUILD_DIR [UNET_MIB] [VAE_MIB] [TEXT_MIB]"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_support import Client  # noqa: E402


def write_checkpoint(path, parts):
    """A safetensors checkpoint of F16 tensors: (name, MiB, seed byte) each."""
    header, offset = {}, 0
    for name, mib, _ in parts:
        size = mib << 20
        header[name] = {"dtype": "F16", "shape": [size // 2], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, mib, seed in parts:
            chunk = bytes((seed + i) % 256 for i in range(256)) * 4096  # 1 MiB
            for _ in range(mib):
                f.write(chunk)


def cache_used(client):
    """The RAM cache's used_bytes once both files are in (fills end after the loads answer)."""
    for _ in range(600):
        cache = client.call("get_model_cache", {})["data"]
        if len(cache["entries"]) == 2:
            return cache["used_bytes"]
        time.sleep(0.05)
    raise RuntimeError("the RAM cache did not take both files within 30 s")


def run(binary, root, share, device_mib):
    data_dir = tempfile.mkdtemp(prefix="modeld-shared-data-")
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--model-root", root, "--data-dir", data_dir,
         "--devices", f"cpu:0={device_mib}MiB", "--cache-size", f"{device_mib}MiB", "--share-components", share,
         "--log-level", "error"],
        stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().rsplit(":", 1)[1])
        client = Client(port)
        rounds = []
        for _ in range(2):
            times = {}
            for model in ("a", "b"):
                answer = client.call("post_model_load", {"model_id": f"ft_{model}.safetensors"})
                if not answer["success"]:
                    raise RuntimeError(f"share={share}: {answer['error']}")
                times[model] = answer["data"]["load_time_ms"]
            device = client.call("get_device_status", {"device_id": "cpu:0"})["data"]["devices"][0]
            memory = device["memory"]
            rounds.append((times, memory["used"], memory["logical"], memory["shared_saved"], cache_used(client)))
            for model in ("a", "b"):
                client.call("post_model_unload", {"model_id": f"ft_{model}.safetensors"})
        return rounds
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.join(sys.argv[1], "runtime", "modeld")
    unet, vae, text = (int(a) for a in (sys.argv[2:5] + ["512", "16", "160"][len(sys.argv[2:5]):]))
    root = tempfile.mkdtemp(prefix="modeld-shared-")
    try:
        for model, seed in (("a", 1), ("b", 2)):
            write_checkpoint(os.path.join(root, f"ft_{model}.safetensors"),
                             [("model.diffusion_model.input_blocks.0.0.weight", unet, seed),
                              ("first_stage_model.decoder.conv_in.weight", vae, 100),
                              ("conditioner.embedders.1.model.token_embedding.weight", text, 200)])
        device_mib = 2 * (unet + vae + text) + 64
        mib = 1 << 20
        print(f"two fine-tunes: unet {unet} MiB each, shared VAE {vae} MiB and text encoder {text} MiB (F16)")
        for name in os.listdir(root):  # the page cache holds both files before any run: no run pays the disk
            with open(os.path.join(root, name), "rb") as f:
                while f.read(16 << 20):
                    pass
        results = {"false": [], "true": []}
        for attempt in range(2):  # alternated, so neither setting has the machine to itself
            for share in ("false", "true"):
                rounds = run(binary, root, share, device_mib)
                results[share].append(rounds)
                for n, (times, used, logical, saved, cached) in enumerate(rounds, 1):
                    print(f"share={share:5} run {attempt + 1} round {n}: load A {times['a']:7.1f} ms, "
                          f"load B {times['b']:7.1f} ms; used {used / mib:7.1f} MiB, logical {logical / mib:7.1f} MiB, "
                          f"saved {saved / mib:6.1f} MiB; RAM cache {cached / mib:7.1f} MiB")
        for n in (0, 1):
            def best(share, model):
                return min(rounds[n][0][model] for rounds in results[share])
            off_used, on_used = results["false"][0][n][1], results["true"][0][n][1]
            off_cached, on_cached = results["false"][0][n][4], results["true"][0][n][4]
            print(f"round {n + 1} (best of 2): sharing holds {on_used / off_used:.2f}x the device memory and "
                  f"{on_cached / off_cached:.2f}x the RAM cache's; "
                  f"B loads in {best('true', 'b'):.1f} vs {best('false', 'b'):.1f} ms "
                  f"({best('true', 'b') / best('false', 'b'):.2f}x), A in {best('true', 'a'):.1f} vs "
                  f"{best('false', 'a'):.1f} ms ({best('true', 'a') / best('false', 'a'):.2f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
