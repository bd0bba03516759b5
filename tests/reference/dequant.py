"""Vectorised NumPy dequantisation of GGUF tensors to float64.

Block layouts (ggml, little-endian, "half" = IEEE binary16), one block per row of a 2-D view:
  Q4_0  (32 elems, 18 B): d:half | qs[16]          x[l] = d*((qs[l] & 15) - 8), x[l+16] = d*((qs[l] >> 4) - 8)
  Q8_0  (32 elems, 34 B): d:half | qs[32]:int8     x[l] = d*qs[l]
  Q4_K (256 elems, 144 B): d:half | dmin:half | scales[12] | qs[128]
        8 sub-blocks of 32 with 6-bit scale sc[s] and min m[s] packed in `scales`:
          s < 4:  sc = b[s] & 63,                       m = b[s+4] & 63
          s >= 4: sc = (b[s+4] & 15) | (b[s-4] >> 6) << 4, m = (b[s+4] >> 4) | (b[s] >> 6) << 4
        qs[32j + l]: low nibble -> element 64j + l (sub-block 2j), high -> 64j + 32 + l (2j+1)
        x = d*sc*q - dmin*m
  Q5_K (256 elems, 176 B): d | dmin | scales[12] | qh[32] | qs[128]
        as Q4_K plus a fifth bit: bit s of qh[l] is the high bit of element 32s + l
  Q6_K (256 elems, 210 B): ql[128] | qh[64] | scales[16]:int8 | d:half
        two halves of 128 (h = 0, 1); within a half, for l < 32 and k in 0..3, element 32k + l:
          low 4 bits: k=0: ql[64h+l] & 15, k=1: ql[64h+32+l] & 15, k=2: ql[64h+l] >> 4, k=3: ql[64h+32+l] >> 4
          high 2 bits: (qh[32h+l] >> 2k) & 3
        x[i] = d * scales[i/16] * (q - 32)
"""

import numpy as np

from gguf_reader import GGUFError, TENSOR_TYPES


def _half(blocks, start):
    """The binary16 at byte `start` of every block, as float64 [n_blocks, 1]."""
    return np.ascontiguousarray(blocks[:, start:start + 2]).view("<f2").astype(np.float64)


def _blocks(raw, block_bytes):
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size % block_bytes:
        raise GGUFError("tensor byte size %d is not a multiple of %d" % (data.size, block_bytes))
    return data.reshape(-1, block_bytes)


def _f32(raw):
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


def _f16(raw):
    return np.frombuffer(raw, dtype="<f2").astype(np.float64)


def _bf16(raw):
    # bfloat16 is the top half of a float32.
    bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return bits.view(np.float32).astype(np.float64)


def _q4_0(raw):
    b = _blocks(raw, 18)
    d = _half(b, 0)
    qs = b[:, 2:18]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8.0  # [nb, 32]
    return (d * q).reshape(-1)


def _q8_0(raw):
    b = _blocks(raw, 34)
    d = _half(b, 0)
    q = np.ascontiguousarray(b[:, 2:34]).view(np.int8).astype(np.float64)  # [nb, 32]
    return (d * q).reshape(-1)


def _k_scales_mins(packed):
    """Unpacks the 12-byte 6-bit scales/mins of Q4_K/Q5_K: [nb, 12] -> (sc [nb, 8], m [nb, 8])."""
    p = packed.astype(np.uint16)
    sc = np.empty((p.shape[0], 8), dtype=np.uint16)
    m = np.empty((p.shape[0], 8), dtype=np.uint16)
    sc[:, :4] = p[:, 0:4] & 63
    m[:, :4] = p[:, 4:8] & 63
    sc[:, 4:] = (p[:, 8:12] & 0x0F) | ((p[:, 0:4] >> 6) << 4)
    m[:, 4:] = (p[:, 8:12] >> 4) | ((p[:, 4:8] >> 6) << 4)
    return sc.astype(np.float64), m.astype(np.float64)


def _k_nibbles(qs):
    """qs [nb, 128] -> 4-bit values [nb, 8, 32] ordered by sub-block (element 32*s + l)."""
    qs = qs.reshape(-1, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=2)  # [nb, 4 (j), 2 (lo/hi), 32]
    return q.reshape(-1, 8, 32)


