#!/usr/bin/python3
"""Source checks the compiler cannot make. log_debug/info/warn/error take
(key, json_t *value) pairs through varargs, so a plain string passed as a
value compiles and crashes at run time: every value must be a json_*()
constructor call (jansson's, or log_ms_since) or a variable whose name ends in `_json`.
Usage: lint.py SOURCE_DIR"""
import os
import re
import sys

CALL = re.compile(r"\blog_(debug|info|warn|error)\s*\(")


def split_args(text, start):
    """Top-level comma-separated arguments of the call whose '(' is at start-1."""
    depth, args, cur, i, quote = 0, [], "", start, None
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\":
                cur += text[i + 1]
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch in "([{":
            depth += 1
            cur += ch
        elif ch in ")]}":
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    return args


def main():
    root = sys.argv[1]
    problems = 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith("build") and d != ".git"]
        for f in files:
            if not f.endswith(".c") or f == "log.c":
                continue
            path = os.path.join(dirpath, f)
            text = open(path, errors="replace").read()
            for m in CALL.finditer(text):
                args = split_args(text, m.end())
                for value in args[2::2]:
                    if not (value.startswith(("json_", "log_ms_since(")) or value.endswith("_json") or value == "NULL"):
                        line = text.count("\n", 0, m.start()) + 1
                        print(f"{path}:{line}: log value `{value}` is not a json_t * constructor")
                        problems += 1
    print(f"lint: {0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
