#!/usr/bin/python3
"""Reference for test_spm_tokenizer: Debian's python3-sentencepiece.

usage: spm_reference.py MODEL INPUTS OUT_DIR
  INPUTS: one hex-encoded byte string per line.
  Writes OUT_DIR/vocab.tsv  (id, type 1..6, score, hex piece),
         OUT_DIR/ids.txt    (space-separated ids per input, no BOS),
         OUT_DIR/decoded.txt (hex of sentencepiece's decode of those ids).
Exit code 77 when sentencepiece is not installed.
"""
import os
import sys

try:
    import sentencepiece
except ImportError:
    print("python3-sentencepiece is not installed (apt-get install python3-sentencepiece)")
    sys.exit(77)


def piece_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_unused(i):
        return 5
    if sp.is_byte(i):
        return 6
    return 1  # normal (user-defined pieces are not told apart by the Python API)


def main():
    model, inputs, out_dir = sys.argv[1:4]
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    with open(os.path.join(out_dir, "vocab.tsv"), "w") as f:
        for i in range(sp.get_piece_size()):
            f.write(f"{i}\t{piece_type(sp, i)}\t{sp.get_score(i)!r}\t{sp.id_to_piece(i).encode('utf-8').hex()}\n")
    with open(inputs) as f, open(os.path.join(out_dir, "ids.txt"), "w") as ids_out, \
            open(os.path.join(out_dir, "decoded.txt"), "w") as dec_out:
        for line in f:
            data = bytes.fromhex(line.strip())
            ids = sp.encode(data) if data else []
            ids_out.write(" ".join(map(str, ids)) + "\n")
            dec_out.write(sp.decode(ids).encode("utf-8").hex() + "\n")


if __name__ == "__main__":
    main()
