#!/usr/bin/python3
"""An independent reader for the safetensors tests: struct + json + numpy, not our C code.

safetensors_check.py FILE EXPECT.json EXPECT.f32 [bf16]
  EXPECT.json is [[name, shape], ...] in file order, EXPECT.f32 their values back to back.
  Checks the 8-byte length, the 8-byte aligned data start, "format": "pt", names, order,
  dtypes, shapes, offsets tiling the data, and every value bit for bit (for bf16, against
  round-to-nearest-even done here in numpy). Silent when all is well; else prints the first
  difference on stderr and exits 1.
"""
import json
import struct
import sys

import numpy as np


def main():
    path, names_path, values_path = sys.argv[1:4]
    bf16 = sys.argv[4:] == ["bf16"]
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0, "data does not start 8-byte aligned"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    assert header.pop("__metadata__")["format"] == "pt", "format is not pt"
    data = raw[8 + n:]
    expect = json.load(open(names_path))
    values = np.fromfile(values_path, dtype="<f4")
    assert list(header) == [name for name, _ in expect], "names or order differ: %s" % list(header)[:4]
    at = pos = 0
    for name, shape in expect:
        info = header[name]
        assert info["shape"] == shape, "%s: shape %s, want %s" % (name, info["shape"], shape)
        assert info["dtype"] == ("BF16" if bf16 else "F32"), "%s: dtype %s" % (name, info["dtype"])
        begin, end = info["data_offsets"]
        assert begin == at, "%s: begins at %d, want %d" % (name, begin, at)
        want = values[pos:pos + int(np.prod(shape))]
        pos += want.size
        if bf16:
            u = want.view("<u4").astype(np.uint64)
            nan = (u & 0x7FFFFFFF) > 0x7F800000
            rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
            rounded[nan] = (u[nan] >> 16) | 0x40
            got = np.frombuffer(data[begin:end], "<u2").astype(np.uint64)
        else:
            rounded = want.view("<u4")
            got = np.frombuffer(data[begin:end], "<u4")
        bad = np.nonzero(got != rounded)[0]
        assert bad.size == 0, "%s: value %d is 0x%x, want 0x%x" % (name, bad[0], got[bad[0]], rounded[bad[0]])
        at = end
    assert at == len(data), "%d bytes after the last tensor" % (len(data) - at)
    assert pos == values.size, "the file has fewer values than expected"


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("safetensors_check.py: %s" % e, file=sys.stderr)
        sys.exit(1)
