#!/usr/bin/python3
"""Where do the CPU and CUDA logits of a quantized model part from the float64 truth? (issue 4)

  python3 tests/gpu/precision_study.py MODEL.gguf [--positions 128 --seed 1 | --tokens FILE]
        [--logits NAME=FILE.f32 ...]

Runs the float64 reference forward pass (tests/reference/forward.py) on a random teacher-forced
token sequence, and beside it, in lock step over the same dequantized weights, emulations of the
numerics each engine path applies on top of the exact weights:
  cpu         activations quantized per matmul to Q8_K (int8, one scale per 256) for K-quant
              weights, Q8_0 (one fp16 scale per 32) for Q4_0 / Q8_0; F32 KV cache
  gpu_decode  activations quantized to int8 with one float scale per 32 (kernels/cuda
              quant_activations.cu); F16 KV cache
  gpu_prefill weights dequantized to FP16 tiles, activations rounded to FP16, FP32 accumulate
              (quant_gemm.cu, cuBLAS); F16 KV cache
  gpu_decode_fdown  gpu_decode with the SwiGLU output (the down product's input) left in float:
              how much of gpu_decode's error that one quantization causes
Products are computed in float64 on the rounded operands: an int8 x int8 dot with float scales
is exactly that up to float32 accumulation, which is far below the effects studied here.
--logits NAME=FILE adds measured logits (float32 little-endian [positions, n_vocab], e.g. from
test_cuda_precision with HEARTH_PRECISION_DUMP=DIR: DIR/cpu.f32, cuda_prefill.f32,
cuda_decode.f32) to the table; --tokens DIR/tokens.txt then replays that run's tokens. Without
--tokens, they are drawn with numpy's default_rng(seed) over [0, n_vocab).

Prints, per path: top-1 agreement with float64, max |logit - float64|, RMS error over the RMS of
the float64 logits, then pairwise top-1 agreement, and the float64 top-1 margin distribution
(a random-weight model has near-ties where a trained one has a clear winner).
"""

import argparse
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))

from dequant import dequantize_rows  # noqa: E402
import forward as ref  # noqa: E402

K_QUANT_TYPES = ("Q4_K", "Q5_K", "Q6_K")


def quant_q8_blocks(x, block, scale_fp16):
    """x [T, n] -> values after int8 quantization with one scale per `block` columns."""
    T, n = x.shape
    b = x.reshape(T, n // block, block)
    amax = np.abs(b).max(axis=-1, keepdims=True)
    d = amax / 127.0
    if scale_fp16:
        d_used = d.astype(np.float16).astype(np.float64)
    else:
        d_used = d.astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.rint(b / np.where(d > 0, d, 1.0)), 0.0)
    q = np.clip(q, -127, 127)
    return (q * d_used).reshape(T, n)


