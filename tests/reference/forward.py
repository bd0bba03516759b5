#!/usr/bin/python3
"""Float64 reference forward pass for llama / qwen2 / qwen3 GGUF models (tests only).

  /usr/bin/python3 tests/reference/forward.py MODEL.gguf --tokens 1,2,3 --out LOGITS [--last-only]
      writes float64 little-endian logits [n_rows, n_vocab] (row i: causal attention over
      positions 0..i; n_rows = n_tokens, or 1 with --last-only) and prints a JSON summary line.
  /usr/bin/python3 tests/reference/forward.py MODEL.gguf --dequant TENSOR --out FILE
      writes that tensor dequantized as float64 little-endian (GGUF dims reversed: row-major,
      dims[0] contiguous) and prints a JSON summary line.
  /usr/bin/python3 tests/reference/forward.py --dequant-raw GGML_TYPE --in BLOCKS --out FILE
      dequantizes a raw file of blocks of one ggml type id (0 F32, 1 F16, 2 Q4_0, 8 Q8_0,
      12 Q4_K, 13 Q5_K, 14 Q6_K, 30 BF16) to float64 little-endian (no GGUF file needed).

Independent of the engine: own GGUF parser (gguf_reader.py), own dequantisation (dequant.py),
plain NumPy float64 maths written from the architecture description.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dequant import dequantize, dequantize_bytes, dequantize_rows  # noqa: E402
from gguf_reader import GGUFError, GGUFFile  # noqa: E402

SUPPORTED_ARCHS = ("llama", "qwen2", "qwen3")
OUTPUT_CHUNK_ROWS = 8192  # rows of the output matrix decoded at a time (bounds peak memory)


class Config:
    """Hyper-parameters read from `{arch}.*` metadata keys."""

    def __init__(self, gguf):
        arch = gguf.get("general.architecture")
        if arch not in SUPPORTED_ARCHS:
            raise GGUFError("unsupported architecture %r" % (arch,))
        self.arch = arch

        def key(name, default=None):
            value = gguf.get("%s.%s" % (arch, name), default)
            if value is None:
                raise GGUFError("missing metadata key %s.%s" % (arch, name))
            return value

        self.n_layer = int(key("block_count"))
        self.n_embd = int(key("embedding_length"))
        self.n_head = int(key("attention.head_count"))
        self.n_head_kv = int(key("attention.head_count_kv", self.n_head))
        self.head_dim = int(key("attention.key_length", self.n_embd // self.n_head))
        self.head_dim_v = int(key("attention.value_length", self.head_dim))
        self.eps = float(key("attention.layer_norm_rms_epsilon"))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.rope_dims = int(key("rope.dimension_count", self.head_dim))
        scaling = key("rope.scaling.type", "none")
        factor = float(key("rope.scaling.factor", 1.0))
        if scaling == "linear" and factor > 0:
            self.rope_pos_scale = 1.0 / factor
        elif scaling in ("none", "linear"):
            self.rope_pos_scale = 1.0
        else:
            raise GGUFError("rope scaling type %r is not supported by the reference" % scaling)
        # llama: rotate adjacent pairs ("normal"); qwen2/qwen3: rotate halves ("neox").
        self.rope_neox = arch in ("qwen2", "qwen3")
        if self.n_head % self.n_head_kv:
            raise GGUFError("head_count %d not a multiple of head_count_kv %d"
                            % (self.n_head, self.n_head_kv))
        if self.rope_dims % 2 or self.rope_dims > self.head_dim:
            raise GGUFError("bad rope.dimension_count %d" % self.rope_dims)

    def summary(self):
        return {k: v for k, v in vars(self).items()}


def rms_norm(x, weight, eps):
    """x [..., n] * weight [n] / sqrt(mean(x^2) + eps), over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_angles(cfg, freq_factors, n_tokens):
    """Rotation angles [n_tokens, rope_dims/2]: pos * base^(-2i/d) / freq_factors[i]."""
    i = np.arange(cfg.rope_dims // 2, dtype=np.float64)
    inv_freq = cfg.rope_base ** (-2.0 * i / cfg.rope_dims)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors
    pos = np.arange(n_tokens, dtype=np.float64) * cfg.rope_pos_scale
    return pos[:, None] * inv_freq[None, :]


def apply_rope(x, angles, cfg):
    """x [n_tokens, n_heads, head_dim]; rotates the first rope_dims of each head."""
    cos = np.cos(angles)[:, None, :]  # [n_tokens, 1, rope_dims/2]
    sin = np.sin(angles)[:, None, :]
    out = x.copy()
    d = cfg.rope_dims
    if cfg.rope_neox:
        a, b = x[:, :, 0:d // 2], x[:, :, d // 2:d]
        out[:, :, 0:d // 2] = a * cos - b * sin
        out[:, :, d // 2:d] = a * sin + b * cos
    else:
        a, b = x[:, :, 0:d:2], x[:, :, 1:d:2]
        out[:, :, 0:d:2] = a * cos - b * sin
        out[:, :, 1:d:2] = a * sin + b * cos
    return out


class Model:
    def __init__(self, path):
        self.gguf = GGUFFile(path)
        self.cfg = Config(self.gguf)
        embd = self.gguf.tensors.get("token_embd.weight")
        if embd is None or len(embd.dims) != 2 or embd.dims[0] != self.cfg.n_embd:
            raise GGUFError("token_embd.weight missing or not [n_embd, n_vocab]")
        self.n_vocab = embd.dims[1]
        self.output_name = ("output.weight" if "output.weight" in self.gguf.tensors
                            else "token_embd.weight")

    def weight(self, name, shape=None):
        w = dequantize(self.gguf, name)
        if shape is not None and w.shape != tuple(shape):
            raise GGUFError("tensor '%s' has shape %s, expected %s" % (name, w.shape, tuple(shape)))
        return w

    def optional(self, name, shape=None):
        return self.weight(name, shape) if name in self.gguf.tensors else None

    def attention(self, layer, h, angles):
        """h [T, n_embd] (normed) -> attention output [T, n_embd]."""
        cfg, p = self.cfg, "blk.%d." % layer
        T = h.shape[0]
        nq, nkv, hd, hdv = cfg.n_head, cfg.n_head_kv, cfg.head_dim, cfg.head_dim_v
        q = h @ self.weight(p + "attn_q.weight", (nq * hd, cfg.n_embd)).T
        k = h @ self.weight(p + "attn_k.weight", (nkv * hd, cfg.n_embd)).T
        v = h @ self.weight(p + "attn_v.weight", (nkv * hdv, cfg.n_embd)).T
        for name, t in (("attn_q.bias", q), ("attn_k.bias", k), ("attn_v.bias", v)):
            bias = self.optional(p + name, (t.shape[1],))
            if bias is not None:
                t += bias
        q = q.reshape(T, nq, hd)
        k = k.reshape(T, nkv, hd)
        v = v.reshape(T, nkv, hdv)
        q_norm = self.optional(p + "attn_q_norm.weight", (hd,))
        k_norm = self.optional(p + "attn_k_norm.weight", (hd,))
        if q_norm is not None:
            q = rms_norm(q, q_norm, cfg.eps)
        if k_norm is not None:
            k = rms_norm(k, k_norm, cfg.eps)
        q = apply_rope(q, angles, cfg)
        k = apply_rope(k, angles, cfg)

        group = nq // nkv
        k = np.repeat(k, group, axis=1)  # query head j reads kv head j // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hd)  # [n_head, T, T]
        future = np.triu(np.ones((T, T), dtype=bool), k=1)
        scores[:, future] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        out = np.einsum("hij,jhd->ihd", probs, v).reshape(T, nq * hdv)
        return out @ self.weight(p + "attn_output.weight", (cfg.n_embd, nq * hdv)).T

    def feed_forward(self, layer, h):
        """SwiGLU: down(silu(gate h) * up h); h [T, n_embd]."""
        p = "blk.%d." % layer
        gate = h @ self.weight(p + "ffn_gate.weight").T
        up = h @ self.weight(p + "ffn_up.weight").T
        return (silu(gate) * up) @ self.weight(p + "ffn_down.weight").T

    def forward(self, tokens, last_only=False):
        """tokens [T] -> logits [T or 1, n_vocab] (float64)."""
        cfg = self.cfg
        for t in tokens:
            if not 0 <= t < self.n_vocab:
                raise GGUFError("token id %d outside vocabulary of %d" % (t, self.n_vocab))
        x = np.stack([dequantize_rows(self.gguf, "token_embd.weight", t, t + 1)[0]
                      for t in tokens])  # [T, n_embd]
        freq_factors = self.optional("rope_freqs.weight", (cfg.rope_dims // 2,))
        angles = rope_angles(cfg, freq_factors, len(tokens))
        for layer in range(cfg.n_layer):
            p = "blk.%d." % layer
            h = rms_norm(x, self.weight(p + "attn_norm.weight", (cfg.n_embd,)), cfg.eps)
            x = x + self.attention(layer, h, angles)
            h = rms_norm(x, self.weight(p + "ffn_norm.weight", (cfg.n_embd,)), cfg.eps)
            x = x + self.feed_forward(layer, h)
        x = rms_norm(x, self.weight("output_norm.weight", (cfg.n_embd,)), cfg.eps)
        if last_only:
            x = x[-1:]
        logits = np.empty((x.shape[0], self.n_vocab), dtype=np.float64)
        for start in range(0, self.n_vocab, OUTPUT_CHUNK_ROWS):
            stop = min(start + OUTPUT_CHUNK_ROWS, self.n_vocab)
            logits[:, start:stop] = x @ dequantize_rows(self.gguf, self.output_name, start, stop).T
        return logits


def parse_tokens(text):
    try:
        tokens = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise SystemExit("--tokens must be a comma-separated list of integers")
    if not tokens:
        raise SystemExit("--tokens is empty")
    return tokens


def write_f64(path, array):
    np.ascontiguousarray(array, dtype="<f8").tofile(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--dequant", metavar="TENSOR", help="dequantize one tensor instead")
    ap.add_argument("--dequant-raw", metavar="GGML_TYPE", type=int,
                    help="dequantize raw blocks of this ggml type read from --in")
    ap.add_argument("--in", dest="input", metavar="FILE", help="raw block file for --dequant-raw")
    ap.add_argument("--out", required=True)
    ap.add_argument("--last-only", action="store_true", help="write only the last position")
    args = ap.parse_args(argv)

    try:
        if args.dequant_raw is not None:
            if not args.input:
                ap.error("--dequant-raw needs --in FILE")
            with open(args.input, "rb") as f:
                raw = f.read()
            values = dequantize_bytes(args.dequant_raw, raw)
            write_f64(args.out, values)
            print(json.dumps({"ggml_type": args.dequant_raw, "n_elements": int(values.size)}))
            return 0
        if not args.model:
            ap.error("MODEL is required")
        if args.dequant:
            gguf = GGUFFile(args.model)
            w = dequantize(gguf, args.dequant)
            write_f64(args.out, w)
            info = gguf.tensors[args.dequant]
            print(json.dumps({"tensor": args.dequant, "ggml_type": info.ggml_type,
                              "type": info.type_name, "dims": info.dims,
                              "n_elements": int(w.size)}))
            return 0
        if not args.tokens:
            ap.error("either --tokens or --dequant is required")
        tokens = parse_tokens(args.tokens)
        model = Model(args.model)
        logits = model.forward(tokens, last_only=args.last_only)
        write_f64(args.out, logits)
        print(json.dumps({"n_tokens": len(tokens), "n_vocab": model.n_vocab,
                          "rows": int(logits.shape[0]), "architecture": model.cfg.arch}))
        return 0
    except (GGUFError, ValueError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
