#!/usr/bin/python3
"""Reference for test_bpe_tokenizer: an independent byte-level BPE in plain Python.

usage: bpe_reference.py CORPUS INPUTS OUT_DIR
  Trains a small byte-level BPE (300 merges) on the start of CORPUS, then for each pre-tokenizer
  splits every input (one hex UTF-8 string per line) with the `regex` module (Debian's
  python3-regex, a different engine from PCRE2) and encodes it with the textbook GPT-2 merge loop
  (lowest-rank pair, all its occurrences left to right).
  Writes OUT_DIR/vocab.txt (hex token per line), OUT_DIR/merges.txt ("hexleft hexright"),
         OUT_DIR/split_<pre>.txt (hex pieces per input), OUT_DIR/ids_<pre>.txt (ids per input).
Exit code 77 when the regex module is missing.
"""
import os
import sys
from collections import Counter

try:
    import regex
except ImportError:
    print("python3-regex is not installed (apt-get install python3-regex)")
    sys.exit(77)

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# As in the models' tokenizer.json files.
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# DeepSeek LLM's letter class as code point ranges (written as numbers so that no Unicode
# normalization of this file can change them).
DEEPSEEK_LETTERS = [
    (0x41, 0x5A), (0x61, 0x7A), (0xB5, 0xB5), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x1BA),
    (0x1BC, 0x1BF), (0x1C4, 0x293), (0x295, 0x2AF), (0x370, 0x373), (0x376, 0x376), (0x377, 0x377),
    (0x37B, 0x37D), (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A), (0x38C, 0x38C), (0x38E, 0x3A1),
    (0x3A3, 0x3F5), (0x3F7, 0x481), (0x48A, 0x52F), (0x531, 0x556), (0x10A0, 0x10C5), (0x13A0, 0x13F5),
    (0x13F8, 0x13FD), (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A),
    (0x1E00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59),
    (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE),
    (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4),
    (0x1FF6, 0x1FFC), (0x2102, 0x2102), (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D),
    (0x2124, 0x2124), (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139),
    (0x213C, 0x213F), (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2183), (0x2184, 0x2184), (0x2C00, 0x2C7B),
    (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF2), (0x2CF3, 0x2CF3), (0xA640, 0xA66D), (0xA680, 0xA69B),
    (0xA722, 0xA76F), (0xA771, 0xA787), (0xA78B, 0xA78E), (0xAB70, 0xABBF), (0xFB00, 0xFB06), (0xFB13, 0xFB17),
    (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2),
    (0x10CC0, 0x10CF2), (0x118A0, 0x118DF), (0x1E900, 0x1E943),
]


def char_class(ranges):
    return "[" + "".join(chr(lo) if lo == hi else chr(lo) + "-" + chr(hi) for lo, hi in ranges) + "]"


DEEPSEEK_LLM = [
    "[\r\n]",
    "\\s?" + char_class(DEEPSEEK_LETTERS) + "+",
    "\\s?" + char_class([(0x21, 0x2F), (0x3A, 0x7E), (0xFF01, 0xFF0F), (0xFF1A, 0xFF5E), (0x2018, 0x201F),
                          (0x3000, 0x3002)]) + "+",
    "\\s+$",
    char_class([(0x4E00, 0x9FA5), (0x800, 0x4E00), (0xAC00, 0xD7FF)]) + "+",
    "\\p{N}+",
]
PRE = {
    "gpt2": [GPT2],
    "llama-bpe": [LLAMA3],
    "qwen2": [QWEN2],
    "smollm": [r"\p{N}", GPT2],
    "deepseek-llm": DEEPSEEK_LLM,
}
IGNORE_MERGES = {"llama-bpe"}


def byte_chars():
    """GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest 256+n."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = byte_chars()


def spell(text):
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def split(text, patterns):
    pieces = [text]
    for pattern in patterns:
        compiled = regex.compile(pattern)
        out = []
        for piece in pieces:
            pos = 0
            for m in compiled.finditer(piece):
                if m.end() == m.start():
                    continue
                if m.start() > pos:
                    out.append(piece[pos:m.start()])
                out.append(m.group())
                pos = m.end()
            if pos < len(piece):
                out.append(piece[pos:])
        pieces = out
    return pieces


def train(corpus, n_merges):
    words = Counter(tuple(spell(w)) for w in split(corpus, [GPT2]))
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return merges


def bpe(chars, ranks):
    word = list(chars)
    while len(word) > 1:
        best = min(range(len(word) - 1), key=lambda i: ranks.get((word[i], word[i + 1]), float("inf")))
        pair = (word[best], word[best + 1])
        if pair not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def main():
    corpus_path, inputs_path, out_dir = sys.argv[1:4]
    with open(corpus_path, encoding="utf-8", errors="ignore") as f:
        corpus = f.read(60000)
    merges = train(corpus, 300)
    vocab = [BYTE_CHARS[b] for b in range(256)]
    index = {t: i for i, t in enumerate(vocab)}
    for a, b in merges:
        if a + b not in index:
            index[a + b] = len(vocab)
            vocab.append(a + b)
    ranks = {}
    for rank, pair in enumerate(merges):
        ranks.setdefault(pair, rank)
    with open(os.path.join(out_dir, "vocab.txt"), "w") as f:
        for t in vocab:
            f.write(t.encode("utf-8").hex() + "\n")
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        for a, b in merges:
            f.write(a.encode("utf-8").hex() + " " + b.encode("utf-8").hex() + "\n")

    with open(inputs_path) as f:
        inputs = [bytes.fromhex(line.strip()).decode("utf-8") for line in f]
    for name, patterns in PRE.items():
        with open(os.path.join(out_dir, f"split_{name}.txt"), "w") as split_out, \
                open(os.path.join(out_dir, f"ids_{name}.txt"), "w") as ids_out:
            for text in inputs:
                pieces = split(text, patterns)
                split_out.write(" ".join(p.encode("utf-8").hex() for p in pieces) + "\n")
                ids = []
                for piece in pieces:
                    chars = spell(piece)
                    if name in IGNORE_MERGES and chars in index:
                        ids.append(index[chars])
                    else:
                        ids.extend(index[t] for t in bpe(chars, ranks))
                ids_out.write(" ".join(map(str, ids)) + "\n")


if __name__ == "__main__":
    main()
