#!/usr/bin/env python3
"""Lists the sources the CMake targets and the Meson targets of this folder disagree on.

Usage: python3 meson_options_alt/check_sync.py   (exit status 1 when they differ)

Reads add_library()/add_executable() in every CMakeLists.txt and the target() calls in the
meson.build of the same folder here. A rough check of source lists only: flags, dependencies and
tests still need reading by eye.
"""
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = re.compile(r"[\w./{}-]+\.(?:cpp|cc|cxx|c)\b")


def cmake_targets(path):
    # A target made in a foreach loop: fuzz_${name} is fuzz_{}.
    text = re.sub(r"\$\{\w+\}", "{}", re.sub(r"#[^\n]*", "", path.read_text()))
    targets = {}
    for m in re.finditer(r"add_(?:library|executable)\(\s*([\w{}]+)([^)]*)\)", text):
        name, body = m.group(1), m.group(2)
        targets[name] = {str((path.parent / s).resolve().relative_to(ROOT))
                         for s in SOURCE.findall(body)}
    return targets


def meson_targets(path):
    # A target made in a foreach loop: 'fuzz_' + name and 'fuzz_@0@.cpp'.format(name) are fuzz_{}.
    text = re.sub(r"#[^\n]*", "", path.read_text()).replace("@0@", "{}")
    text = re.sub(r"'(\w+)'\s*\+\s*\w+", r"'\1{}'", text)
    targets = {}
    calls = list(re.finditer(r"(?:static_library|executable)\(\s*'([\w{}]+)'", text))
    for i, m in enumerate(calls):
        end = calls[i + 1].start() if i + 1 < len(calls) else len(text)
        body = text[m.end():end]
        targets[m.group(1)] = {str((path.parent / s).resolve().relative_to(ROOT))
                               for s in re.findall(r"'([^']+\.(?:cpp|cc|cxx|c))'", body)}
    return targets


def main():
    differ = False
    for cmake in sorted(ROOT.glob("**/CMakeLists.txt")):
        rel = cmake.parent.relative_to(ROOT)
        if rel.parts and (rel.parts[0].startswith("build") or rel.parts[0] == HERE.name):
            continue
        meson = HERE / rel / "meson.build"
        want = cmake_targets(cmake)
        have = meson_targets(meson) if meson.exists() else {}
        for name in sorted(set(want) | set(have)):
            if name not in have:
                print(f"{meson.relative_to(ROOT)}: no target {name} (CMake has it)")
            elif name not in want:
                print(f"{meson.relative_to(ROOT)}: target {name} is not in {cmake.relative_to(ROOT)}")
            else:
                for s in sorted(want[name] - have[name]):
                    print(f"{meson.relative_to(ROOT)}: {name} lacks {s}")
                for s in sorted(have[name] - want[name]):
                    print(f"{meson.relative_to(ROOT)}: {name} has {s}, CMake does not")
                continue
            differ = True
        differ = differ or any(want.get(n) != have.get(n) for n in want)
    # The names the fuzz_{} loop runs over: set(MODELD_FUZZ_TARGETS ...) and fuzz_targets = [...].
    cmake_fuzz = re.search(r"set\(MODELD_FUZZ_TARGETS([^)]*)\)", (ROOT / "fuzz/CMakeLists.txt").read_text())
    meson_fuzz = re.search(r"fuzz_targets\s*=\s*\[([^\]]*)\]", (HERE / "fuzz/meson.build").read_text())
    want = set(cmake_fuzz.group(1).split()) if cmake_fuzz else set()
    have = set(re.findall(r"'(\w+)'", meson_fuzz.group(1))) if meson_fuzz else set()
    if want != have:
        print(f"meson_options_alt/fuzz/meson.build: fuzz_targets lacks {sorted(want - have)}, "
              f"has {sorted(have - want)} that CMake does not")
        differ = True
    if not differ:
        print("meson_options_alt: same targets and sources as CMake")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