def _q4_k(raw):
    b = _blocks(raw, 144)
    d, dmin = _half(b, 0), _half(b, 2)
    sc, m = _k_scales_mins(b[:, 4:16])
    q = _k_nibbles(b[:, 16:144]).astype(np.float64)
    x = d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * m[:, :, None]
    return x.reshape(-1)


def _q5_k(raw):
    b = _blocks(raw, 176)
    d, dmin = _half(b, 0), _half(b, 2)
    sc, m = _k_scales_mins(b[:, 4:16])
    qh = b[:, 16:48]                                              # [nb, 32]
    high = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1  # [nb, 8, 32]
    q = (_k_nibbles(b[:, 48:176]) | (high << 4)).astype(np.float64)
    x = d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * m[:, :, None]
    return x.reshape(-1)


def _q6_k(raw):
    b = _blocks(raw, 210)
    ql = b[:, 0:128].reshape(-1, 2, 2, 32)      # [nb, half, first/second 32 bytes, l]
    qh = b[:, 128:192].reshape(-1, 2, 32)       # [nb, half, l]
    scales = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.float64)  # [nb, 16]
    d = _half(b, 208)
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)  # [nb, half, k=0..3, l]
    shifts = (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]
    high = (qh[:, :, None, :] >> shifts) & 3            # [nb, half, k, l]
    q = (low | (high << 4)).astype(np.float64).reshape(-1, 256) - 32.0
    x = d * np.repeat(scales, 16, axis=1) * q
    return x.reshape(-1)


_DEQUANT = {0: _f32, 1: _f16, 30: _bf16, 2: _q4_0, 8: _q8_0, 12: _q4_k, 13: _q5_k, 14: _q6_k}


def dequantize(gguf, name):
    """Tensor `name` as float64, NumPy shape reversed from GGUF dims (dims[0] last)."""
    info = gguf.tensors.get(name)
    if info is None:
        raise GGUFError("no tensor named '%s'" % name)
    if info.ggml_type not in _DEQUANT:
        raise GGUFError("tensor '%s': cannot dequantize ggml type %d" % (name, info.ggml_type))
    flat = _DEQUANT[info.ggml_type](gguf.tensor_bytes(name))
    if flat.size != info.n_elements:
        raise GGUFError("tensor '%s': decoded %d elements, expected %d"
                        % (name, flat.size, info.n_elements))
    return flat.reshape(tuple(reversed(info.dims)) if info.dims else ())


def dequantize_bytes(ggml_type, raw):
    """Dequantizes raw block bytes of a given ggml type to a flat float64 array."""
    if ggml_type not in _DEQUANT:
        raise GGUFError("cannot dequantize ggml type %d" % ggml_type)
    return _DEQUANT[ggml_type](raw)


assert set(_DEQUANT) == set(TENSOR_TYPES)


def dequantize_rows(gguf, name, start, stop):
    """Rows [start, stop) of a 2-D tensor (rows of dims[0] values) as float64 [stop - start, dims[0]].

    Decodes only the bytes of those rows, so a 150k-row embedding or output matrix never has to
    be expanded to float64 all at once.
    """
    info = gguf.tensors.get(name)
    if info is None:
        raise GGUFError("no tensor named '%s'" % name)
    if len(info.dims) != 2:
        raise GGUFError("tensor '%s': expected 2 dims, has %d" % (name, len(info.dims)))
    n_cols, n_rows = info.dims
    if not 0 <= start <= stop <= n_rows:
        raise GGUFError("tensor '%s': rows [%d, %d) out of range %d" % (name, start, stop, n_rows))
    if info.ggml_type not in _DEQUANT:
        raise GGUFError("tensor '%s': cannot dequantize ggml type %d" % (name, info.ggml_type))
    _, block_elems, block_bytes = TENSOR_TYPES[info.ggml_type]
    row_bytes = n_cols // block_elems * block_bytes
    raw = gguf.tensor_bytes(name)[start * row_bytes:stop * row_bytes]
    return _DEQUANT[info.ggml_type](raw).reshape(stop - start, n_cols)
