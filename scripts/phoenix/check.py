"""Round trip against a running Phoenix, independent of the Rust code: checks that the server the
scripts start takes OTLP over HTTP (plain and gzip) and gRPC, and reads spans, annotations and
token totals back the way the tests do. Run with the Phoenix venv's Python:

    source scripts/phoenix/test-server.sh   # or: scripts/phoenix/server.sh start <dir>
    "$MONITOR_PHOENIX_VENV/bin/python" scripts/phoenix/check.py [URL [GRPC_URL]]

URL / GRPC_URL default to $MONITOR_TEST_PHOENIX_URL / $MONITOR_TEST_PHOENIX_GRPC.
"""

import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

base = sys.argv[1] if len(sys.argv) > 1 else os.environ["MONITOR_TEST_PHOENIX_URL"]
grpc_url = sys.argv[2] if len(sys.argv) > 2 else os.environ["MONITOR_TEST_PHOENIX_GRPC"]
project = f"check-{uuid.uuid4().hex[:8]}"


def attrs(d):
    def value(v):
        if isinstance(v, bool):
            return AnyValue(bool_value=v)
        if isinstance(v, int):
            return AnyValue(int_value=v)
        if isinstance(v, float):
            return AnyValue(double_value=v)
        return AnyValue(string_value=v)

    return [KeyValue(key=k, value=value(v)) for k, v in d.items()]


def export(spans):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(
        attrs({"service.name": "monitor-check", "openinference.project.name": project})
    )
    rs.scope_spans.add().spans.extend(spans)
    return req


def span(trace_id, span_id, parent_id, name, attributes):
    start = time.time_ns() - 1_000_000_000
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, name=name,
        start_time_unix_nano=start, end_time_unix_nano=start + 100_000_000,
        status=Status(code=Status.STATUS_CODE_OK), attributes=attrs(attributes),
    )


def call(method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = headers or ({"Content-Type": "application/json"} if body is not None else {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def poll_spans(n, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call("GET", f"/v1/projects/{project}/spans?limit=1000")
        if status == 200 and len(spans := json.loads(body)["data"]) >= n:
            return spans
        time.sleep(0.1)
    raise AssertionError(f"{n} spans not queryable in project {project} within {timeout} s")


trace = os.urandom(16)
root, llm, tool, other = (os.urandom(8) for _ in range(4))
# Session ids are unique across projects in Phoenix: a reused one joins the older project's session.
session_id = f"sess-{uuid.uuid4().hex[:8]}"
session = {"session.id": session_id, "user.id": "user-7"}
spans = [
    span(trace, root, b"", "pipeline", {"openinference.span.kind": "CHAIN", **session,
                                        "input.value": "2+2?", "input.mime_type": "text/plain"}),
    span(trace, llm, root, "llm", {"openinference.span.kind": "LLM", **session,
                                   "input.value": json.dumps({"q": "2+2?"}),
                                   "input.mime_type": "application/json", "output.value": "4",
                                   "llm.model_name": "test-model", "llm.token_count.prompt": 12,
                                   "llm.token_count.completion": 3, "llm.token_count.total": 15}),
]
t0 = time.monotonic()
status, body = call("POST", "/v1/traces", export(spans).SerializeToString(),
                    {"Content-Type": "application/x-protobuf"})
assert (status, body) == (200, b""), (status, body)
got = {s["name"]: s for s in poll_spans(2)}
print(f"OTLP/HTTP: 2 spans queryable after {time.monotonic() - t0:.2f} s")
assert got["llm"]["span_kind"] == "LLM" and got["pipeline"]["span_kind"] == "CHAIN", got
assert got["llm"]["parent_id"] == root.hex() and got["pipeline"]["parent_id"] is None, got
assert got["llm"]["attributes"]["llm.token_count.prompt"] == 12, got["llm"]["attributes"]

gz = gzip.compress(export([span(trace, tool, llm, "tool", {"openinference.span.kind": "TOOL"})])
                   .SerializeToString())
status, _ = call("POST", "/v1/traces", gz,
                 {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
assert status == 200, status
target = grpc_url.removeprefix("http://")
with grpc.insecure_channel(target) as channel:
    trace_service_pb2_grpc.TraceServiceStub(channel).Export(
        export([span(os.urandom(16), other, b"", "via-grpc", {"openinference.span.kind": "CHAIN"})]),
        timeout=10,
    )
names = {s["name"] for s in poll_spans(4)}
assert names == {"pipeline", "llm", "tool", "via-grpc"}, names
print("OTLP/HTTP gzip and OTLP/gRPC: spans queryable")

annotation = {"span_id": llm.hex(), "name": "quality", "annotator_kind": "CODE",
              "result": {"score": 0.85, "label": "good"}}
status, body = call("POST", "/v1/span_annotations?sync=true", {"data": [annotation]})
assert status == 200 and len(json.loads(body)["data"]) == 1, (status, body)
status, body = call("GET", f"/v1/projects/{project}/span_annotations?span_ids={llm.hex()}")
(read,) = json.loads(body)["data"]
assert (read["name"], read["result"]["score"], read["span_id"]) == ("quality", 0.85, llm.hex()), read
print("span annotation written and read back")

query = "query($name: String!) { getProjectByName(name: $name) { tokenCountTotal " \
        "sessions(first: 10) { edges { node { sessionId } } } } }"
status, body = call("POST", "/graphql", {"query": query, "variables": {"name": project}})
data = json.loads(body)
assert status == 200 and "errors" not in data, data
assert data["data"]["getProjectByName"]["tokenCountTotal"] == 15, data
assert data["data"]["getProjectByName"]["sessions"]["edges"][0]["node"]["sessionId"] == session_id
print(f"project {project}: tokenCountTotal 15, session {session_id}")
print("phoenix check: ok")
