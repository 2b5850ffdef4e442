"""Read the VBA module sources out of a vbaProject.bin, for the tests of the classic template.

A vbaProject.bin is a compound file (MS-CFB); its VBA/dir stream (MS-OVBA 2.3.4) names each
module's stream and where in it the module's compressed source starts (MS-OVBA 2.4.1). olefile
is not a dependency, and the two formats are short enough to read here.
"""
import struct

def streams(data):
    """{path: bytes} of every stream in a compound file, paths joined with '/'."""
    sector = 1 << struct.unpack_from("<H", data, 0x1E)[0]
    mini = 1 << struct.unpack_from("<H", data, 0x20)[0]
    n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
    cutoff, first_minifat, _n_minifat, first_difat, n_difat = struct.unpack_from("<IIIII", data, 0x38)
    difat = list(struct.unpack_from("<109I", data, 0x4C))
    s = first_difat
    for _ in range(n_difat):
        block = data[512 + s * sector: 512 + (s + 1) * sector]
        ids = struct.unpack(f"<{sector // 4}I", block)
        difat += ids[:-1]
        s = ids[-1]
    fat = []
    for s in difat[:n_fat]:
        fat += struct.unpack_from(f"<{sector // 4}I", data, 512 + s * sector)

    def chain(start, table, size, read):
        out, s, seen = [], start, set()
        while s < 0xFFFFFFFA and s not in seen:
            seen.add(s)
            out.append(read(s))
            s = table[s]
        return b"".join(out)

    big = lambda s: data[512 + s * sector: 512 + (s + 1) * sector]
    dirs = chain(first_dir, fat, sector, big)
    entries = []
    for off in range(0, len(dirs), 128):
        e = dirs[off: off + 128]
        n = struct.unpack_from("<H", e, 64)[0]
        name = e[: max(n - 2, 0)].decode("utf-16-le")
        kind = e[66]
        left, right, child = struct.unpack_from("<III", e, 68)
        start, size = struct.unpack_from("<II", e, 116)
        entries.append((name, kind, left, right, child, start, size))
    root = entries[0]
    ministream = chain(root[5], fat, sector, big)[: root[6]]
    minifat = []
    if first_minifat < 0xFFFFFFFA:
        raw = chain(first_minifat, fat, sector, big)
        minifat = list(struct.unpack(f"<{len(raw) // 4}I", raw))
    small = lambda s: ministream[s * mini: (s + 1) * mini]
    out = {}

    def walk(i, prefix):
        if i == 0xFFFFFFFF:
            return
        name, kind, left, right, child, start, size = entries[i]
        walk(left, prefix)
        walk(right, prefix)
        path = prefix + name
        if kind == 2:
            body = chain(start, minifat, mini, small) if size < cutoff else chain(start, fat, sector, big)
            out[path] = body[:size]
        elif kind == 1:
            walk(child, path + "/")

    walk(root[4], "")
    return out


def decompress(data):
    """MS-OVBA 2.4.1 decompression of a CompressedContainer."""
    assert data[0] == 1, "not a compressed VBA container"
    out = bytearray()
    pos = 1
    while pos < len(data):
        header = struct.unpack_from("<H", data, pos)[0]
        end = pos + (header & 0x0FFF) + 3
        pos += 2
        if not header & 0x8000:
            out += data[pos: pos + 4096]
            pos += 4096
            continue
        start = len(out)
        while pos < end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if not flags >> bit & 1:
                    out.append(data[pos])
                    pos += 1
                    continue
                token = struct.unpack_from("<H", data, pos)[0]
                pos += 2
                done = len(out) - start
                bits = max((done - 1).bit_length(), 4)
                length = (token & (0xFFFF >> bits)) + 3
                offset = (token >> (16 - bits)) + 1
                for _ in range(length):
                    out.append(out[-offset])
        pos = end
    return bytes(out)


def modules(vba_project):
    """{module name: VBA source} of a vbaProject.bin."""
    parts = streams(vba_project)
    d = decompress(parts["VBA/dir"])
    pos, name, stream, result = 0, None, None, {}
    while pos < len(d):
        rid, size = struct.unpack_from("<HI", d, pos)
        pos += 6
        if rid == 0x0009:  # PROJECTVERSION: its Size field says 4, six bytes follow
            size = 6
        body = d[pos: pos + size]
        pos += size
        if rid == 0x0019:
            name = body.decode("latin-1")
        elif rid == 0x001A:
            stream = body.decode("latin-1")
        elif rid == 0x0031:
            offset = struct.unpack("<I", body)[0]
            result[name] = decompress(parts["VBA/" + stream][offset:]).decode("cp1252")
    return result
