#!/usr/bin/python3
"""Checks an OpenAPI 3.0 document against a running sharekeep (run by
tests/integration/t_openapi.sh, which starts the service and sets the OA_*
environment).  Bodies, headers, parameters and request bodies are
validated against the spec's schemas with jsonschema (Debian's
python3-jsonschema), the schemas translated from OpenAPI 3.0 first.

usage: openapi_check.py SPEC PHASE OBSERVED [--mutate NAME]
       openapi_check.py SPEC list-mutations OBSERVED
PHASE: up (service and database up, webhook_auth = standard-webhooks),
shared (service and database up, webhook_auth left at its default:
X-Webhook-Secret; fetch_max_shares 3, fetch_max_bytes 1k), down (database
stopped, metrics_allow excluding us), coverage (documented statuses never
observed).
Prints "ok - ..." / "not ok - ..." lines; exit 0 all ok, 1 a check failed.
"""
import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time

import jsonschema
import yaml

BASE_HOST = "127.0.0.1"
BASE_PORT = int(os.environ["OA_PORT"])
WH_KEY = bytes.fromhex(os.environ["OA_WH_KEY_HEX"])
WH_SHARED = os.environ.get("OA_WH_SHARED", "")
JWT_SECRET = os.environ["OA_JWT_SECRET"].encode()
PSQL = json.loads(os.environ["OA_PSQL"])
VERSION = os.environ["OA_VERSION"]
MAX_BODY = int(os.environ["OA_MAX_BODY"])
RUN = secrets.token_hex(3)
QUIET = False
FAILS = []


def ok(desc):
    if not QUIET:
        print("ok - " + desc, flush=True)


def not_ok(desc, detail=None):
    FAILS.append(desc)
    if not QUIET:
        print("not ok - " + desc, flush=True)
        if detail:
            for line in str(detail).splitlines()[:12]:
                print("#   " + line)


# ---- spec helpers -------------------------------------------------------------
SPEC = None


def resolve(node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("only local $ref supported: " + ref)
        cur = SPEC
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(cur, dict) or part not in cur:
                raise KeyError("unresolved $ref " + ref)
            cur = cur[part]
        node = cur
        seen += 1
        if seen > 20:
            raise ValueError("$ref loop at " + ref)
    return node


# ---- schemas: OpenAPI 3.0 Schema Objects, validated as JSON Schema ------------
# OpenAPI 3.0's Schema Object is JSON Schema draft 4/5 with a few changes;
# draft 4 is what jsonschema implements closest to it: a "$ref" replaces its
# siblings, exclusiveMinimum/exclusiveMaximum are booleans, an integer is
# never 1.0.  What OpenAPI adds is translated (to_json_schema) or is an
# annotation; any other keyword in the spec is an error, so that a typo or
# a keyword of another dialect is never silently unchecked.
JSON_SCHEMA_KEYWORDS = {
    "$ref", "type", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxProperties", "minProperties", "required", "properties",
    "additionalProperties", "items", "allOf", "oneOf", "anyOf", "not"}
OPENAPI_KEYWORDS = {"nullable"}                  # translated by to_json_schema
ANNOTATIONS = {"description", "title", "example", "format", "default", "deprecated",
               "externalDocs"}
# (discriminator, readOnly, writeOnly and xml would mean more than JSON
# Schema says; the spec does not use them, and the check refuses them.)
SUBSCHEMA_MAPS = ("properties",)
SUBSCHEMA_ONE = ("items", "additionalProperties", "not")
SUBSCHEMA_LISTS = ("allOf", "oneOf", "anyOf")


def subschemas(schema, where):
    """(where, subschema) for every schema directly inside this one."""
    for k in SUBSCHEMA_MAPS:
        for name, sub in (schema.get(k) or {}).items():
            yield "%s.%s.%s" % (where, k, name), sub
    for k in SUBSCHEMA_ONE:
        if isinstance(schema.get(k), dict):
            yield where + "." + k, schema[k]
    for k in SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(k) or []):
            yield "%s.%s[%d]" % (where, k, i), sub


def schema_keywords_ok(schema, where, problems):
    if not isinstance(schema, dict):
        problems.append(where + ": schema is not an object")
        return
    for k in schema:
        if k.startswith("x-"):
            continue
        if k not in JSON_SCHEMA_KEYWORDS and k not in OPENAPI_KEYWORDS and k not in ANNOTATIONS:
            problems.append("%s: keyword '%s' is not one the checker validates" % (where, k))
    if "nullable" in schema and "type" not in schema and "$ref" not in schema:
        problems.append(where + ": nullable without a type does nothing (OpenAPI 3.0.3)")
    try:
        jsonschema.Draft4Validator.check_schema(to_json_schema(schema))
    except jsonschema.SchemaError as e:
        problems.append("%s: not a valid JSON Schema: %s" % (where, e.message))
    for sub_where, sub in subschemas(schema, where):
        schema_keywords_ok(sub, sub_where, problems)


