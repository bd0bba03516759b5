"""Element-by-element (loop) dequantisers, a second, deliberately naive implementation that the
vectorised dequant.py is cross-checked against in selftest.py. Slow; use on a few blocks only.
Each walks one block the way the block layout is described (per sub-block, per element).
"""

import struct


def _half(b, off):
    return struct.unpack_from("<e", b, off)[0]


def _scale_min(scales, j):
    """6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K/Q5_K."""
    if j < 4:
        return scales[j] & 63, scales[j + 4] & 63
    sc = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4)
    mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4)
    return sc, mn


def q4_0(b):
    out = []
    for off in range(0, len(b), 18):
        d = _half(b, off)
        qs = b[off + 2:off + 18]
        out += [d * ((qs[i] & 0x0F) - 8) for i in range(16)]
        out += [d * ((qs[i] >> 4) - 8) for i in range(16)]
    return out


def q8_0(b):
    out = []
    for off in range(0, len(b), 34):
        d = _half(b, off)
        out += [d * struct.unpack_from("<b", b, off + 2 + i)[0] for i in range(32)]
    return out


def _k_quant(b, block_bytes, with_high_bit):
    out = []
    for off in range(0, len(b), block_bytes):
        d, dmin = _half(b, off), _half(b, off + 2)
        scales = b[off + 4:off + 16]
        qh = b[off + 16:off + 48] if with_high_bit else None
        qs = b[off + 48:off + 176] if with_high_bit else b[off + 16:off + 144]
        block = [0.0] * 256
        for e in range(256):
            chunk, r = divmod(e, 64)          # 64 elements share 32 bytes of qs
            upper, l = divmod(r, 32)          # low nibble: first 32, high nibble: next 32
            byte = qs[32 * chunk + l]
            q = (byte >> 4) if upper else (byte & 0x0F)
            sub = e // 32
            if with_high_bit and (qh[l] >> sub) & 1:
                q += 16
            sc, mn = _scale_min(scales, sub)
            block[e] = d * sc * q - dmin * mn
        out += block
    return out


def q4_k(b):
    return _k_quant(b, 144, False)


def q5_k(b):
    return _k_quant(b, 176, True)


def q6_k(b):
    out = []
    for off in range(0, len(b), 210):
        ql = b[off:off + 128]
        qh = b[off + 128:off + 192]
        scales = struct.unpack_from("<16b", b, off + 192)
        d = _half(b, off + 208)
        block = [0.0] * 256
        for e in range(256):
            half, r = divmod(e, 128)
            k, l = divmod(r, 32)
            lo_byte = ql[64 * half + 32 * (k & 1) + l]
            low = (lo_byte >> 4) if k >= 2 else (lo_byte & 0x0F)
            high = (qh[32 * half + l] >> (2 * k)) & 3
            block[e] = d * scales[e // 16] * ((low | (high << 4)) - 32)
        out += block
    return out


def f16(b):
    return [v[0] for v in struct.iter_unpack("<e", b)]


def bf16(b):
    return [struct.unpack("<f", struct.pack("<I", v[0] << 16))[0] for v in struct.iter_unpack("<H", b)]


def f32(b):
    return [v[0] for v in struct.iter_unpack("<f", b)]


LOOPS = {0: (f32, 4, 1), 1: (f16, 2, 1), 30: (bf16, 2, 1), 2: (q4_0, 18, 32), 8: (q8_0, 34, 32),
         12: (q4_k, 144, 256), 13: (q5_k, 176, 256), 14: (q6_k, 210, 256)}
