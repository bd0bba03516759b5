"""A small, independent GGUF reader (format v2/v3) for the float64 reference.

Written from the GGUF format description, not from any gguf package:

  header:   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
  kv:       string key | u32 value_type | value
            (array value: u32 element_type | u64 count | elements)
  tensors:  string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset
  padding up to `general.alignment` (default 32), then the tensor data blob;
  tensor offsets are relative to the start of that blob.
  string:   u64 byte length | UTF-8 bytes (no terminator). Everything is little-endian.

dims[0] is the contiguous (fastest-varying) dimension.
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Metadata value types: id -> (struct format, size) for the fixed-size scalars.
_SCALAR_FORMATS = {
    0: ("<B", 1),   # uint8
    1: ("<b", 1),   # int8
    2: ("<H", 2),   # uint16
    3: ("<h", 2),   # int16
    4: ("<I", 4),   # uint32
    5: ("<i", 4),   # int32
    6: ("<f", 4),   # float32
    7: ("<?", 1),   # bool
    10: ("<Q", 8),  # uint64
    11: ("<q", 8),  # int64
    12: ("<d", 8),  # float64
}
_TYPE_STRING = 8
_TYPE_ARRAY = 9

# ggml tensor types this reader knows the geometry of: id -> (name, elements/block, bytes/block).
TENSOR_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    8: ("Q8_0", 32, 34),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
}


class GGUFError(Exception):
    pass


class TensorInfo:
    def __init__(self, name, dims, ggml_type, offset):
        self.name = name
        self.dims = dims          # [ne0, ne1, ...], ne0 contiguous
        self.ggml_type = ggml_type
        self.offset = offset      # relative to the data blob
        self.n_elements = 1
        for d in dims:
            self.n_elements *= d

    @property
    def type_name(self):
        return TENSOR_TYPES.get(self.ggml_type, ("type%d" % self.ggml_type,))[0]

    def n_bytes(self):
        if self.ggml_type not in TENSOR_TYPES:
            raise GGUFError("tensor '%s': unsupported ggml type %d" % (self.name, self.ggml_type))
        _, block_elems, block_bytes = TENSOR_TYPES[self.ggml_type]
        if self.dims and self.dims[0] % block_elems != 0:
            raise GGUFError("tensor '%s': row length %d is not a multiple of the block size %d"
                            % (self.name, self.dims[0], block_elems))
        return self.n_elements // block_elems * block_bytes


class _Cursor:
    """Bounds-checked little-endian reads from a bytes-like buffer."""

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("truncated file: need %d bytes at offset %d, file has %d"
                            % (n, self.pos, len(self.buf)))
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, size):
        return struct.unpack(fmt, self.take(size))[0]

    def u32(self):
        return self.unpack("<I", 4)

    def u64(self):
        return self.unpack("<Q", 8)

    def string(self):
        n = self.u64()
        return bytes(self.take(n)).decode("utf-8", errors="replace")

    def value(self, vtype, depth=0):
        if vtype in _SCALAR_FORMATS:
            fmt, size = _SCALAR_FORMATS[vtype]
            return self.unpack(fmt, size)
        if vtype == _TYPE_STRING:
            return self.string()
        if vtype == _TYPE_ARRAY:
            if depth > 4:
                raise GGUFError("metadata arrays nested too deeply")
            etype = self.u32()
            count = self.u64()
            if etype in _SCALAR_FORMATS:
                # Read numeric arrays in one go (vocab scores can be 150k entries).
                fmt, size = _SCALAR_FORMATS[etype]
                raw = self.take(count * size)
                return list(np.frombuffer(raw, dtype=np.dtype(fmt)).tolist())
            return [self.value(etype, depth + 1) for _ in range(count)]
        raise GGUFError("unknown metadata value type %d at offset %d" % (vtype, self.pos))


class GGUFFile:
    """Parsed GGUF file: .metadata (dict), .tensors (dict name -> TensorInfo), raw tensor bytes."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self._buf = f.read()
        cur = _Cursor(memoryview(self._buf))
        if bytes(cur.take(4)) != GGUF_MAGIC:
            raise GGUFError("%s: not a GGUF file (bad magic)" % path)
        self.version = cur.u32()
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported GGUF version %d" % (path, self.version))
        n_tensors = cur.u64()
        n_kv = cur.u64()
        # Each entry takes at least 8 bytes; reject counts the file cannot hold.
        if n_tensors > len(self._buf) // 8 or n_kv > len(self._buf) // 8:
            raise GGUFError("%s: implausible tensor/kv counts %d/%d" % (path, n_tensors, n_kv))

        self.metadata = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.u32()
            self.metadata[key] = cur.value(vtype)

        self.tensors = {}
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.u32()
            if n_dims > 4:
                raise GGUFError("tensor '%s': %d dimensions" % (name, n_dims))
            dims = [cur.u64() for _ in range(n_dims)]
            ggml_type = cur.u32()
            offset = cur.u64()
            if name in self.tensors:
                raise GGUFError("duplicate tensor '%s'" % name)
            self.tensors[name] = TensorInfo(name, dims, ggml_type, offset)

        alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError("general.alignment %d is not a power of two" % alignment)
        self.alignment = alignment
        self.data_offset = (cur.pos + alignment - 1) // alignment * alignment

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def tensor_bytes(self, name):
        """The raw bytes of a tensor (a memoryview into the file), bounds-checked."""
        if name not in self.tensors:
            raise GGUFError("no tensor named '%s'" % name)
        info = self.tensors[name]
        n = info.n_bytes()
        start = self.data_offset + info.offset
        if info.offset % self.alignment != 0:
            raise GGUFError("tensor '%s': offset %d not aligned" % (name, info.offset))
        if start + n > len(self._buf):
            raise GGUFError("tensor '%s': data ends past the end of the file" % name)
        return memoryview(self._buf)[start:start + n]