def quant_q8_k(x):
    """Q8_K: one scale per 256, scale from the element of largest magnitude (s = -127 / v)."""
    T, n = x.shape
    b = x.reshape(T, n // 256, 256)
    idx = np.abs(b).argmax(axis=-1)[..., None]
    v = np.take_along_axis(b, idx, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v != 0, -127.0 / np.where(v != 0, v, 1.0), 0.0).astype(np.float32).astype(np.float64)
        q = np.minimum(127.0, np.rint(s * b))
        d = np.where(s != 0, 1.0 / np.where(s != 0, s, 1.0), 0.0).astype(np.float32).astype(np.float64)
    return (q * d).reshape(T, n)


def to_f16(a):
    return a.astype(np.float16).astype(np.float64)


class Path:
    """One numerics emulation: how activations, weights and the KV cache are rounded."""

    def __init__(self, name):
        self.name = name
        self.x = None

    def act(self, h, wtype, role=""):
        if self.name == "f64":
            return h
        if self.name == "gpu_decode_fdown":  # gpu_decode, but the down product's input unquantized
            if role == "down" or wtype in ("F32", "F16", "BF16"):
                return h
            return quant_q8_blocks(h, 32, scale_fp16=False)
        if self.name == "cpu":
            if wtype in K_QUANT_TYPES:
                return quant_q8_k(h)
            if wtype in ("Q4_0", "Q8_0"):
                return quant_q8_blocks(h, 32, scale_fp16=True)
            return h  # float weights: float activations
        if self.name == "gpu_decode":
            return quant_q8_blocks(h, 32, scale_fp16=False) if wtype not in ("F32", "F16", "BF16") else h
        if self.name == "gpu_prefill":
            return to_f16(h) if wtype != "F32" else h
        raise ValueError(self.name)

    def weight(self, w, wtype):
        if self.name == "gpu_prefill" and wtype not in ("F32", "F16", "BF16"):
            return to_f16(w)
        return w

    def kv(self, a):
        return to_f16(a) if self.name.startswith("gpu") else a.astype(np.float32).astype(np.float64)


class StudyModel(ref.Model):
    def wtype(self, name):
        return self.gguf.tensors[name].type_name

    def matmul(self, path, h, name, cache):
        if name not in cache:
            cache[name] = ref.dequantize(self.gguf, name)
        t = self.wtype(name)
        w = path.weight(cache[name], t)
        if path.name == "f64":
            return h @ w.T
        # The emulated paths multiply their rounded operands in float32 (as the engines
        # accumulate): its rounding (~1e-7 relative) is far below the effects studied, and it
        # halves the time of this pure-Python study.
        key = (name, path.name == "gpu_prefill")
        if key not in cache:
            cache[key] = w.astype(np.float32)
        role = "down" if name.endswith("ffn_down.weight") else ""
        return (path.act(h, t, role).astype(np.float32) @ cache[key].T).astype(np.float64)

    def layer(self, path, layer, angles, cache):
        cfg, p = self.cfg, "blk.%d." % layer
        x = path.x
        T = x.shape[0]
        nq, nkv, hd = cfg.n_head, cfg.n_head_kv, cfg.head_dim
        h = ref.rms_norm(x, self.weight(p + "attn_norm.weight"), cfg.eps)
        q = self.matmul(path, h, p + "attn_q.weight", cache).reshape(T, nq, hd)
        k = self.matmul(path, h, p + "attn_k.weight", cache).reshape(T, nkv, hd)
        v = self.matmul(path, h, p + "attn_v.weight", cache).reshape(T, nkv, hd)
        q = ref.apply_rope(q, angles, cfg)
        k = path.kv(ref.apply_rope(k, angles, cfg))
        v = path.kv(v)
        group = nq // nkv
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hd)
        scores[:, np.triu(np.ones((T, T), dtype=bool), k=1)] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hij,jhd->ihd", probs, v).reshape(T, nq * hd)
        x = x + self.matmul(path, attn, p + "attn_output.weight", cache)
        h = ref.rms_norm(x, self.weight(p + "ffn_norm.weight"), cfg.eps)
        gate = self.matmul(path, h, p + "ffn_gate.weight", cache)
        up = self.matmul(path, h, p + "ffn_up.weight", cache)
        path.x = x + self.matmul(path, ref.silu(gate) * up, p + "ffn_down.weight", cache)

    def run(self, tokens, paths):
        cfg = self.cfg
        x0 = np.stack([dequantize_rows(self.gguf, "token_embd.weight", t, t + 1)[0] for t in tokens])
        for path in paths:
            path.x = x0.copy()
        angles = ref.rope_angles(cfg, self.optional("rope_freqs.weight", (cfg.rope_dims // 2,)), len(tokens))
        for layer in range(cfg.n_layer):
            cache = {}  # this layer's dequantized weights, shared by every path
            for path in paths:
                self.layer(path, layer, angles, cache)
            print("layer %d/%d" % (layer + 1, cfg.n_layer), file=sys.stderr, flush=True)
        out_type = self.wtype(self.output_name)
        norm = self.weight("output_norm.weight")
        hs = {p.name: ref.rms_norm(p.x, norm, cfg.eps) for p in paths}
        acts = {p.name: p.act(hs[p.name], out_type) for p in paths}
        logits = {p.name: np.empty((len(tokens), self.n_vocab)) for p in paths}
        for start in range(0, self.n_vocab, ref.OUTPUT_CHUNK_ROWS):
            stop = min(start + ref.OUTPUT_CHUNK_ROWS, self.n_vocab)
            w = dequantize_rows(self.gguf, self.output_name, start, stop)
            for p in paths:
                logits[p.name][:, start:stop] = acts[p.name] @ p.weight(w, out_type).T
        return logits


def report(logits, truth_name="f64"):
    truth = logits[truth_name]
    T = truth.shape[0]
    top = {k: v.argmax(axis=1) for k, v in logits.items()}
    srt = np.sort(truth, axis=1)
    margin = srt[:, -1] - srt[:, -2]
    rms_truth = np.sqrt(np.mean(truth ** 2))
    print("float64 logits: RMS %.3f, top-1 margin (top1 - top2) median %.3f, p10 %.3f, min %.4f"
          % (rms_truth, np.median(margin), np.percentile(margin, 10), margin.min()))
    print("%-14s %10s %12s %12s %12s" % ("path", "top1=f64", "max|d|", "rms d/rms", "rms d"))
    for k, v in logits.items():
        if k == truth_name:
            continue
        d = v - truth
        print("%-14s %6d/%-3d %12.4f %12.5f %12.5f" % (k, int((top[k] == top[truth_name]).sum()), T,
                                                       np.abs(d).max(), np.sqrt(np.mean(d ** 2)) / rms_truth,
                                                       np.sqrt(np.mean(d ** 2))))
    names = [k for k in logits if k != truth_name]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            agree = int((top[a] == top[b]).sum())
            print("top-1 %s vs %s: %d/%d, max |d| %.4f" % (a, b, agree, T, np.abs(logits[a] - logits[b]).max()))
    # How much of a flip is a near-tie: the float64 margin at each disagreement with the truth.
    for k in names:
        bad = np.nonzero(top[k] != top[truth_name])[0]
        if bad.size:
            print("%s: float64 margins where its top-1 differs: max %.4f (median margin overall %.3f)"
                  % (k, margin[bad].max(), np.median(margin)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--positions", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--paths", default="cpu,gpu_decode,gpu_prefill")
    ap.add_argument("--logits", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--tokens", help="read the token ids (one per line, e.g. test_cuda_precision's tokens.txt) "
                    "instead of drawing them")
    ap.add_argument("--tokens-out", help="write the token ids (one per line)")
    ap.add_argument("--save", help="save all logits as NAME.npy files under this folder")
    args = ap.parse_args()
    model = StudyModel(args.model)
    if args.tokens:
        with open(args.tokens) as f:
            tokens = [int(line) for line in f if line.strip()]
        args.positions = len(tokens)
    else:
        rng = np.random.default_rng(args.seed)
        tokens = [int(t) for t in rng.integers(0, model.n_vocab, size=args.positions)]
    if args.tokens_out:
        with open(args.tokens_out, "w") as f:
            f.write("\n".join(str(t) for t in tokens) + "\n")
    paths = [Path("f64")] + [Path(n) for n in args.paths.split(",") if n]
    logits = model.run(tokens, paths)
    for spec in args.logits:
        name, _, path = spec.partition("=")
        measured = np.fromfile(path, dtype="<f4").astype(np.float64)
        logits[name] = measured.reshape(args.positions, model.n_vocab)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        for k, v in logits.items():
            np.save(os.path.join(args.save, k + ".npy"), v.astype(np.float32))
    report(logits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
