#!/usr/bin/env python3
"""Writes the demo model root of the README's run command: small but real model files of
several formats and architectures (tensor names and shapes as the real ones have), so a new
user gets real answers at once. Deterministic; standard library only, plus torch (Debian's
python3-torch) for the PyTorch and TorchScript files when it is there.

Usage: make_demo_models.py DIR
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys


def f16_bytes(count, rng):
    # Small random half-precision values, packed with struct's 'e' format.
    return b"".join(struct.pack("<e", rng.uniform(-0.05, 0.05)) for _ in range(count))


def write_safetensors(path, tensors, metadata=None, seed=0):
    """tensors: list of (name, shape); all F16."""
    rng = random.Random(seed)
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, shape in tensors:
        count = 1
        for d in shape:
            count *= d
        blob = f16_bytes(count, rng)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def sd15_checkpoint():
    u = "model.diffusion_model."
    return [
        (u + "input_blocks.0.0.weight", (320, 4, 3, 3)),
        (u + "input_blocks.0.0.bias", (320,)),
        (u + "input_blocks.1.1.proj_in.weight", (320, 320, 1, 1)),
        (u + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", (320, 768)),
        (u + "input_blocks.1.1.transformer_blocks.0.attn2.to_v.weight", (320, 768)),
        (u + "time_embed.0.weight", (1280, 320)),
        (u + "out.2.weight", (4, 320, 3, 3)),
        ("first_stage_model.decoder.conv_in.weight", (512, 4, 3, 3)),
        ("first_stage_model.encoder.conv_out.weight", (8, 512, 3, 3)),
        ("first_stage_model.quant_conv.weight", (8, 8, 1, 1)),
        ("cond_stage_model.transformer.text_model.embeddings.position_embedding.weight", (77, 768)),
        ("cond_stage_model.transformer.text_model.final_layer_norm.weight", (768,)),
    ]


def kohya_lora():
    names = []
    for block in ("down_blocks_0_attentions_0_proj_in", "up_blocks_1_attentions_0_proj_out"):
        base = "lora_unet_" + block
        names += [(base + ".lora_down.weight", (4, 320)), (base + ".lora_up.weight", (320, 4)), (base + ".alpha", ())]
    base = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    names += [(base + ".lora_down.weight", (4, 768)), (base + ".lora_up.weight", (768, 4)), (base + ".alpha", ())]
    return names


def vae():
    return [
        ("encoder.conv_in.weight", (128, 3, 3, 3)),
        ("encoder.conv_out.weight", (8, 512, 3, 3)),
        ("decoder.conv_in.weight", (512, 4, 3, 3)),
        ("decoder.conv_out.weight", (3, 128, 3, 3)),
        ("quant_conv.weight", (8, 8, 1, 1)),
        ("post_quant_conv.weight", (4, 4, 1, 1)),
    ]


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, seed=0):
    rng = random.Random(seed)
    kvs = [
        ("general.architecture", 8, gguf_string("llama")),
        ("general.name", 8, gguf_string("tiny-llama-demo")),
        ("llama.context_length", 4, struct.pack("<I", 256)),
        ("llama.embedding_length", 4, struct.pack("<I", 64)),
        ("llama.block_count", 4, struct.pack("<I", 1)),
        ("general.alignment", 4, struct.pack("<I", 32)),
    ]
    tensors = [("token_embd.weight", (64, 100)), ("blk.0.attn_q.weight", (64, 64)), ("output_norm.weight", (64,))]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, kind, value in kvs:
        out += gguf_string(key) + struct.pack("<I", kind) + value
    offset, datas = 0, []
    for name, dims in tensors:
        count = 1
        for d in dims:
            count *= d
        data = b"".join(struct.pack("<f", rng.uniform(-0.1, 0.1)) for _ in range(count))
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)  # type 0 = F32
        datas.append(data)
        offset += len(data) + ((32 - len(data) % 32) % 32)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    for data in datas:
        out += data + b"\0" * ((32 - len(data) % 32) % 32)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(out)


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, wire, payload):
    key = varint((number << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def write_onnx(path, seed=0):
    """A one-node ModelProto (MatMul with an initializer), hand-encoded protobuf."""
    rng = random.Random(seed)
    weights = b"".join(struct.pack("<f", rng.uniform(-0.1, 0.1)) for _ in range(16 * 8))
    initializer = field(1, 0, 16) + field(1, 0, 8) + field(2, 0, 1) + field(8, 2, b"W") + field(9, 2, weights)
    node = field(1, 2, b"X") + field(1, 2, b"W") + field(2, 2, b"Y") + field(3, 2, b"matmul0") + field(4, 2, b"MatMul")
    graph = field(1, 2, node) + field(2, 2, b"demo") + field(5, 2, initializer)
    opset = field(1, 2, b"") + field(2, 0, 17)
    model = field(1, 0, 8) + field(2, 2, b"modeld-demo") + field(3, 2, b"0.1") + field(7, 2, graph) + field(8, 2, opset)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model)


TORCH_SCRIPT = r"""
import sys, torch
torch.manual_seed(0)
root = sys.argv[1]
state = {"model.diffusion_model.input_blocks.0.0.weight": torch.randn(320, 4, 3, 3).half(),
         "model.diffusion_model.input_blocks.0.0.bias": torch.randn(320).half()}
torch.save({"state_dict": state}, root + "/checkpoints/tiny-sd-unet.ckpt")
class TinyMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 4)
    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
torch.jit.script(TinyMLP()).save(root + "/torchscript/tiny-mlp.pt")
"""


def write_torch_files(root):
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        return "no /usr/bin/python3"
    os.makedirs(root + "/checkpoints", exist_ok=True)
    os.makedirs(root + "/torchscript", exist_ok=True)
    # torch.jit.script reads the module's source, so the script must be a real file.
    script = os.path.join(root, ".make_torch_demo.py")
    with open(script, "w") as f:
        f.write(TORCH_SCRIPT)
    try:
        result = subprocess.run([python, script, root], capture_output=True, text=True)
    finally:
        os.remove(script)
    return None if result.returncode == 0 else result.stderr.strip().splitlines()[-1]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    if os.path.isdir(root):
        shutil.rmtree(root)
    write_safetensors(root + "/checkpoints/demo-sd15.safetensors", sd15_checkpoint(),
                      {"modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": "stable-diffusion-v1",
                       "modelspec.title": "modeld demo SD1.5 (tiny)"}, seed=1)
    write_safetensors(root + "/loras/demo-style-lora.safetensors", kohya_lora(),
                      {"ss_network_module": "networks.lora", "ss_network_dim": "4", "ss_network_alpha": "4",
                       "ss_base_model_version": "sd_v1", "ss_output_name": "demo-style"}, seed=2)
    write_safetensors(root + "/vae/demo-vae.safetensors", vae(), seed=3)
    write_gguf(root + "/llm/tiny-llama.gguf", seed=4)
    write_onnx(root + "/onnx/tiny-matmul.onnx", seed=5)
    problem = write_torch_files(root)
    print("demo models written to " + root + ("" if problem is None else " (no torch files: " + problem + ")"))


if __name__ == "__main__":
    main()
