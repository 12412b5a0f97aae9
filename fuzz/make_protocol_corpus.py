#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_protocol: fuzz/corpus/protocol/seed-<name>.

Usage: python3 fuzz/make_protocol_corpus.py [corpus dir]

One file per request shape of the tests (tests/integration/*.cpp, tests/protocol/*.cpp) and of
PROTOCOL.md: every command with its fields, PascalCase/camelCase keys, enum values in odd case,
flat fields, the action/domain aliases, a byte-order mark, \\r\\n, nulls, nested JSON, oversized
numbers, broken JSON and pipelined multi-line inputs. Each file is what a client sends on one
connection (tests/fuzz_replay/replay.py sends them to a real modeld, whose model root holds
tiny.safetensors, so some seeds name it). Rewrites the seed-* files only: the files runs of
scripts/run-fuzzers.sh merge into the same folder (named by their SHA-1) are left alone.
"""
import json
import pathlib
import sys

MODEL = "tiny.safetensors"  # the one model of replay.py's model root


def line(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"


def req(command, data=None, request_id=None, **envelope):
    obj = {}
    if request_id is not None:
        obj["request_id"] = request_id
    obj["command"] = command
    if data is not None:
        obj["data"] = data
    obj.update(envelope)
    return line(obj)


SEEDS = {
    # ---- system commands (protocol_integration_test.cpp)
    "hello": req("hello", {"client": "tests"}, "h"),
    "hello-pascal": req("hello", {"response_case": "pascal"}, "h1") + req("get_model_status", None, "after-pascal"),
    "hello-camelcase-value": req("hello", {"response_case": "CAMELCASE"}) + req("ping", None, "p"),
    "hello-response-case-key-pascal-value": line({"command": "hello", "data": {"responseCase": "Pascal"}}),
    "hello-kebab": req("hello", {"response_case": "kebab"}, "bad-case"),
    "hello-response-case-number": req("hello", {"response_case": 3}),
    "hello-token": req("hello", {"token": "s3cret-token"}, "tok"),
    "ping": req("ping", None, "p-1"),
    "ping-int-id": line({"request_id": 42, "command": "ping"}),
    "ping-no-id": line({"command": "ping"}),
    "ping-uint64-id": '{"request_id":18446744073709551615,"command":"ping"}\n',
    "ping-negative-id": '{"request_id":-9223372036854775808,"command":"ping"}\n',
    "ping-float-id": '{"request_id":1.5,"command":"ping"}\n',
    "ping-object-id": line({"command": "ping", "request_id": {"a": 1}}),
    "cancel-nothing": req("cancel", {"target_request_id": "nothing"}, "c"),
    "cancel-int": req("cancel", {"target_request_id": 7}),
    "cancel-missing": req("cancel", {}, "c2"),
    "cancel-object": req("cancel", {"target_request_id": {"id": "x"}}),
    "subscribe-hour": req("subscribe_status", {"interval_ms": 3600000}, "s"),
    "subscribe-device": req("subscribe_status", {"interval_ms": 3600000, "device_id": "cpu:0"}, "s-dev"),
    "subscribe-too-fast": req("subscribe_status", {"interval_ms": 1}),
    "subscribe-unknown-device": req("subscribe_status", {"device_id": "cuda:9"}),
    "subscribe-interval-string": req("subscribe_status", {"IntervalMs": "100"}),
    "unsubscribe-unknown": req("unsubscribe", {"subscription_id": "sub-1-1"}, "u"),
    "unsubscribe-missing": req("unsubscribe", None, "u2"),
    "subscribe-then-unsubscribe": req("subscribe_status", {"interval_ms": 3600000}, "s1")
    + req("unsubscribe", {"subscription_id": "sub-0-1"}, "u1"),
    "inject-fault-device": req("inject_fault", {"target": "device:cpu:0", "mode": "crash"}, "f"),
    "inject-fault-odd-case": req("inject_fault", {"Target": "Device:cpu:0", "Mode": "Hang", "DurationMs": 1500}),
    "inject-fault-service": req("inject_fault", {"target": "MetadataStore", "mode": "slow", "duration_ms": 400}),
    "inject-fault-cache-oom": req("inject_fault", {"target": "cache", "mode": "OOM"}),
    "inject-fault-bad-target": req("inject_fault", {"target": "gpu0", "mode": "crash", "duration_ms": 600001}),
    # ---- device domain
    "device-list": req("get_device_list"),
    "device-list-domain": line({"action": "get_device_list", "domain": "device"}),
    "device-list-prefix": line({"command": "device.get_device_list"}),
    "device-status": req("get_device_status", {"device_id": "cpu:0"}, 7),
    "device-status-missing": req("get_device_status", {"device_id": "cuda:7"}),
    "model-status": req("get_model_status", None, "ms"),
    "model-status-timeout": req("get_model_status", None, "mt", timeout_ms=100),
    "vram-status": req("get_vram_model_status", {"device_id": "cpu:0"}),
    # ---- C# style (PascalCase envelope, nulls, flat fields, action alias)
    "csharp-pascal": '{"RequestId":"cs-1","WorkerType":"device","Action":"device.get_device_status",'
    '"DeviceId":"cpu:0","Data":null,"TimeoutMs":null,"Stream":null}\n',
    "csharp-get-model": line({"RequestId": "x", "WorkerType": "model", "Command": "GetModel",
                              "Data": {"ModelId": MODEL}}),
    "camel-case": line({"requestId": "y", "command": "getModelMetadata", "data": {"modelId": MODEL},
                        "timeoutMs": 5000}),
    "upper-snake": line({"REQUEST_ID": "z", "COMMAND": "GET_MODELS", "DATA": {"FORMAT": "SAFETENSORS"}}),
    "kebab-keys": line({"request-id": "k", "command": "get-model-components", "data": {"model-id": MODEL}}),
    "flat-fields": line({"command": "get_model", "model_id": "flat", "device_id": "cpu:0",
                         "data": {"model_id": MODEL}}),
    "flat-only": line({"command": "get_model_metadata", "ModelId": MODEL, "request_id": "flat-only"}),
    "bom-crlf": "\ufeff" + '{"command":"ping","request_id":"bom"}\r\n',
    "nulls": '{"request_id":null,"command":"get_models","data":{"type":null,"tag":null,"limit":null},'
    '"stream":null,"timeout_ms":null,"worker_type":null}\n',
    # ---- envelope errors (envelope_test.cpp, protocol_integration_test.cpp)
    "invalid-json": "{nope\n",
    "not-an-object": '[1,2,3]\n"ping"\n5\nnull\n',
    "empty-command": line({"command": ""}),
    "command-number": line({"command": 7}),
    "no-command": line({"request_id": "m", "data": {}}),
    "unknown-command": req("frobnicate", None, "u"),
    "unknown-prefix": line({"command": "bogus.ping"}),
    "command-action-disagree": line({"command": "ping", "action": "hello"}),
    "domain-disagree": line({"command": "ping", "worker_type": "model", "domain": "device"}),
    "unknown-domain": line({"command": "ping", "worker_type": "inference"}),
    "data-array": line({"command": "ping", "data": [1]}),
    "data-null": line({"command": "ping", "data": None}),
    "key-clash": line({"command": "ping", "data": {"modelId": 1, "model_id": 2}}),
    "envelope-clash": '{"RequestId":"a","request_id":"b","command":"ping"}\n',
    "stream-string": line({"request_id": "r1", "command": "ping", "stream": "yes"}),
    "timeout-string": line({"command": "ping", "timeout_ms": "5"}),
    "timeout-negative": line({"command": "ping", "timeout_ms": -5}),
    "timeout-zero": line({"command": "ping", "timeout_ms": 0}),
    "timeout-fraction": line({"command": "post_model_validate", "stream": True, "timeout_ms": 1500.2,
                              "data": {"model_id": MODEL}}),
    "timeout-huge": '{"command":"ping","timeout_ms":1e300}\n{"command":"ping","timeout_ms":604800001}\n',
    "oversized-numbers": '{"command":"get_models","data":{"offset":18446744073709551616,'
    '"limit":1e400,"tag":"x"}}\n{"command":"get_models","data":{"limit":-0.0,"offset":4294967295.0}}\n',
    "deep-nesting": '{"command":"ping","data":{"a":' + "[" * 70 + "]" * 70 + "}}\n",
    "nested-data": line({"command": "ping", "data": {"a": [1, -2, 18446744073709551615, True, None,
                                                           "q\"uo\\te\n\u0001\u00e9"],
                                                     "b": {"c": {}, "DeepKey": [{"InnerKey": 1}]}, "d": []}}),
    "escapes-unicode": '{"command":"get_model","data":{"model_id":"\\u00e9t\\u00e9/\\ud83d\\ude00.safetensors"}}\n',
    "control-chars": '{"command":"get_model","data":{"model_id":"a\\u0000b\\nc"}}\n',
    "blank-lines": "\n\n   \n\t\n" + req("ping", None, "after-blanks") + "\r\n",
    "unterminated-last-line": req("ping", None, "done") + '{"command":"ping","request_id":"never"}',
    "long-line": line({"command": "ping", "request_id": "long", "pad": "x" * 10000}) + req("ping", None, "after-long"),
    # ---- model domain (catalog_integration_test.cpp, load_integration_test.cpp, ...)
    "get-models": req("get_models", {}),
    "get-models-filters": req("get_models", {"format": "SafeTensors", "type": "Checkpoint",
                                             "architecture": "SDXL_Refiner", "tag": "  Anime  Art ",
                                             "loaded": False, "offset": 1, "limit": 2}),
    "get-models-pytorch-zip": req("get_models", {"format": "PytorchZip"}),
    "get-models-limit-too-big": req("get_models", {"limit": 5000}),
    "get-models-type-number": req("get_models", {"type": 3}),
    "get-models-loaded-string": req("get_models", {"loaded": "true"}),
    "get-model": req("get_model", {"model_id": MODEL}, "gm"),
    "get-model-missing-id": req("get_model", {}),
    "get-model-not-found": req("get_model", {"model_id": "nope.safetensors"}),
    "get-model-id-number": req("get_model", {"model_id": 5}),
    "components": req("get_model_components", {"model_id": MODEL}),
    "benchmark-results": req("get_model_benchmark_results", {"model_id": MODEL}),
    "metadata-get": req("get_model_metadata", {"model_id": MODEL}, timeout_ms=100),
    "metadata-put": req("put_model_metadata", {
        "model_id": MODEL,
        "metadata": {"Name": "Style LoRA", "tags": ["  Anime ", "anime", "Line  Art", "\u00c9t\u00e9"],
                     "custom": {"SeedValue": 7, "nested_Key": {"A-B": [1.5, None]}}}}),
    "metadata-put-revision": req("put_model_metadata", {"model_id": MODEL, "metadata": {"author": "me"},
                                                        "expected_revision": 1}),
    "metadata-put-long-name": req("put_model_metadata", {"model_id": MODEL, "metadata": {"name": "n" * 300}}),
    "metadata-put-tags-string": req("put_model_metadata", {"model_id": MODEL, "metadata": {"tags": "x"}}),
    "metadata-put-not-object": req("put_model_metadata", {"model_id": MODEL, "metadata": 5}),
    "metadata-put-long-tag": req("put_model_metadata", {"model_id": MODEL,
                                                        "metadata": {"tags": ["\u00e9" * 40]}}),
    # A tag over 64 bytes whose 32nd byte is inside a UTF-8 character: the error message quotes
    # the first 32 bytes, which once cut the character (invalid UTF-8 in the answer).
    "metadata-put-long-tag-split": req("put_model_metadata", {"model_id": MODEL,
                                                              "metadata": {"tags": ["a" + "\u00e9" * 40]}}),
    # custom nested 40 deep (a request may nest 64): it once came back as {} (parsed with Boost's
    # default depth of 32).
    "metadata-put-deep-custom": '{"command":"put_model_metadata","data":{"model_id":"' + MODEL
    + '","metadata":{"custom":' + '{"a":' * 40 + "1" + "}" * 40 + "}}}\n",
    "metadata-put-control-tag": req("put_model_metadata", {"model_id": MODEL,
                                                           "metadata": {"tags": ["a\tb", "c\u0007"]}}),
    "metadata-put-custom-keys": line({"command": "PutModelMetadata", "data": {
        "ModelId": MODEL, "Metadata": {"Description": "kept", "Custom": {"KeepMe": 1, "keep_me": 2}},
        "ExpectedRevision": None}}),
    "scan": req("post_model_scan", {}, "scan", stream=True),
    "scan-bad-root": req("post_model_scan", {"root": "/nope///"}),
    "validate": req("post_model_validate", {"model_id": MODEL}),
    "validate-comprehensive-stream": req("post_model_validate",
                                         {"model_id": MODEL, "validation_level": "Comprehensive"}, "v", stream=True),
    "validate-basic-upper": req("post_model_validate", {"ModelId": MODEL, "ValidationLevel": "BASIC"}),
    "validate-paranoid": req("post_model_validate", {"model_id": MODEL, "validation_level": "paranoid"}),
    "validate-level-number": req("post_model_validate", {"model_id": MODEL, "validation_level": 3}),
    "validate-path": req("post_model_validate", {"model_path": MODEL, "validation_level": "basic"}),
    "validate-path-escape": req("post_model_validate", {"model_path": "../../etc/passwd"}),
    "validate-nothing": req("post_model_validate", {}),
    "load": req("post_model_load", {"model_id": MODEL, "device_id": "cpu:0"}, "load"),
    "load-components-dtype": req("post_model_load", {"model_id": MODEL, "components": ["vae"], "dtype": "Fp16",
                                                     "evict": True}, stream=True),
    "load-dtype-bf16-dash": req("post_model_load", {"model_id": MODEL, "dtype": "B-F-16"}),
    "load-dtype-bogus": req("post_model_load", {"model_id": MODEL, "dtype": "int4"}),
    "load-evict-string": req("post_model_load", {"model_id": MODEL, "evict": "yes"}),
    "load-components-bad": req("post_model_load", {"model_id": MODEL, "components": ["", 5]}),
    "load-unknown-device": req("post_model_load", {"model_id": MODEL, "device_id": "cuda:7"}),
    "unload": req("post_model_unload", {"model_id": MODEL, "device_id": "cpu:0"}),
    "unload-all": req("post_model_unload", {}),
    "benchmark-load": req("post_model_benchmark", {"model_id": MODEL, "benchmark_type": "Load"}),
    "benchmark-full": req("post_model_benchmark", {"model_id": MODEL, "benchmark_type": "FULL", "iterations": 2,
                                                   "warmup": 1, "batch": 4}),
    "benchmark-shape": req("post_model_benchmark", {"model_id": MODEL, "input_shape": [4, 16], "iterations": 3}),
    "benchmark-bad-shape": req("post_model_benchmark", {"model_id": MODEL, "input_shape": [1048576, 1048576, 2]}),
    "benchmark-zero-iterations": req("post_model_benchmark", {"model_id": MODEL, "iterations": 0}),
    "benchmark-stress": req("post_model_benchmark", {"model_id": MODEL, "benchmark_type": "Stress"}),
    "benchmark-fraction": req("post_model_benchmark", {"model_id": MODEL, "iterations": 2.5, "batch": 0}),
    "cache-get": req("get_model_cache", {}),
    "cache-post": req("post_model_cache", {"model_id": MODEL}),
    "cache-delete": req("delete_model_cache", {"model_id": MODEL}),
    "cache-delete-all": req("delete_model_cache", {}),
    # ---- pipelined
    "pipelined-mixed": "".join([
        req("hello", {"client": "pipeline"}, "p0"),
        req("get_models", {"limit": 10}, "p1"),
        req("get_model", {"model_id": MODEL}, "p2"),
        req("post_model_load", {"model_id": MODEL}, "p3"),
        req("get_model_status", None, "p4"),
        req("post_model_unload", {"model_id": MODEL}, "p5"),
        req("cancel", {"target_request_id": "p3"}, "p6"),
        "{nope\n",
        req("ping", None, 8),
    ]),
    "pipelined-pings": "".join(req("ping" if i % 2 else "get_model_status", None, f"pp-{i}") for i in range(40)),
    "pipelined-cancel": req("post_model_validate", {"model_id": MODEL, "validation_level": "comprehensive"},
                            "long", stream=True) + req("cancel", {"target_request_id": "long"}, "c"),
}


def main():
    default = pathlib.Path(__file__).resolve().parent / "corpus" / "protocol"
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, text in SEEDS.items():
        (out / f"seed-{name}").write_bytes(text.encode("utf-8"))
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
