"""Synthetic checks of the reference for the architectures stories260K does not cover.

- write_gguf(): a minimal GGUF v3 writer (tests only) so that tiny random llama / qwen2 / qwen3
  models, with F32/F16/BF16/Q8_0 weights, can be fed through gguf_reader.py and forward.py.
- naive_forward(): the same maths written a second way, token by token with a growing KV cache
  and explicit loops over heads and rotation pairs. forward.py (batched, vectorised) must agree.
- rope_examples(): hand-worked rotations that pin the "normal" vs "neox" pair conventions.
"""

import os
import struct
import tempfile

import numpy as np

from dequant import dequantize
from forward import Model, apply_rope

_F32, _F16, _Q8_0, _BF16 = 0, 1, 8, 30


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _kv(key, value):
    if isinstance(value, str):
        return _string(key) + struct.pack("<I", 8) + _string(value)
    if isinstance(value, float):
        return _string(key) + struct.pack("<If", 6, value)
    if isinstance(value, list):  # list of strings
        out = _string(key) + struct.pack("<IIQ", 9, 8, len(value))
        return out + b"".join(_string(v) for v in value)
    return _string(key) + struct.pack("<II", 4, value)  # uint32


def _encode(array, ggml_type):
    """float64 array -> (bytes, the float64 values those bytes actually hold)."""
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    if ggml_type == _F32:
        v = flat.astype("<f4")
        return v.tobytes(), v.astype(np.float64)
    if ggml_type == _F16:
        v = flat.astype("<f2")
        return v.tobytes(), v.astype(np.float64)
    if ggml_type == _BF16:
        bits = (flat.astype("<f4").view("<u4") >> 16).astype("<u2")
        return bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if ggml_type == _Q8_0:
        blocks = flat.reshape(-1, 32)
        d = (np.abs(blocks).max(axis=1) / 127.0).astype("<f2")
        dd = d.astype(np.float64)
        q = np.where(dd[:, None] > 0, np.round(blocks / np.where(dd > 0, dd, 1)[:, None]), 0)
        q = np.clip(q, -127, 127).astype(np.int8)
        raw = np.concatenate([d.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1)
        return raw.tobytes(), (dd[:, None] * q).reshape(-1)
    raise ValueError(ggml_type)


def write_gguf(path, metadata, tensors):
    """tensors: {name: (float64 array in NumPy shape (n_out, n_in) or (n,), ggml_type)}.
    Returns {name: float64 array of the values as stored} (after rounding to the type)."""
    alignment = metadata.get("general.alignment", 32)
    infos, blobs, stored, offset = [], [], {}, 0
    for name, (array, ggml_type) in tensors.items():
        raw, values = _encode(array, ggml_type)
        stored[name] = values.reshape(np.shape(array))
        dims = list(reversed(np.shape(array)))
        infos.append(_string(name) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset))
        pad = (-len(raw)) % alignment
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    kvs = [_kv(k, v) for k, v in metadata.items()]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs)) + b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % alignment)
    with open(path, "wb") as f:
        f.write(head + b"".join(blobs))
    return stored


