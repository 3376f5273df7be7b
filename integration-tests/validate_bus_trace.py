#!/usr/bin/python3
"""Validates a bus trace (JSON lines written by --trace-bus) against schemas/bus/.

Every request must match the request envelope and its op's `args` schema,
unless the service refused it with a 400 (tests send hostile input on
purpose: what the schema rejects, the service must reject too); every reply
must match the reply envelope and, when ok, its op's `result` schema. An op
with no schema file fails the check, so new ops cannot skip having one.
Usage: validate_bus_trace.py SCHEMA_DIR TRACE_FILE [--min N]
"""
import json
import os
import sys

import jsonschema


def load(path):
    with open(path) as f:
        return json.load(f)


def op_schema(schema_dir, svc, op, cache):
    verb = op.split(".")[-1]
    for name in (f"{svc}.{verb}.json", f"{verb}.json"):
        path = os.path.join(schema_dir, "ops", name)
        if os.path.exists(path):
            if path not in cache:
                cache[path] = load(path)
            return cache[path]
    return None


def sub_validator(schema, part):
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{part}", "$defs": schema["$defs"]})


def main():
    schema_dir, trace = sys.argv[1], sys.argv[2]
    minimum = int(sys.argv[sys.argv.index("--min") + 1]) if "--min" in sys.argv else 1
    request_v = jsonschema.Draft202012Validator(load(os.path.join(schema_dir, "envelope-request.schema.json")))
    reply_v = jsonschema.Draft202012Validator(load(os.path.join(schema_dir, "envelope-reply.schema.json")))
    lines = [json.loads(l) for l in open(trace) if l.strip()]
    replies = {(l["svc"], l["msg"].get("id")): l["msg"] for l in lines
               if l["dir"] == "reply" and isinstance(l["msg"], dict)}
    cache, failures, counts = {}, [], {}
    for n, line in enumerate(lines, 1):
        msg, svc, op = line["msg"], line["svc"], line["op"]
        key = f"{line['dir']} {op}"
        counts[key] = counts.get(key, 0) + 1
        validator = request_v if line["dir"] == "request" else reply_v
        errors = [e.message for e in validator.iter_errors(msg)]
        if errors:
            failures.append(f"line {n} ({svc} {key}): envelope: {errors[0]}")
            continue
        err = {}
        if line["dir"] == "request":
            reply = replies.get((svc, msg.get("id")), {})
            err = reply.get("error") or {}
            if err.get("code") == 404 and "is not served" in err.get("message", ""):
                continue  # an unknown op: the reply says so, there is no schema to check
            part, body = "args", msg.get("args") or {}
        elif msg["ok"]:
            part, body = "result", msg["result"]
        else:
            continue
        schema = op_schema(schema_dir, svc, op, cache)
        if schema is None:
            failures.append(f"line {n} ({svc}): op {op} has no schema in {schema_dir}/ops")
            continue
        errors = [e.message for e in sub_validator(schema, part).iter_errors(body)]
        if errors and part == "args" and err.get("code") == 400:
            continue  # invalid input, and the service said so
        if errors:
            failures.append(f"line {n} ({svc} {key}): {part}: {errors[0]}")
    for key in sorted(counts):
        print(f"  {counts[key]:5d} {key}")
    for f in failures:
        print("INVALID", f)
    if len(lines) < minimum:
        print(f"only {len(lines)} messages traced, expected at least {minimum}")
        return 1
    print(f"{len(lines)} messages checked, {len(failures)} invalid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
