#!/usr/bin/python3
"""Writes model files for the gpu/ loader tests: run with Debian's /usr/bin/python3 (torch 1.13).

Usage: make_gpu_fixtures.py OUTPUT_DIR

Safetensors files are written by hand (the safetensors package is not installed), torch files by
torch itself. expected.txt holds what torch reads from each file after each dtype conversion,
one tensor a line:  FILE CONVERSION TENSOR DTYPE NUMEL SUM
with SUM the float64 sum of the converted values, so the C++ side can compare its loads against
torch's own reading of the same bytes.
"""
import collections
import json
import os
import struct
import sys

try:
    import torch
except ImportError:
    # The tests that read these files fail without them, so the build stops here instead.
    sys.exit("torch is not importable by %s: cannot write the gpu fixtures (install python3-torch)" % sys.executable)

SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}

CONVERSIONS = {"keep": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def raw_bytes(tensor):
    flat = tensor.contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        data = raw_bytes(tensor)
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def converted(tensor, conversion):
    target = CONVERSIONS[conversion]
    if target is None or not tensor.is_floating_point():
        return tensor
    return tensor.to(target)


def expected_lines(file_name, tensors):
    lines = []
    for conversion in CONVERSIONS:
        for name, tensor in tensors.items():
            t = converted(tensor, conversion)
            total = t.double().sum().item() if t.numel() else 0.0
            dtype = SAFETENSORS_DTYPES[t.dtype]
            lines.append("%s %s %s %s %d %.17g" % (file_name, conversion, name, dtype, t.numel(), total))
    return lines


def mixed_tensors(dtype):
    """Floating tensors of `dtype` beside integer, bool, scalar and empty ones."""
    g = torch.Generator().manual_seed(7)
    return collections.OrderedDict(
        [
            ("layers.0.weight", torch.randn(16, 32, generator=g).to(dtype)),
            ("layers.0.bias", torch.randn(16, generator=g).to(dtype)),
            ("layers.1.weight", (torch.randn(8, 16, generator=g) * 100).to(dtype)),
            ("scale", torch.tensor(0.3333, dtype=dtype)),
            ("empty", torch.zeros(0, 4, dtype=dtype)),
            ("positions", torch.arange(-5, 5, dtype=torch.int64)),
            ("mask", torch.tensor([True, False, True])),
            ("codes", torch.arange(0, 250, 10, dtype=torch.uint8)),
        ]
    )


def sd_style_tensors():
    g = torch.Generator().manual_seed(11)
    names = ["model.diffusion_model.input_blocks.%d.0.weight" % i for i in range(7)]
    names += ["first_stage_model.decoder.conv_in.weight", "first_stage_model.encoder.conv_in.bias"]
    names += ["cond_stage_model.transformer.text_model.embeddings.position_ids"]
    tensors = collections.OrderedDict()
    for i, name in enumerate(names):
        tensors[name] = torch.randn(4 + i, 8, generator=g, dtype=torch.float32)
    return tensors


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.register_buffer("steps", torch.arange(3, dtype=torch.int64))

    def forward(self, x):
        return self.linear(x) * 2


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    expected = []
    for dtype, label in ((torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")):
        tensors = mixed_tensors(dtype)
        name = "mixed_%s.safetensors" % label
        write_safetensors(os.path.join(out, name), tensors, {"format": "pt"})
        expected += expected_lines(name, tensors)

    write_safetensors(os.path.join(out, "sd_style.safetensors"), sd_style_tensors())

    # torch.save of the same kind of table, as a zip checkpoint; what torch reads back is the
    # truth the C++ side compares against.
    checkpoint = mixed_tensors(torch.float16)
    checkpoint["layers.2.weight"] = torch.randn(4, 16, generator=torch.Generator().manual_seed(3))
    checkpoint["layers.3.weight"] = torch.ones(4, 4, dtype=torch.bfloat16) / 3
    torch.save(checkpoint, os.path.join(out, "checkpoint.pt"))
    expected += expected_lines("checkpoint.pt", torch.load(os.path.join(out, "checkpoint.pt")))

    # About 4 MiB: the load/unload cycle test.
    g = torch.Generator().manual_seed(5)
    cycle = collections.OrderedDict(("block.%d.weight" % i, torch.randn(256, 256, generator=g)) for i in range(16))
    write_safetensors(os.path.join(out, "cycle_4mib.safetensors"), cycle)

    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(Tiny()), os.path.join(out, "scripted.pt"))

    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(expected) + "\n")


if __name__ == "__main__":
    main()
