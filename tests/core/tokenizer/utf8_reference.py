#!/usr/bin/python3
"""Reference for test_utf8_stream: CPython's UTF-8 decoder with errors="replace", which replaces
each maximal subpart of an ill-formed sequence with one U+FFFD (Unicode 15, section 3.9).

usage: utf8_reference.py INPUTS OUTPUT   (one hex byte string per line in, hex UTF-8 out)
"""
import sys

with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(bytes.fromhex(line.strip()).decode("utf-8", errors="replace").encode("utf-8").hex() + "\n")
