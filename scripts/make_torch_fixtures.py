#!/usr/bin/python3
"""Writes real torch files for the formats tests: run with Debian's /usr/bin/python3 (torch 1.13).

Usage: make_torch_fixtures.py OUTPUT_DIR

Every file is small and deterministic. Nothing here is ever loaded by the tests; the C++ side
only reads bytes, so the deliberately malicious fixture is safe to write.
"""
import collections
import os
import sys

try:
    import torch
except ImportError:
    # The tests that read these files fail without them, so the build stops here instead.
    sys.exit("torch is not importable by %s: cannot write the torch fixtures (install python3-torch)" % sys.executable)


class RunsCommand:
    """Pickles as a call to os.system, the classic malicious checkpoint."""

    def __reduce__(self):
        return (os.system, ("echo modeld-fixture",))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.linear(x) * 2


def state_dict():
    torch.manual_seed(0)
    weights = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    weights[0, 1] = float("nan")
    weights[2, 3] = float("inf")
    half = torch.ones(2, 3, dtype=torch.float16)
    half[1, 2] = float("-inf")
    return collections.OrderedDict(
        [
            ("encoder.weight", weights),
            ("encoder.bias", torch.zeros(3, dtype=torch.float32)),
            ("decoder.weight", half),
            ("decoder.scale", torch.tensor(0.5, dtype=torch.bfloat16)),
            ("steps", torch.tensor([1, 2, 3], dtype=torch.int64)),
        ]
    )


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(out, "state_dict.pt"))
    torch.save(sd, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)

    # A Stable-Diffusion-style .ckpt: nested state_dict, views sharing one storage.
    base = torch.arange(20, dtype=torch.float32)
    ckpt = {
        "epoch": 3,
        "global_step": 1000,
        "state_dict": {
            "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3),
            "model.diffusion_model.out.2.bias": base[4:8],
            "first_stage_model.decoder.conv_in.bias": base[10:20].view(2, 5),
        },
    }
    torch.save(ckpt, os.path.join(out, "sd_style.ckpt"))

    torch.save({"payload": RunsCommand(), "w": torch.ones(2)}, os.path.join(out, "malicious.pt"))

    torch.jit.save(torch.jit.script(Tiny()), os.path.join(out, "scripted.pt"))


if __name__ == "__main__":
    main()
