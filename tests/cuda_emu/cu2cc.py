#!/usr/bin/env python3
"""Turns a .cu file into C++ for the CUDA emulator (tests/cuda_emu): the two pieces of CUDA
syntax a header cannot define. `kernel<<<grid, block, shared, stream>>>(args)` becomes a call
of emu::launcher, and `extern __shared__ T name[];` a pointer to the block's dynamic shared
memory. Lines keep their numbers, so errors and __LINE__ point into the .cu file.

usage: cu2cc.py IN.cu OUT.cc"""
import re
import sys

LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(\s*(\)?)", re.S)
DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w\s]+?)\s*(\w+)\s*\[\s*\]\s*;")


def launch(m):
    kernel, config, empty = m.group(1), m.group(2), m.group(3)
    args = ")" if empty else ", "
    return f'::emu::launcher({config})({kernel}, "{kernel}"{args}'


def dynamic_shared(m):
    return f"{m.group(1)} *{m.group(2)} = ({m.group(1)} *)::emu::dynamic_shared();"


def main():
    src_path, out_path = sys.argv[1], sys.argv[2]
    with open(src_path, encoding="utf-8") as f:
        text = f.read()
    text = LAUNCH.sub(launch, text)
    text = DYNAMIC_SHARED.sub(dynamic_shared, text)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(f'#line 1 "{src_path}"\n')
        f.write(text)


if __name__ == "__main__":
    main()