def random_model(arch, rng, n_vocab=96, n_embd=64, n_head=4, n_head_kv=2, head_dim=24,
                 n_ff=96, n_layer=2, weight_type=_F32, rope_freqs=False):
    """Metadata and tensors of a tiny random model of `arch`."""
    md = {"general.architecture": arch, "general.alignment": 64,
          arch + ".block_count": n_layer, arch + ".embedding_length": n_embd,
          arch + ".feed_forward_length": n_ff, arch + ".attention.head_count": n_head,
          arch + ".attention.head_count_kv": n_head_kv, arch + ".attention.key_length": head_dim,
          arch + ".attention.value_length": head_dim, arch + ".rope.freq_base": 5000.0,
          arch + ".attention.layer_norm_rms_epsilon": 1e-6,
          "tokenizer.ggml.tokens": ["t%d" % i for i in range(n_vocab)]}
    w = lambda *shape: (rng.standard_normal(shape) * 0.3, weight_type)
    norm = lambda n: (1.0 + 0.2 * rng.standard_normal(n), _F32)
    t = {"token_embd.weight": w(n_vocab, n_embd), "output_norm.weight": norm(n_embd),
         "output.weight": w(n_vocab, n_embd)}
    if rope_freqs:
        t["rope_freqs.weight"] = (rng.uniform(1.0, 8.0, head_dim // 2), _F32)
    for i in range(n_layer):
        p = "blk.%d." % i
        t[p + "attn_norm.weight"] = norm(n_embd)
        t[p + "attn_q.weight"] = w(n_head * head_dim, n_embd)
        t[p + "attn_k.weight"] = w(n_head_kv * head_dim, n_embd)
        t[p + "attn_v.weight"] = w(n_head_kv * head_dim, n_embd)
        t[p + "attn_output.weight"] = w(n_embd, n_head * head_dim)
        t[p + "ffn_norm.weight"] = norm(n_embd)
        t[p + "ffn_gate.weight"] = w(n_ff, n_embd)
        t[p + "ffn_up.weight"] = w(n_ff, n_embd)
        t[p + "ffn_down.weight"] = w(n_embd, n_ff)
        if arch == "qwen2":
            for name, n in (("attn_q.bias", n_head), ("attn_k.bias", n_head_kv), ("attn_v.bias", n_head_kv)):
                t[p + name] = (rng.standard_normal(n * head_dim) * 0.3, _F32)
        if arch == "qwen3":
            t[p + "attn_q_norm.weight"] = norm(head_dim)
            t[p + "attn_k_norm.weight"] = norm(head_dim)
    return md, t


def _rms(x, w, eps):
    return x / np.sqrt(np.dot(x, x) / len(x) + eps) * w


def _rotate(vec, pos, base, freq_factors, neox):
    """One head vector, rotated pair by pair with explicit indices."""
    d = len(vec)
    out = vec.copy()
    for i in range(d // 2):
        theta = pos * base ** (-2.0 * i / d)
        if freq_factors is not None:
            theta /= freq_factors[i]
        a, b = (i, i + d // 2) if neox else (2 * i, 2 * i + 1)
        out[a] = vec[a] * np.cos(theta) - vec[b] * np.sin(theta)
        out[b] = vec[a] * np.sin(theta) + vec[b] * np.cos(theta)
    return out


def naive_forward(arch, md, W, tokens):
    """Token-by-token forward with a KV cache; W: stored float64 tensors. Returns [T, n_vocab]."""
    g = lambda k: md[arch + "." + k]
    n_layer, n_head, n_kv, hd = g("block_count"), g("attention.head_count"), g("attention.head_count_kv"), g("attention.key_length")
    eps, base = g("attention.layer_norm_rms_epsilon"), g("rope.freq_base")
    neox = arch in ("qwen2", "qwen3")
    ff = W.get("rope_freqs.weight")
    cache = [([], []) for _ in range(n_layer)]  # per layer: keys, values [pos][kv_head] -> [hd]
    rows = []
    for pos, tok in enumerate(tokens):
        x = W["token_embd.weight"][tok].copy()
        for layer in range(n_layer):
            p = "blk.%d." % layer
            h = _rms(x, W[p + "attn_norm.weight"], eps)
            q_all = W[p + "attn_q.weight"] @ h + W.get(p + "attn_q.bias", 0)
            k_all = W[p + "attn_k.weight"] @ h + W.get(p + "attn_k.bias", 0)
            v_all = W[p + "attn_v.weight"] @ h + W.get(p + "attn_v.bias", 0)
            keys, values = cache[layer]
            step_k, step_v = [], []
            for j in range(n_kv):
                k = k_all[j * hd:(j + 1) * hd]
                if p + "attn_k_norm.weight" in W:
                    k = _rms(k, W[p + "attn_k_norm.weight"], eps)
                step_k.append(_rotate(k, pos, base, ff, neox))
                step_v.append(v_all[j * hd:(j + 1) * hd])
            keys.append(step_k)
            values.append(step_v)
            att = np.zeros(n_head * hd)
            for head in range(n_head):
                q = q_all[head * hd:(head + 1) * hd]
                if p + "attn_q_norm.weight" in W:
                    q = _rms(q, W[p + "attn_q_norm.weight"], eps)
                q = _rotate(q, pos, base, ff, neox)
                kv = head * n_kv // n_head
                s = np.array([np.dot(q, keys[t][kv]) for t in range(pos + 1)]) / np.sqrt(hd)
                e = np.exp(s - s.max())
                e /= e.sum()
                att[head * hd:(head + 1) * hd] = sum(e[t] * values[t][kv] for t in range(pos + 1))
            x = x + W[p + "attn_output.weight"] @ att
            h = _rms(x, W[p + "ffn_norm.weight"], eps)
            gate = W[p + "ffn_gate.weight"] @ h
            x = x + W[p + "ffn_down.weight"] @ (gate / (1 + np.exp(-gate)) * (W[p + "ffn_up.weight"] @ h))
        rows.append(W["output.weight"] @ _rms(x, W["output_norm.weight"], eps))
    return np.array(rows)


def check_architectures(failures, seed):
    cases = [("llama", _F32, True), ("llama", _Q8_0, False), ("qwen2", _F16, False), ("qwen3", _BF16, False)]
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for arch, wtype, rope_freqs in cases:
            md, tensors = random_model(arch, rng, weight_type=wtype, rope_freqs=rope_freqs)
            path = os.path.join(tmp, "%s_%d.gguf" % (arch, wtype))
            stored = write_gguf(path, md, tensors)
            model = Model(path)
            for name, values in stored.items():  # the reader + dequantizer round-trip
                if not np.array_equal(dequantize(model.gguf, name), values):
                    failures.append("%s: tensor %s does not read back as written" % (arch, name))
                    break
            tokens = [int(t) for t in rng.integers(0, 96, size=9)]
            got = model.forward(tokens)
            want = naive_forward(arch, md, stored, tokens)
            err = np.max(np.abs(got - want)) / np.max(np.abs(want))
            print("synthetic %s (type %d%s): max rel err vs naive %.2e"
                  % (arch, wtype, ", rope_freqs" if rope_freqs else "", err))
            if not err < 1e-10:
                failures.append("%s type %d: forward.py differs from the naive forward by %g" % (arch, wtype, err))


class _RopeCfg:
    def __init__(self, d, neox):
        self.rope_dims, self.rope_neox = d, neox


def rope_examples(failures):
    """x = e0 in a 4-dim head at position 1 (theta_0 = 1 rad): normal rotates into x[1],
    neox into x[2]; the second pair (theta_1 = base^-0.5) is untouched by e0."""
    x = np.zeros((1, 1, 4))
    x[0, 0, 0] = 1.0
    angles = np.array([[1.0, 0.01]])
    c, s = np.cos(1.0), np.sin(1.0)
    for neox, want in ((False, [c, s, 0, 0]), (True, [c, 0, s, 0])):
        got = apply_rope(x, angles, _RopeCfg(4, neox))[0, 0]
        if not np.allclose(got, want, atol=1e-15):
            failures.append("rope %s: e0 -> %s, want %s" % ("neox" if neox else "normal", got, want))
