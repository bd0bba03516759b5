#!/usr/bin/env python3
"""Independent reference for the chat-template tests: renders with Python Jinja2 configured as
Hugging Face transformers does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, raise_exception, a tojson without HTML escaping, strftime_now).
stdin: JSON list of {"template": str, "vars": {...}}; stdout: JSON list of
{"ok": true, "output": str} or {"ok": false, "error": str}."""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    results = []
    for case in json.load(sys.stdin):
        try:
            out = env.from_string(case["template"]).render(**case["vars"])
            results.append({"ok": True, "output": out})
        except Exception as e:  # noqa: BLE001 - any failure is a valid reference outcome
            results.append({"ok": False, "error": type(e).__name__ + ": " + str(e)})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
