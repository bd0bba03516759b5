#!/usr/bin/python3
"""Self-test of the float64 reference: greedy decoding of stories260K must reproduce the
llama2.c reference text (tests/data/stories260K_reference.txt).

  /usr/bin/python3 tests/reference/selftest.py [--model M.gguf] [--reference TEXT] [--steps N]

Also checks: the vectorised dequantisers against element-by-element loops (dequant_loops.py);
tiny random llama/qwen2/qwen3 GGUF models (synthetic.py) against a token-by-token naive forward;
hand-worked RoPE rotations; that the prompt token ids spell "Once upon a time" in the model's own vocabulary,
that --last-only equals the last row of a full run, and that causal rows do not see the future.
Exit status 0 on success, 1 on a mismatch.
"""

import argparse
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, HERE)

import dequant_loops  # noqa: E402
from dequant import dequantize_bytes  # noqa: E402
from forward import Model  # noqa: E402
from synthetic import check_architectures, rope_examples  # noqa: E402

PROMPT_IDS = [1, 403, 407, 261, 378]  # <s> ▁Once ▁upon ▁a ▁time
PROMPT_TEXT = "Once upon a time"
BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def decode(pieces, ids):
    """SentencePiece pieces -> text: ▁ (U+2581) is a space, <0xNN> is a raw byte."""
    out = bytearray()
    for i in ids:
        piece = pieces[i]
        m = BYTE_PIECE.match(piece)
        if m:
            out.append(int(m.group(1), 16))
        elif piece in ("<s>", "</s>", "<unk>"):
            continue
        else:
            out += piece.replace("\u2581", " ").encode("utf-8")
    return out.decode("utf-8", errors="replace")


def random_blocks(rng, ggml_type, n_blocks):
    """Random block bytes of a type, with finite half-precision scales where the layout has them."""
    _, block_bytes, _ = dequant_loops.LOOPS[ggml_type]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    halves = lambda: rng.uniform(-2.0, 2.0, size=n_blocks).astype("<f2").view(np.uint8).reshape(-1, 2)
    if ggml_type in (2, 8):            # Q4_0, Q8_0: d at byte 0
        raw[:, 0:2] = halves()
    elif ggml_type in (12, 13):        # Q4_K, Q5_K: d, dmin at bytes 0 and 2
        raw[:, 0:2] = halves()
        raw[:, 2:4] = halves()
    elif ggml_type == 14:              # Q6_K: d at byte 208
        raw[:, 208:210] = halves()
    elif ggml_type == 0:
        raw = rng.standard_normal(n_blocks).astype("<f4").view(np.uint8).reshape(n_blocks, 4)
    elif ggml_type == 1:
        raw = rng.standard_normal(n_blocks).astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    elif ggml_type == 30:
        bits = rng.standard_normal(n_blocks).astype("<f4").view("<u4") >> 16
        raw = bits.astype("<u2").view(np.uint8).reshape(n_blocks, 2)
    return raw.tobytes()


def check_dequant(failures, seed):
    """Vectorised dequant.py must equal the element-by-element loops of dequant_loops.py."""
    rng = np.random.default_rng(seed)
    for ggml_type, (loop, _, _) in sorted(dequant_loops.LOOPS.items()):
        raw = random_blocks(rng, ggml_type, 7 if ggml_type in (12, 13, 14) else 64)
        got = dequantize_bytes(ggml_type, raw)
        want = np.array(loop(raw), dtype=np.float64)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-12, atol=0):
            failures.append("dequant of ggml type %d disagrees with the loop version" % ggml_type)


def greedy(model, prompt, n_positions):
    tokens = list(prompt)
    while len(tokens) < n_positions:
        logits = model.forward(tokens, last_only=True)[0]
        tokens.append(int(np.argmax(logits)))  # argmax: ties go to the lowest id
    return tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "resources/models/stories260K.gguf"))
    ap.add_argument("--reference", default=os.path.join(ROOT, "tests/data/stories260K_reference.txt"))
    ap.add_argument("--steps", type=int, default=200, help="positions including the prompt")
    args = ap.parse_args()

    model = Model(args.model)
    pieces = model.gguf.get("tokenizer.ggml.tokens")
    failures = []

    seed = int.from_bytes(os.urandom(4), "little")
    print("dequant cross-check seed %d" % seed)
    check_dequant(failures, seed)
    rope_examples(failures)
    check_architectures(failures, seed)

    # The SentencePiece tokenizer adds a dummy-prefix space, so the prompt starts with "▁Once".
    prompt_pieces = [pieces[i] for i in PROMPT_IDS]
    prompt_text = decode(pieces, PROMPT_IDS)
    print("prompt ids %s = %s" % (PROMPT_IDS, prompt_pieces))
    if prompt_pieces[0] != "<s>" or prompt_text != " " + PROMPT_TEXT:
        failures.append("prompt ids decode to %r, not ' %s'" % (prompt_text, PROMPT_TEXT))

    # --last-only and causality: row i of a full run must equal a run on tokens[:i+1].
    probe = PROMPT_IDS + [300, 301, 302]
    full = model.forward(probe)
    for i in (0, 3, len(probe) - 1):
        part = model.forward(probe[:i + 1], last_only=True)[0]
        err = np.max(np.abs(full[i] - part))
        if err > 1e-9:
            failures.append("row %d of a full run differs from a prefix run by %g" % (i, err))

    tokens = greedy(model, PROMPT_IDS, args.steps)
    text = decode(pieces, tokens).lstrip(" ")  # llama2.c drops the dummy-prefix space
    with open(args.reference, encoding="utf-8") as f:
        reference = f.read().rstrip("\n")
    print("generated %d tokens: %s" % (len(tokens) - len(PROMPT_IDS), tokens[len(PROMPT_IDS):]))
    print("text: %r" % text)
    if not reference.startswith(text) and not text.startswith(reference):
        n = next((i for i, (a, b) in enumerate(zip(text, reference)) if a != b),
                 min(len(text), len(reference)))
        failures.append("text differs from the reference at char %d: got %r, want %r"
                        % (n, text[n:n + 40], reference[n:n + 40]))
    elif len(text) < min(len(reference), 200):
        failures.append("generated text too short to compare (%d chars)" % len(text))

    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print("PASS: %d positions match the llama2.c reference" % len(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