def to_json_schema(schema):
    """An OpenAPI 3.0 Schema Object as a JSON Schema (draft 4): nullable: true
    adds "null" to its type (and null to its enum); annotations and x-
    extensions stay, they assert nothing.  Values (enum, default, example)
    are copied as they are."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "nullable":
            continue
        if k in SUBSCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: to_json_schema(sub) for name, sub in v.items()}
        elif k in SUBSCHEMA_ONE:
            out[k] = to_json_schema(v)
        elif k in SUBSCHEMA_LISTS and isinstance(v, list):
            out[k] = [to_json_schema(sub) for sub in v]
        else:
            out[k] = copy.deepcopy(v)
    if schema.get("nullable") is True and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types + ["null"] if "null" not in types else types
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


COMPONENTS_JS = None   # the spec's components, translated (set by load_spec)


def validate(v, schema, path="$"):
    """Problems of value v against an OpenAPI schema (empty: valid).  Its
    $refs ("#/components/...") resolve in the translated components, which
    ride along in the validated document (an unknown keyword to JSON
    Schema, so they assert nothing)."""
    doc = dict(to_json_schema(schema), components=COMPONENTS_JS)
    errs = []
    try:
        found = list(jsonschema.Draft4Validator(doc).iter_errors(v))
    except Exception as e:  # e.g. a $ref that resolves nowhere
        return ["%s: the schema cannot be applied: %s" % (path, e)]
    for e in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
        at = "".join("[%d]" % p if isinstance(p, int) else "." + str(p) for p in e.absolute_path)
        errs.append("%s%s: %s" % (path, at, e.message[:300]))
    return errs


METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def operations():
    """(path, METHOD, op) for every operation."""
    for p, item in SPEC["paths"].items():
        for m in METHODS:
            if m in item:
                yield p, m.upper(), item[m]


def op_by_id(op_id):
    for p, m, op in operations():
        if op.get("operationId") == op_id:
            return p, m, op
    return None


def template_re(p):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$")


def routed_path(raw_path):
    """The path sharekeep routes on behind nginx: its $document_uri (passed
    as DOCUMENT_URI), i.e. %XX decoded, "//" merged, "." and ".." resolved.
    None where nginx itself refuses the path (a ".." above the root)."""
    dec = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 raw_path.encode("latin-1", "replace"))
    out = []
    segs = re.sub(rb"/+", b"/", dec).split(b"/")
    for i, seg in enumerate(segs[1:], 1):
        last = i == len(segs) - 1
        if seg == b".":
            if last:
                out.append(b"")
        elif seg == b"..":
            if not out:
                return None
            out.pop()
            if last:
                out.append(b"")
        else:
            out.append(seg)
    return (b"/" + b"/".join(out)).decode("utf-8", "replace")


def match_path(raw_path):
    for p in SPEC["paths"]:
        if template_re(p).match(raw_path):
            return p
    return None


# ---- structural checks -------------------------------------------------------
def check_structure():
    problems = []
    if not str(SPEC.get("openapi", "")).startswith("3.0."):
        problems.append("openapi must be 3.0.x, is %r" % SPEC.get("openapi"))
    if str(SPEC.get("info", {}).get("version")) != VERSION:
        problems.append("info.version %r != configure.ac's %r" % (SPEC.get("info", {}).get("version"), VERSION))

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(node)
                except Exception as e:
                    problems.append("%s: %s" % (where, e))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (where, i))
    walk(SPEC, "#")

    ids = set()
    schemes = (SPEC.get("components") or {}).get("securitySchemes") or {}
    for p, m, op in operations():
        where = "%s %s" % (m, p)
        oid = op.get("operationId")
        if not oid:
            problems.append(where + ": no operationId")
        elif oid in ids:
            problems.append(where + ": duplicate operationId " + oid)
        ids.add(oid)
        resp = op.get("responses") or {}
        for code in resp:
            if not isinstance(code, str) or not re.match(r"^[1-5][0-9][0-9]$", code):
                problems.append("%s: response key %r must be a quoted status code" % (where, code))
        if "200" not in resp:
            problems.append(where + ": no 200 response")
        for req in op.get("security", []) or []:
            for name in req:
                if name not in schemes:
                    problems.append("%s: security scheme %s is not defined" % (where, name))
        params = [resolve(x) for x in (SPEC["paths"][p].get("parameters") or []) + (op.get("parameters") or [])]
        for name in re.findall(r"\{([^}]+)\}", p):
            if not any(x.get("in") == "path" and x.get("name") == name and x.get("required") for x in params):
                problems.append("%s: path parameter {%s} not declared (required)" % (where, name))
    for p, item in SPEC["paths"].items():
        have = sorted(m.upper() for m in METHODS if m in item)
        if sorted(item.get("x-allow") or []) != have:
            problems.append("%s: x-allow %r != its methods %r" % (p, item.get("x-allow"), have))

    # every schema, wherever it sits
    def schemas_in(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" and isinstance(v, dict):
                    schema_keywords_ok(v, where + "/schema", problems)
                else:
                    schemas_in(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                schemas_in(v, "%s[%d]" % (where, i))
    schemas_in(SPEC["paths"], "#/paths")
    schemas_in({k: v for k, v in SPEC["components"].items() if k != "schemas"}, "#/components")
    for name, s in (SPEC["components"].get("schemas") or {}).items():
        schema_keywords_ok(s, "#/components/schemas/" + name, problems)
    for k in ("x-unknown-path", "x-method-not-allowed"):
        if k not in SPEC["components"]:
            problems.append("components/%s (the 404/405 of no operation) missing" % k)
    if problems:
        not_ok("the spec is consistent (%d problems)" % len(problems), "\n".join(problems))
    else:
        ok("the spec is consistent: refs resolve, ids unique, codes quoted, params declared, x-allow matches, "
           "schemas valid JSON Schema in the keywords the checker validates")


# ---- requests -----------------------------------------------------------------
def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(sub, exp_in=300, secret=None):
    now = int(time.time())
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps({"sub": sub, "iat": now, "exp": now + exp_in}).encode())
    si = (h + "." + p).encode()
    sig = hmac.new(secret or JWT_SECRET, si, hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def signed(body, wid=None, ts=None, key=None):
    wid = wid or "msg_" + secrets.token_hex(12)
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(key or WH_KEY, ("%s.%s." % (wid, ts)).encode() + body, hashlib.sha256).digest()
    return {"webhook-id": wid, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def send(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(BASE_HOST, BASE_PORT, timeout=30)
    h = dict(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = {}
    for k, v in r.getheaders():
        hdrs.setdefault(k.lower(), []).append(v)
    conn.close()
    return r.status, hdrs, data


def no_dup_pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key " + k)
        d[k] = v
    return d


def check_response(label, method, status, hdrs, data, resp_obj):
    """Validates headers and body against a Response Object; returns problems."""
    probs = []
    resp_obj = resolve(resp_obj)
    for name, hobj in (resp_obj.get("headers") or {}).items():
        hobj = resolve(hobj)
        vals = hdrs.get(name.lower())
        if not vals:
            if hobj.get("required"):
                probs.append("header %s missing" % name)
            continue
        if len(vals) > 1:
            probs.append("header %s sent %d times" % (name, len(vals)))
        val = vals[0]
        sch = resolve(hobj.get("schema") or {})
        if sch.get("type") == "integer":
            try:
                val = int(val)
            except ValueError:
                probs.append("header %s=%r is not an integer" % (name, val))
                continue
        probs += ["header %s: %s" % (name, e) for e in validate(val, sch, name)]
    content = resp_obj.get("content") or {}
    if method == "HEAD":
        return probs
    ctype = (hdrs.get("content-type") or [""])[0].split(";")[0].strip().lower()
    if not content:
        if data:
            probs.append("body sent, none documented")
        return probs
    if ctype not in content:
        return probs + ["Content-Type %r not documented (%s)" % (ctype, ", ".join(content))]
    media = content[ctype]
    if ctype == "application/json":
        try:
            doc = json.loads(data.decode("utf-8"), object_pairs_hook=no_dup_pairs)
        except Exception as e:
            return probs + ["body is not strict JSON: %s: %r" % (e, data[:120])]
        probs += validate(doc, media.get("schema") or {}, "body")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return probs + ["body is not UTF-8"]
        probs += validate(text, media.get("schema") or {}, "body")
    return probs


def form_decode(s):
    """application/x-www-form-urlencoded, strictly: '+' is a space, '%' must be
    followed by two hex digits, the result must be UTF-8; else ValueError."""
    raw = s.replace("+", " ").encode("latin-1")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25:
            h = raw[i + 1:i + 3]
            if len(h) != 2 or any(x not in b"0123456789abcdefABCDEF" for x in h):
                raise ValueError("bad %% escape at %r" % s[i:i + 3])
            out.append(int(h, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8")


def query_problems(params, query):
    """Problems of a raw query string against the operation's query
    parameters (empty: the spec allows it)."""
    qp = {x.get("name"): x for x in params if x.get("in") == "query"}
    probs, seen = [], set()
    for part in (query.split("&") if query else []):
        name, _, value = part.partition("=")
        try:
            name, value = form_decode(name), form_decode(value)
        except ValueError as e:
            probs.append("malformed query: %s" % e)
            continue
        if name not in qp:
            probs.append("query parameter %r is not documented" % name)
            continue
        sch = resolve(qp[name].get("schema") or {})
        if name in seen and sch.get("type") != "array":
            probs.append("query parameter %r given twice" % name)
            continue
        seen.add(name)
        probs += validate(value, sch, "query." + name)
    for name, prm in qp.items():
        if prm.get("required") and name not in seen:
            probs.append("required query parameter %r missing" % name)
    return probs


def security_met(op, headers):
    """Indexes of the operation's security requirements the request's
    headers meet; None when the operation has none."""
    reqs = op.get("security", SPEC.get("security"))
    if not reqs:
        return None
    schemes = (SPEC.get("components") or {}).get("securitySchemes") or {}
    sent = {k.lower(): v for k, v in headers.items()}
    met = []
    for i, req in enumerate(reqs):
        good = True
        for name in req:
            sch = resolve(schemes.get(name) or {})
            if sch.get("type") == "apiKey" and sch.get("in") == "header":
                good = good and bool(sent.get(str(sch.get("name", "")).lower()))
            elif sch.get("type") == "http" and str(sch.get("scheme", "")).lower() == "bearer":
                good = good and sent.get("authorization", "").lower().startswith("bearer ")
            else:
                good = False
        if good:
            met.append(i)
    return met


OBSERVED = {}


def run_case(c):
    """c: dict(op=operationId or None, method, path, body(bytes|None),
    headers, expect(int), req_valid(True|False|None), path_valid, check(fn))."""
    label = c["name"]
    method, path = c["method"], c["path"]
    body = c.get("body")
    headers = dict(c.get("headers") or {})
    if body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    if c.get("sign"):
        headers.update(signed(body or b"", **c.get("sign_args", {})))
    if c.get("secret") is not None:
        headers[c.get("secret_header", "X-Webhook-Secret")] = c["secret"]
    if c.get("token"):
        headers["Authorization"] = "Bearer " + c["token"]
    try:
        status, hdrs, data = send(method, path, body, headers)
    except Exception as e:
        if not c.get("probe"):
            not_ok(label + ": request failed: %s" % e)
        return None
    probs = []
    raw, qmark, query = path.partition("?")
    if c.get("probe") and "x-request-id" not in hdrs:
        # nginx's own answer (e.g. its 301 from /webhook to /webhook/), not sharekeep's
        return "%s %d (nginx)" % (method, status), []
    # sharekeep routes on nginx's decoded, normalised path (DOCUMENT_URI):
    # /webhook/%62ackup is /webhook/backup, /portal/clients/x%2Fy/backup is
    # /portal/clients/x/y/backup (no such path), //healthz is /healthz
    route = routed_path(raw) or raw
    tmpl = match_path(route)
    op = None
    # HEAD is GET without the body (RFC 9110 9.3.2): a path that documents
    # GET answers HEAD with GET's operation, and lists HEAD in Allow.
    spec_method = "get" if method == "HEAD" else method.lower()
    if tmpl is not None and spec_method in SPEC["paths"][tmpl]:
        op = SPEC["paths"][tmpl][spec_method]
    if c.get("op") and (op is None or op.get("operationId") != c["op"]):
        probs.append("%s %s is not operation %s in the spec" % (method, raw, c["op"]))
    if op is not None:
        oid = op["operationId"]
        OBSERVED.setdefault(oid, set()).add(str(status))
        responses = op.get("responses") or {}
        if str(status) not in responses:
            probs.append("status %d is not documented for %s (documents %s)"
                         % (status, oid, ", ".join(sorted(responses))))
            resp_obj = None
        else:
            resp_obj = responses[str(status)]
        # request schema agreement
        rb = op.get("requestBody")
        if rb is not None and c.get("req_valid") is not None and body is not None:
            sch = resolve(rb)["content"]["application/json"]["schema"]
            try:
                doc = json.loads(body.decode("utf-8"))
                errs = validate(doc, sch, "request")
            except Exception as e:
                errs = ["not JSON: %s" % e]
            if c["req_valid"] and errs:
                probs.append("sharekeep accepts this body but the request schema rejects it: " + "; ".join(errs))
            if not c["req_valid"] and not errs:
                probs.append("sharekeep refuses this body (422) but the request schema accepts it")
        if c.get("query_valid") is not None:
            params = [resolve(x) for x in (SPEC["paths"][tmpl].get("parameters") or []) + (op.get("parameters") or [])]
            errs = query_problems(params, query)
            if c["query_valid"] and errs:
                probs.append("sharekeep accepts query %r but the spec does not: %s" % (query, "; ".join(errs)))
            if not c["query_valid"] and not errs:
                probs.append("sharekeep refuses query %r (%d), the spec's parameters accept it" % (query, status))
        met = security_met(op, headers)
        if met is not None and 200 <= status < 300 and not met:
            probs.append("answered %d to a request that meets none of the documented security requirements" % status)
        if met is not None and 200 <= status < 300 and c.get("default_auth") and 0 not in met:
            probs.append("a fresh install's credentials (%s) do not meet the first security requirement %r"
                         % (c.get("secret_header", "X-Webhook-Secret"), (op.get("security") or [None])[0]))
        if c.get("path_valid") is not None:
            params = [resolve(x) for x in (SPEC["paths"][tmpl].get("parameters") or []) + (op.get("parameters") or [])]
            rx = template_re(tmpl)
            names = re.findall(r"\{([^}]+)\}", tmpl)
            m = re.match("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(tmpl)) + "$", route)
            for name, value in zip(names, m.groups() if m else []):
                for prm in params:
                    if prm.get("in") == "path" and prm.get("name") == name:
                        errs = validate(value, prm.get("schema") or {}, name)
                        if c["path_valid"] and errs:
                            probs.append("sharekeep accepts path %s=%r, the spec's schema does not" % (name, value))
                        if not c["path_valid"] and not errs:
                            probs.append("sharekeep refuses path %s=%r (422), the spec's schema accepts it" % (name, value))
    elif tmpl is not None:
        allow = list(SPEC["paths"][tmpl].get("x-allow") or [])
        if "GET" in allow:
            allow.append("HEAD")
        if status != 405:
            probs.append("%s on %s (documented methods %s) answered %d, not 405" % (method, tmpl, allow, status))
        resp_obj = SPEC["components"]["x-method-not-allowed"]
        got = sorted(x.strip() for x in (hdrs.get("allow") or [""])[0].split(",") if x.strip())
        if got != sorted(allow):
            probs.append("Allow %r != the path's x-allow %r" % (got, allow))
    else:
        if status != 404:
            probs.append("sharekeep answers %s %s with %d, but the spec has no such path" % (method, raw, status))
        resp_obj = SPEC["components"]["x-unknown-path"]
    if resp_obj is not None:
        probs += check_response(label, method, status, hdrs, data, resp_obj)
    if c.get("expect") is not None and status != c["expect"]:
        probs.append("expected %d, got %d: %r" % (c["expect"], status, data[:200]))
    if c.get("check") and not probs:
        try:
            extra = c["check"](status, hdrs, data)
        except Exception as e:
            extra = "check raised %r" % e
        if extra:
            probs.append(extra)
    if c.get("probe"):
        return "%s %d" % (method, status), ["%s: %s" % (method, x) for x in probs]
    if probs:
        not_ok("%s: %s %s -> %d" % (label, method, path[:70], status), "\n".join(probs))
    else:
        ok("%s: %s %s -> %d" % (label, method, path[:70], status))
    return status, hdrs, data


def psql(sql):
    subprocess.run(PSQL + [sql], check=True, stdout=subprocess.DEVNULL)


def tamper(client_id, kind, method=None):
    # Flip one byte of the newest record's key commitment (envelope byte
    # 100; the ciphertext itself may not be updated at all): it no longer
    # opens.  With a method: the newest record of that backupMethod only.
    m = "" if method is None else " AND backup_method = '%s'" % method
    psql("UPDATE share_record SET envelope = set_byte(envelope, 100, "
         "get_byte(envelope, 100) # 1) WHERE client_id = '%s' AND kind = %d%s "
         "AND version = (SELECT max(version) FROM share_record WHERE client_id = '%s' AND kind = %d%s)"
         % (client_id, kind, m, client_id, kind, m))


def j(obj):
    return json.dumps(obj).encode()


def expect_json(field, value):
    def f(status, hdrs, data):
        got = json.loads(data).get(field)
        return None if got == value else "%s is %r, expected %r" % (field, got, value)
    return f


def expect_shares(shares):
    # The fetch answer: these shares, newest first, and the newest as backupShare.
    def f(status, hdrs, data):
        d = json.loads(data)
        want = {"backupShares": shares, "backupShare": shares[0]}
        return None if d == want else "expected %r, got %r" % (want, d)
    return f


def expect_client(method, share, methods=None):
    # The client fetch answer; backupMethods only when methods is given.
    def f(status, hdrs, data):
        d = json.loads(data)
        want = {"backupMethod": method, "backupShare": share, "cipherText": share}
        if methods is not None:
            want["backupMethods"] = methods
        return None if d == want else "expected %r, got %r" % (want, d)
    return f


def expect_error(code):
    def f(status, hdrs, data):
        got = json.loads(data)["error"]["code"]
        return None if got == code else "error code %r, expected %r" % (got, code)
    return f


def expect_store(version, created):
    def f(status, hdrs, data):
        d = json.loads(data)
        return None if (d.get("version"), d.get("created")) == (version, created) else \
            "expected version %d created %s, got %r" % (version, created, d)
    return f


def identity_cases():
    """backupMethod, backupSharePairId, the fetch answer, the client share per
    method and its query string (webhooks signed: the up phase)."""
    cm = "oa-cm-" + RUN
    k3 = "oa-k3-" + RUN
    W, WF = "/webhook/backup", "/webhook/backup/fetch"
    K = "/portal/clients/%s/backup"
    KQ = K % k3 + "?"
    pj = json.dumps({"backupSharePairId": "pair-c", "share": "s-" + RUN})
    pe = json.dumps({"backupSharePairId": "", "share": "e-" + RUN})

    def st(name, body, expect=200, version=None, created=None):
        check = expect_store(version, created) if version is not None else None
        return dict(name=name, op="custodianStore", method="POST", path=W, body=j(dict(body, clientId=cm)),
                    sign=True, expect=expect, req_valid=expect == 200, check=check)

    def fe(name, shares):
        return dict(name=name, op="custodianFetch", method="POST", path=WF, body=j({"clientId": cm}),
                    sign=True, expect=200, req_valid=True, check=expect_shares(shares))

    def cs(name, body, expect=200, version=None, created=None):
        check = expect_store(version, created) if version is not None else None
        return dict(name=name, op="clientStore", method="POST", path=K % k3, body=j(body), token=jwt(k3),
                    expect=expect, req_valid=expect == 200, check=check)

    def cf(name, query, expect=200, check=None, qv=None):
        return dict(name=name, op="clientFetch", method="GET", path=KQ + query, token=jwt(k3),
                    expect=expect, query_valid=(expect in (200, 404)) if qv is None else qv, check=check)

    return [
        # custodian: one share per identity, newest first
        st("legacy store, no backupMethod (UNKNOWN)", {"share": "L1"}, version=1, created=True),
        st("store PASSWORD-SECP256K1", {"share": "P1", "backupMethod": "PASSWORD-SECP256K1"}, version=1, created=True),
        fe("validation fetch after the second method", ["P1", "L1"]),
        st("store PASSWORD-ED25519", {"share": "E1", "backupMethod": "PASSWORD-ED25519"}, version=1, created=True),
        fe("validation fetch after the third method", ["E1", "P1", "L1"]),
        st("re-backup PASSWORD-SECP256K1", {"share": "P2", "backupMethod": "PASSWORD-SECP256K1"}, version=2, created=True),
        fe("validation fetch after a re-backup", ["P2", "E1", "L1"]),
        st("identical re-backup (new delivery)", {"share": "P2", "backupMethod": "PASSWORD-SECP256K1"}, version=2, created=False),
        st("backupMethod null is UNKNOWN", {"share": "L2", "backupMethod": None}, version=2, created=True),
        st("top-level backupSharePairId", {"share": "P3", "backupMethod": "PASSWORD-SECP256K1",
                                           "backupSharePairId": "pair-b"}, version=1, created=True),
        st("backupSharePairId inside the share", {"share": pj, "backupMethod": "PASSWORD-SECP256K1"},
           version=1, created=True),
        st("the same pair id at the top level", {"share": pj, "backupMethod": "PASSWORD-SECP256K1",
                                                 "backupSharePairId": "pair-c"}, version=1, created=False),
        st("backupSharePairId null", {"share": "P4", "backupMethod": "PASSWORD-SECP256K1",
                                      "backupSharePairId": None}, version=3, created=True),
        st("an empty pair id inside the share is none", {"share": pe, "backupMethod": "PASSWORD-SECP256K1"},
           version=4, created=True),
        st("a free-form backupMethod", {"share": "F1", "backupMethod": "FUTURE method ~!@#$%^&*()"},
           version=1, created=True),
        st("64-character backupMethod", {"share": "M1", "backupMethod": "M" * 64}, version=1, created=True),
        st("128-character backupSharePairId", {"share": "Q1", "backupSharePairId": "q" * 128},
           version=1, created=True),
        fe("fetch every identity", ["Q1", "M1", "F1", pe, pj, "P3", "L2", "E1"]),
        st("65-character backupMethod", {"share": "x", "backupMethod": "M" * 65}, expect=422),
        st("empty backupMethod", {"share": "x", "backupMethod": ""}, expect=422),
        st("backupMethod a number", {"share": "x", "backupMethod": 5}, expect=422),
        st("backupMethod an array", {"share": "x", "backupMethod": ["PASSWORD"]}, expect=422),
        st("backupMethod with a tab", {"share": "x", "backupMethod": "PASS\tWORD"}, expect=422),
        st("backupMethod not ASCII", {"share": "x", "backupMethod": "P\u00c4SSWORD"}, expect=422),
        st("129-character backupSharePairId", {"share": "x", "backupSharePairId": "q" * 129}, expect=422),
        st("empty backupSharePairId", {"share": "x", "backupSharePairId": ""}, expect=422),
        st("backupSharePairId a number", {"share": "x", "backupSharePairId": 7}, expect=422),
        st("backupSharePairId with a newline", {"share": "x", "backupSharePairId": "a\nb"}, expect=422),
        # the schema cannot look inside the share string: not compared
        dict(st("a 129-character pair id inside the share",
                {"share": json.dumps({"backupSharePairId": "q" * 129})}, expect=422), req_valid=None),
        # client: one share per method, backupShare or cipherText
        cs("client store PASSWORD as cipherText", {"backupMethod": "PASSWORD", "cipherText": "pw1"}, version=1, created=True),
        cs("client store PASSKEY as backupShare", {"backupMethod": "PASSKEY", "backupShare": "pk1"}, version=1, created=True),
        cf("client fetch PASSWORD", "backupMethod=PASSWORD", check=expect_client("PASSWORD", "pw1")),
        cf("client fetch a method with no share, no legacy share", "backupMethod=GDRIVE", expect=404),
        cs("client store legacy cipherText (UNKNOWN)", {"cipherText": "un1"}, version=1, created=True),
        cf("client fetch falls back to UNKNOWN", "backupMethod=GDRIVE", check=expect_client("UNKNOWN", "un1")),
        dict(cf("client fetch, no parameter: every method", "", check=expect_client(
            "UNKNOWN", "un1", ["UNKNOWN", "PASSKEY", "PASSWORD"])), path=K % k3),
        cs("client store PASSWORD again", {"backupMethod": "PASSWORD", "backupShare": "pw2"}, version=2, created=True),
        cs("client store the same as cipherText", {"backupMethod": "PASSWORD", "cipherText": "pw2"}, version=2, created=False),
        cs("client store backupMethod null", {"backupMethod": None, "cipherText": "un1"}, version=1, created=False),
        cf("client fetch, empty query string", "", check=expect_client("PASSWORD", "pw2", ["PASSWORD", "UNKNOWN", "PASSKEY"])),
        cf("client fetch, percent-encoded", "backupMethod=PASS%57ORD", check=expect_client("PASSWORD", "pw2")),
        cs("client store a method with a space", {"backupMethod": "MY METHOD", "cipherText": "my1"}, version=1, created=True),
        cf("client fetch, '+' is a space", "backupMethod=MY+METHOD", check=expect_client("MY METHOD", "my1")),
        cf("client fetch, %20 is a space", "backupMethod=MY%20METHOD", check=expect_client("MY METHOD", "my1")),
        cf("client fetch a 64-character method", "backupMethod=" + "M" * 64, check=expect_client("UNKNOWN", "un1")),
        cf("client fetch, unknown parameter", "backupMethod=PASSWORD&x=1", expect=400, check=expect_error("invalid_query")),
        cf("client fetch, repeated parameter", "backupMethod=PASSWORD&backupMethod=PASSKEY", expect=400,
           check=expect_error("invalid_query")),
        cf("client fetch, bad escape", "backupMethod=PASS%zzWORD", expect=400, check=expect_error("invalid_query")),
        cf("client fetch, truncated escape", "backupMethod=PASSWORD%4", expect=400, check=expect_error("invalid_query")),
        cf("client fetch, parameter names are case-sensitive", "backupmethod=PASSWORD", expect=400,
           check=expect_error("invalid_query")),
        cf("client fetch, empty backupMethod", "backupMethod=", expect=422, check=expect_error("invalid_field")),
        cf("client fetch, 65-character backupMethod", "backupMethod=" + "M" * 65, expect=422,
           check=expect_error("invalid_field")),
        cf("client fetch, a tab in backupMethod", "backupMethod=PASS%09WORD", expect=422,
           check=expect_error("invalid_field")),
        cf("client fetch, backupMethod not ASCII", "backupMethod=P%C3%84SSWORD", expect=422,
           check=expect_error("invalid_field")),
        dict(cf("client fetch a method, nothing stored", "backupMethod=PASSWORD", expect=404),
             path=K % ("oa-k4-" + RUN) + "?backupMethod=PASSWORD", token=jwt("oa-k4-" + RUN)),
        cs("client store cipherText null, backupShare set", {"backupMethod": "PASSWORD", "backupShare": "pw2",
                                                              "cipherText": None}, version=2, created=False),
        cs("client store backupShare null, cipherText set", {"backupMethod": "PASSWORD", "backupShare": None,
                                                              "cipherText": "pw2"}, version=2, created=False),
        cf("client fetch, a parameter without '='", "backupMethod", expect=400, check=expect_error("invalid_query")),
        cf("client fetch, an empty parameter", "backupMethod=PASSWORD&", expect=400, check=expect_error("invalid_query")),
        cf("client fetch, an escaped parameter name", "backup%4Dethod=PASSWORD", check=expect_client("PASSWORD", "pw2")),
        cf("client fetch, an escaped '+'", "backupMethod=MY%2BMETHOD", check=expect_client("UNKNOWN", "un1")),
        cs("client store both backupShare and cipherText", {"backupShare": "a", "cipherText": "b"}, expect=422),
        cs("client store both null", {"backupShare": None, "cipherText": None}, expect=422),
        cs("client store empty backupShare, cipherText set", {"backupShare": "", "cipherText": "b"}, expect=422),
        cs("client store only backupMethod", {"backupMethod": "PASSWORD"}, expect=422),
        cs("client store empty cipherText", {"backupMethod": "PASSWORD", "cipherText": ""}, expect=422),
        cs("client store cipherText a number", {"cipherText": 5}, expect=422),
        cs("client store 65-character backupMethod", {"backupMethod": "M" * 65, "cipherText": "x"}, expect=422),
        cs("client store empty backupMethod", {"backupMethod": "", "cipherText": "x"}, expect=422),
        cs("client store backupMethod a number", {"backupMethod": 1, "cipherText": "x"}, expect=422),
    ]


def phase_up():
    c1 = "oa-c1-" + RUN
    k1 = "oa-k1-" + RUN
    s1 = "share \"quoted\" \\ / \u00e9 \u2603 " + secrets.token_hex(16)
    b1 = j({"clientId": c1, "share": s1})
    big = j({"clientId": c1, "share": "x" * (MAX_BODY + 100)})
    long_id = "A" * 128
    wid = "msg_oa_" + RUN
    W, WF = "/webhook/backup", "/webhook/backup/fetch"
    K = "/portal/clients/%s/backup"
    cases = [
        # custodianStore
        dict(name="store", op="custodianStore", method="POST", path=W, body=b1, sign=True,
             sign_args=dict(wid=wid), expect=200, req_valid=True, check=expect_store(1, True)),
        dict(name="store retry", op="custodianStore", method="POST", path=W, body=b1, sign=True,
             sign_args=dict(wid=wid), expect=200, req_valid=True, check=expect_store(1, False)),
        dict(name="store replay", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": "other"}), sign=True, sign_args=dict(wid=wid), expect=409),
        dict(name="store extra key", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": "v2-" + RUN, "note": "ignored", "n": 1}), sign=True,
             expect=200, req_valid=True, check=expect_store(2, True)),
        dict(name="store charset", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": "v3-" + RUN}), sign=True,
             headers={"Content-Type": "application/json; charset=utf-8"}, expect=200, req_valid=True),
        dict(name="store 128-char clientId", op="custodianStore", method="POST", path=W,
             body=j({"clientId": long_id, "share": "s"}), sign=True, expect=200, req_valid=True),
        dict(name="store X-Request-Id echoed", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": "v3-" + RUN}), sign=True, expect=200, req_valid=True,
             headers={"X-Request-Id": "oa.req_1-" + RUN},
             check=lambda s, h, d: None if h.get("x-request-id") == ["oa.req_1-" + RUN] else "not echoed: %r" % h.get("x-request-id")),
        dict(name="store bad X-Request-Id replaced", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": "v3-" + RUN}), sign=True, expect=200, req_valid=True,
             headers={"X-Request-Id": "x" * 65},
             check=lambda s, h, d: None if re.match("^[0-9a-f]{32}$", h["x-request-id"][0]) else "not a fresh id: %r" % h["x-request-id"]),
        dict(name="store unsigned", op="custodianStore", method="POST", path=W, body=b1, expect=401),
        dict(name="store X-Webhook-Secret only (standard-webhooks)", op="custodianStore", method="POST", path=W,
             body=b1, secret="s" * 40, expect=401),
        dict(name="store stale timestamp", op="custodianStore", method="POST", path=W, body=b1, sign=True,
             sign_args=dict(ts=int(time.time()) - 3600), expect=401),
        dict(name="store wrong key", op="custodianStore", method="POST", path=W, body=b1, sign=True,
             sign_args=dict(key=secrets.token_bytes(32)), expect=401),
        dict(name="store malformed JSON", op="custodianStore", method="POST", path=W,
             body=b'{"clientId":', sign=True, expect=400),
        dict(name="store duplicate keys", op="custodianStore", method="POST", path=W,
             body=b'{"clientId":"a","clientId":"b","share":"x"}', sign=True, expect=400),
        dict(name="store trailing data", op="custodianStore", method="POST", path=W,
             body=b1 + b" {}", sign=True, expect=400),
        dict(name="store text/plain", op="custodianStore", method="POST", path=W, body=b1, sign=True,
             headers={"Content-Type": "text/plain"}, expect=415),
        dict(name="store over max_body", op="custodianStore", method="POST", path=W, body=big, sign=True,
             expect=413),
        dict(name="store array", op="custodianStore", method="POST", path=W, body=b"[]", sign=True,
             expect=422, req_valid=False),
        dict(name="store missing share", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1}), sign=True, expect=422, req_valid=False),
        dict(name="store share not a string", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": 5}), sign=True, expect=422, req_valid=False),
        dict(name="store empty share", op="custodianStore", method="POST", path=W,
             body=j({"clientId": c1, "share": ""}), sign=True, expect=422, req_valid=False),
        dict(name="store clientId with a space", op="custodianStore", method="POST", path=W,
             body=j({"clientId": "bad id", "share": "x"}), sign=True, expect=422, req_valid=False),
        dict(name="store 129-char clientId", op="custodianStore", method="POST", path=W,
             body=j({"clientId": "A" * 129, "share": "x"}), sign=True, expect=422, req_valid=False),
        dict(name="store empty clientId", op="custodianStore", method="POST", path=W,
             body=j({"clientId": "", "share": "x"}), sign=True, expect=422, req_valid=False),
        # custodianFetch
        dict(name="fetch", op="custodianFetch", method="POST", path=WF, body=j({"clientId": long_id}),
             sign=True, expect=200, req_valid=True, check=expect_shares(["s"])),
        dict(name="fetch unknown client", op="custodianFetch", method="POST", path=WF,
             body=j({"clientId": "oa-none-" + RUN}), sign=True, expect=404, req_valid=True),
        dict(name="fetch unsigned", op="custodianFetch", method="POST", path=WF,
             body=j({"clientId": c1}), expect=401),
        dict(name="fetch no clientId", op="custodianFetch", method="POST", path=WF, body=b"{}",
             sign=True, expect=422, req_valid=False),
        dict(name="fetch clientId a number", op="custodianFetch", method="POST", path=WF,
             body=j({"clientId": 7}), sign=True, expect=422, req_valid=False),
        dict(name="fetch text/plain", op="custodianFetch", method="POST", path=WF,
             body=j({"clientId": c1}), sign=True, headers={"Content-Type": "text/plain"}, expect=415),
        dict(name="fetch malformed", op="custodianFetch", method="POST", path=WF, body=b"{", sign=True,
             expect=400),
        dict(name="fetch over max_body", op="custodianFetch", method="POST", path=WF, body=big,
             sign=True, expect=413),
        # clientStore
        dict(name="client store", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": s1}), token=jwt(k1), expect=200, req_valid=True, path_valid=True,
             check=expect_store(1, True)),
        dict(name="client store again", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": s1, "extra": [1, 2]}), token=jwt(k1), expect=200, req_valid=True,
             check=expect_store(1, False)),
        dict(name="client store no token", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x"}), expect=401),
        dict(name="client store expired token", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x"}), token=jwt(k1, exp_in=-3600), expect=401),
        dict(name="client store forged token", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x"}), token=jwt(k1, secret=b"z" * 48), expect=401),
        dict(name="client store other client's token", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x"}), token=jwt("oa-other-" + RUN), expect=403),
        dict(name="client store bad path clientId", op="clientStore", method="POST",
             path=K % "bad.id", body=j({"backupShare": "x"}), token=jwt("bad.id"), expect=422,
             path_valid=False, req_valid=True),
        dict(name="client store missing backupShare", op="clientStore", method="POST", path=K % k1,
             body=j({"share": "x"}), token=jwt(k1), expect=422, req_valid=False),
        dict(name="client store empty backupShare", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": ""}), token=jwt(k1), expect=422, req_valid=False),
        dict(name="client store backupShare null", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": None}), token=jwt(k1), expect=422, req_valid=False),
        dict(name="client store a string body", op="clientStore", method="POST", path=K % k1,
             body=b'"x"', token=jwt(k1), expect=422, req_valid=False),
        dict(name="client store malformed", op="clientStore", method="POST", path=K % k1,
             body=b'{"backupShare": "x"', token=jwt(k1), expect=400),
        dict(name="client store text/plain", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x"}), token=jwt(k1), headers={"Content-Type": "text/plain"}, expect=415),
        dict(name="client store over max_body", op="clientStore", method="POST", path=K % k1,
             body=j({"backupShare": "x" * (MAX_BODY + 10)}), token=jwt(k1), expect=413),
        # clientFetch
        dict(name="client fetch", op="clientFetch", method="GET", path=K % k1, token=jwt(k1), expect=200,
             path_valid=True, query_valid=True, check=expect_client("UNKNOWN", s1, ["UNKNOWN"])),
        dict(name="client fetch with an unknown query parameter", op="clientFetch", method="GET",
             path=K % k1 + "?x=1", token=jwt(k1), expect=400, query_valid=False,
             check=expect_error("invalid_query")),
        dict(name="client fetch nothing stored", op="clientFetch", method="GET", path=K % ("oa-k2-" + RUN),
             token=jwt("oa-k2-" + RUN), expect=404),
        dict(name="client fetch no token", op="clientFetch", method="GET", path=K % k1, expect=401,
             check=lambda s, h, d: None if h.get("www-authenticate") == ["Bearer"] else "WWW-Authenticate %r" % h.get("www-authenticate")),
        dict(name="client fetch garbage token", op="clientFetch", method="GET", path=K % k1,
             token="not.a.jwt", expect=401),
        dict(name="client fetch other client's token", op="clientFetch", method="GET", path=K % k1,
             token=jwt("oa-other-" + RUN), expect=403),
        dict(name="client fetch bad path clientId", op="clientFetch", method="GET", path=K % ("x" * 129),
             token=jwt("x" * 129), expect=422, path_valid=False),
        # operations
        dict(name="health", op="health", method="GET", path="/healthz", expect=200),
        dict(name="metrics", op="metrics", method="GET", path="/metrics", expect=200,
             check=lambda s, h, d: None if b"sharekeep_requests_total" in d else "no sharekeep_requests_total"),
    ]
    cases += identity_cases()
    for c in cases:
        run_case(c)

    # 500: a stored record that no longer opens
    t1 = "oa-t1-" + RUN
    run_case(dict(name="store for tampering", op="custodianStore", method="POST", path=W,
                  body=j({"clientId": t1, "share": "t"}), sign=True, expect=200))
    run_case(dict(name="client store for tampering", op="clientStore", method="POST", path=K % t1,
                  body=j({"backupShare": "t"}), token=jwt(t1), expect=200))
    tamper(t1, 1)
    tamper(t1, 2)
    run_case(dict(name="fetch a tampered record", op="custodianFetch", method="POST", path=WF,
                  body=j({"clientId": t1}), sign=True, expect=500))
    run_case(dict(name="client fetch a tampered record", op="clientFetch", method="GET", path=K % t1,
                  token=jwt(t1), expect=500))
    # a record that does not open is left out; the client's other shares are served
    t2 = "oa-t2-" + RUN
    run_case(dict(name="store method A for tampering", op="custodianStore", method="POST", path=W,
                  body=j({"clientId": t2, "share": "ta", "backupMethod": "A"}), sign=True, expect=200))
    run_case(dict(name="store method B for tampering", op="custodianStore", method="POST", path=W,
                  body=j({"clientId": t2, "share": "tb", "backupMethod": "B"}), sign=True, expect=200))
    tamper(t2, 1, "B")
    run_case(dict(name="fetch skips a tampered record", op="custodianFetch", method="POST", path=WF,
                  body=j({"clientId": t2}), sign=True, expect=200, check=expect_shares(["ta"])))

    # route probes: every path x method sharekeep answers must be in the spec
    paths = ["/", "/index.html", "/openapi.yaml", "/webhook", "/webhook/", "/webhook/backup",
             "/webhook/backup/", "/webhook//backup", "/webhook/Backup", "/webhook/%62ackup",
             "/webhook/backup/fetch", "/webhook/backup/fetch/", "/webhook/backup/fetch/x",
             "/webhook/fetch", "/webhook/backup/fetch?x=1", "/webhook/backup;x", "/portal",
             "/portal/clients", "/portal/clients/", "/portal/clients/x", "/portal/clients/x/",
             "/portal/clients/x/backup", "/portal/clients/x/backup/", "/portal/clients/x/backups",
             "/portal/clients//backup", "/portal/clients/x/y/backup", "/portal/clients/x/backup/fetch",
             "/portal/clients/x%2Fy/backup", "/healthz", "/healthz/", "/healthz?full=1", "/health",
             "/metrics", "/metrics/", "/status", "/api", "/backup", "/Healthz", "//healthz"]
    for p in paths:
        seen, probs = [], []
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]:
            body = b"{}" if m in ("POST", "PUT", "PATCH") else None
            r = run_case(dict(name="probe", method=m, path=p, body=body, probe=True))
            if r is None:
                probs.append(m + ": request failed")
                continue
            seen.append(r[0])
            probs += r[1]
        if probs:
            not_ok("probe %s (%s)" % (p, ", ".join(seen)), "\n".join(probs))
        else:
            ok("probe %s: %s" % (p, ", ".join(seen)))


def phase_shared():
    """webhook_auth left at its default: X-Webhook-Secret, as Portal sends it
    (the Standard Webhooks headers are ignored); the fetch bounded by
    fetch_max_shares = 3 and fetch_max_bytes = 1k; max_versions = 3, so a
    4th version is a 409 version_limit on both store routes."""
    W, WF = "/webhook/backup", "/webhook/backup/fetch"
    sa, sb, sc = "oa-sa-" + RUN, "oa-sb-" + RUN, "oa-sc-" + RUN
    sd = "oa-sd-" + RUN
    K = "/portal/clients/%s/backup"
    big = "B" * 1500
    n400 = ["%d" % i + "n" * 399 for i in range(3)]

    def st(name, cid, share, method=None, expect=200, version=None, created=None, **kw):
        body = {"clientId": cid, "share": share}
        if method is not None:
            body["backupMethod"] = method
        d = dict(name=name, op="custodianStore", method="POST", path=W, body=j(body), secret=WH_SHARED,
                 default_auth=True, expect=expect, req_valid=True if expect == 200 else None,
                 check=expect_store(version, created) if version is not None else None)
        d.update(kw)
        return d

    def fe(name, cid, shares=None, expect=200, **kw):
        d = dict(name=name, op="custodianFetch", method="POST", path=WF, body=j({"clientId": cid}),
                 secret=WH_SHARED, default_auth=True, expect=expect, req_valid=True,
                 headers={"Accept": "application/json"},
                 check=expect_shares(shares) if shares is not None else None)
        d.update(kw)
        return d

    cases = [
        st("shared secret: store", sa, "g1", "GDRIVE-SECP256K1", version=1, created=True),
        st("shared secret: Portal's retry, same body", sa, "g1", "GDRIVE-SECP256K1", version=1, created=False),
        fe("shared secret: validation fetch", sa, ["g1"]),
        st("shared secret: header name in capitals", sa, "i1", "ICLOUD-SECP256K1", version=1, created=True,
           secret_header="X-WEBHOOK-SECRET"),
        st("shared secret: a 300-byte Webhook-Id is ignored", sa, "k1", "PASSKEY-SECP256K1", version=1,
           created=True, headers={"Webhook-Id": "w" * 300}),
        st("shared secret: a reused webhook-id is ignored", sa, "p1", "PASSWORD-SECP256K1", version=1,
           created=True, headers={"webhook-id": "msg_oa_shared_" + RUN, "webhook-timestamp": "1"}),
        st("shared secret: legacy store, no backupMethod", sa, "u1", version=1, created=True,
           headers={"webhook-id": "msg_oa_shared_" + RUN}),
        fe("shared secret: fetch_max_shares keeps the 3 newest", sa, ["u1", "p1", "k1"]),
        st("fetch_max_bytes: share 1", sb, n400[0], "A", version=1, created=True),
        st("fetch_max_bytes: share 2", sb, n400[1], "B", version=1, created=True),
        st("fetch_max_bytes: share 3", sb, n400[2], "C", version=1, created=True),
        fe("fetch_max_bytes keeps the newest within 1k", sb, [n400[2], n400[1]]),
        st("fetch_max_bytes: a small share", sc, "s", "A", version=1, created=True),
        st("fetch_max_bytes: a share over the bound", sc, big, "B", version=1, created=True),
        fe("fetch_max_bytes: the newest share is always served", sc, [big]),
        fe("shared secret: fetch unknown client", "oa-none-" + RUN, expect=404),
        st("shared secret: store without the secret", sa, "x", "X", expect=401, secret=None),
        st("shared secret: store with a wrong secret", sa, "x", "X", expect=401, secret="w" * 40),
        st("shared secret: Standard Webhooks signature only", sa, "x", "X", expect=401, secret=None, sign=True),
        fe("shared secret: fetch without the secret", sa, expect=401, secret=None),
        fe("shared secret: fetch with a wrong secret", sa, expect=401, secret=WH_SHARED + "x"),
        st("shared secret: bad body still 422", sa, "", "X", expect=422, req_valid=False),
        # max_versions = 3 here: a 4th version of one identity is refused, the
        # newest retried is still 200
        st("max_versions: version 1", sd, "v1", "M", version=1, created=True),
        st("max_versions: version 2", sd, "v2", "M", version=2, created=True),
        st("max_versions: version 3", sd, "v3", "M", version=3, created=True),
        st("max_versions: a 4th version is refused", sd, "v4", "M", expect=409,
           check=expect_error("version_limit")),
        st("max_versions: the newest again is a retry", sd, "v3", "M", version=3, created=False),
    ] + [dict(name="max_versions: client version %d" % v, op="clientStore", method="POST",
              path=K % sd, body=j({"backupMethod": "PASSKEY", "cipherText": "c%d" % v}),
              token=jwt(sd), expect=200 if v <= 3 else 409, req_valid=True if v <= 3 else None,
              check=expect_store(v, True) if v <= 3 else expect_error("version_limit"))
         for v in (1, 2, 3, 4)]
    for c in cases:
        run_case(c)


def phase_down():
    c1 = "oa-c1-" + RUN
    K = "/portal/clients/%s/backup"
    cases = [
        dict(name="db down: store", op="custodianStore", method="POST", path="/webhook/backup",
             body=j({"clientId": c1, "share": "x"}), sign=True, expect=503),
        dict(name="db down: fetch", op="custodianFetch", method="POST", path="/webhook/backup/fetch",
             body=j({"clientId": c1}), sign=True, expect=503),
        dict(name="db down: client store", op="clientStore", method="POST", path=K % c1,
             body=j({"backupShare": "x"}), token=jwt(c1), expect=503),
        dict(name="db down: client fetch", op="clientFetch", method="GET", path=K % c1,
             token=jwt(c1), expect=503),
        dict(name="db down: health", op="health", method="GET", path="/healthz", expect=503),
        dict(name="metrics from an address not in metrics_allow", op="metrics", method="GET",
             path="/metrics", expect=403),
        dict(name="db down: a bad body still gets 422", op="custodianStore", method="POST",
             path="/webhook/backup", body=j({"clientId": c1}), sign=True, expect=422, req_valid=False),
    ]
    for c in cases:
        run_case(c)


# Documented statuses that no black-box request can bring about here.
UNEXERCISED = {
    ("custodianStore", "500"): "needs sealing itself to fail",
    ("clientStore", "500"): "needs sealing itself to fail",
    ("health", "400"): "a GET: only a malformed CONTENT_LENGTH from the web server",
    ("metrics", "400"): "a GET: only a malformed CONTENT_LENGTH from the web server",
    ("metrics", "503"): "needs memory allocation to fail",
}


def phase_coverage(observed):
    for p, m, op in operations():
        oid = op["operationId"]
        seen = set(observed.get(oid, []))
        for code in op.get("responses", {}):
            code = str(code)
            if code in seen:
                continue
            if (oid, code) in UNEXERCISED:
                print("# %s %s not exercised: %s" % (oid, code, UNEXERCISED[(oid, code)]))
                continue
            not_ok("%s documents %s, but no request got it" % (oid, code))
        if seen:
            ok("%s: seen %s" % (oid, ", ".join(sorted(seen))))
        else:
            not_ok("%s: never exercised" % oid)


MUTATIONS = {
    "drop-409": lambda s: s["paths"]["/webhook/backup"]["post"]["responses"].pop("409"),
    "version-is-string": lambda s: s["components"]["schemas"]["StoreResult"]["properties"]["version"].update(type="string"),
    "drop-metrics-path": lambda s: s["paths"].pop("/metrics"),
    "closed-store-request": lambda s: s["components"]["schemas"]["CustodianStoreRequest"].update(additionalProperties=False),
    "narrow-clientid": lambda s: s["components"]["schemas"]["ClientId"].update(pattern="^[a-z0-9-]{1,64}$"),
    "wide-clientid": lambda s: s["components"]["schemas"]["ClientId"].update(pattern="^[A-Za-z0-9_. -]{0,200}$"),
    "share-may-be-empty": lambda s: s["components"]["schemas"]["Share"].pop("minLength"),
    "cache-control": lambda s: s["components"]["headers"]["Cache-Control"]["schema"].update(enum=["no-cache"]),
    "fewer-422-codes": lambda s: s["components"]["schemas"]["ErrorCodes422"]["properties"]["error"]["properties"]["code"].update(enum=["invalid_body"]),
    "health-body": lambda s: s["components"]["schemas"]["Health"]["properties"]["status"].update(enum=["up"]),
    "client-fetch-post-only": lambda s: s["paths"]["/portal/clients/{clientId}/backup"].pop("get"),
    "json-metrics": lambda s: s["paths"]["/metrics"]["get"]["responses"]["200"].update(
        content={"application/json": {"schema": {"type": "object"}}}),
    # issue 10: backupMethod, backupSharePairId, the fetch answer, the client
    # share per method, the query string, the default webhook authentication
    "fetch-legacy-answer": lambda s: s["components"]["schemas"]["CustodianShares"].update(
        required=["backupShare"], properties={"backupShare": {"$ref": "#/components/schemas/Share"}}),
    "fetch-shares-one-item": lambda s: s["components"]["schemas"]["CustodianShares"]["properties"]["backupShares"].update(maxItems=1),
    "backup-method-enum": lambda s: s["components"]["schemas"]["BackupMethodField"].update(
        enum=["GDRIVE", "ICLOUD", "PASSWORD", "PASSKEY", "CUSTOM", "FIREBASE", "UNKNOWN"]),
    "backup-method-not-nullable": lambda s: s["components"]["schemas"]["BackupMethodField"].pop("nullable"),
    "backup-method-128": lambda s: s["components"]["schemas"]["BackupMethodField"].update(maxLength=128),
    "backup-method-any-char": lambda s: s["components"]["schemas"]["BackupMethodField"].pop("pattern"),
    "pair-id-64": lambda s: s["components"]["schemas"]["BackupSharePairId"].update(maxLength=64),
    "pair-id-may-be-empty": lambda s: s["components"]["schemas"]["BackupSharePairId"].update(
        minLength=0, pattern="^[ -~]*$"),
    "client-store-backupShare-only": lambda s: s["components"]["schemas"]["ClientStoreRequest"].update(
        oneOf=[{"required": ["backupShare"]}]),
    "client-store-any-of": lambda s: s["components"]["schemas"]["ClientStoreRequest"].pop("oneOf"),
    "client-store-null-share": lambda s: s["components"]["schemas"]["ClientStoreRequest"]["properties"].update(
        backupShare={"$ref": "#/components/schemas/Share"}, cipherText={"$ref": "#/components/schemas/Share"}),
    "client-share-requires-methods": lambda s: s["components"]["schemas"]["ClientShare"]["required"].append("backupMethods"),
    "client-share-no-methods": lambda s: s["components"]["schemas"]["ClientShare"]["properties"].pop("backupMethods"),
    "client-share-no-cipherText": lambda s: s["components"]["schemas"]["ClientShare"]["properties"].pop("cipherText"),
    "no-query-parameter": lambda s: s["paths"]["/portal/clients/{clientId}/backup"]["get"].update(
        parameters=[{"$ref": "#/components/parameters/RequestId"}]),
    "query-parameter-any-string": lambda s: s["paths"]["/portal/clients/{clientId}/backup"]["get"]["parameters"][1].update(
        schema={"type": "string"}),
    "no-invalid-query-code": lambda s: s["components"]["schemas"]["ErrorCodes400Query"]["properties"]["error"]["properties"]["code"].update(
        enum=["bad_request"]),
    "standard-webhooks-first": lambda s: [s["paths"][p]["post"]["security"].reverse()
                                          for p in ("/webhook/backup", "/webhook/backup/fetch")],
    "no-shared-secret": lambda s: [s["paths"][p]["post"].update(security=[x for x in s["paths"][p]["post"]["security"]
                                                                         if "sharedSecret" not in x])
                                   for p in ("/webhook/backup", "/webhook/backup/fetch")],
    # issue 12: max_versions
    "client-store-no-409": lambda s: s["paths"]["/portal/clients/{clientId}/backup"]["post"]["responses"].pop("409"),
    "no-version-limit-code": lambda s: s["components"]["schemas"]["ErrorCodes409"]["properties"]["error"]["properties"]["code"].update(
        enum=["delivery_conflict"]),
    "shared-secret-header-renamed": lambda s: s["components"]["securitySchemes"]["sharedSecret"].update(name="X-Portal-Secret"),
}


def main():
    global SPEC, QUIET, COMPONENTS_JS
    args = sys.argv[1:]
    mutate = None
    if "--mutate" in args:
        i = args.index("--mutate")
        mutate = args[i + 1]
        del args[i:i + 2]
        QUIET = True
    spec_path, phase, obs_path = args
    with open(spec_path) as f:
        SPEC = yaml.safe_load(f)
    if mutate:
        SPEC = copy.deepcopy(SPEC)
        MUTATIONS[mutate](SPEC)
    COMPONENTS_JS = {"schemas": {name: to_json_schema(sch)
                                 for name, sch in (SPEC["components"].get("schemas") or {}).items()}}
    if phase == "list-mutations":
        print(" ".join(MUTATIONS))
        return 0
    observed = {}
    if os.path.exists(obs_path):
        with open(obs_path) as f:
            observed = json.load(f)
    if phase == "up":
        check_structure()
        phase_up()
    elif phase == "shared":
        phase_shared()
    elif phase == "down":
        phase_down()
    elif phase == "coverage":
        phase_coverage(observed)
    else:
        raise SystemExit("unknown phase " + phase)
    if phase in ("up", "shared", "down") and not mutate:
        for k, v in OBSERVED.items():
            observed[k] = sorted(set(observed.get(k, [])) | v)
        with open(obs_path, "w") as f:
            json.dump(observed, f)
    if mutate:
        print("%d %s" % (len(FAILS), FAILS[0] if FAILS else ""))
    return 1 if FAILS else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as e:  # a crash is a failure, with the reason
        import traceback
        print("not ok - checker crashed: %r" % e)
        traceback.print_exc(file=sys.stdout)
        sys.exit(2)
