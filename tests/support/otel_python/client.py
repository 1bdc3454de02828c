"""A Python client instrumented only with the OpenTelemetry SDK and its official `requests`
instrumentation: one root span around one GET to the URL given as the only argument.

Prints `trace <32 hex digits>` and `status <code>`, then the response body, and exits non-zero
when the request fails."""

import sys

import requests
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor

import otel_setup


def main():
    url = sys.argv[1]
    provider = otel_setup.install("python-client")
    RequestsInstrumentor().instrument()
    tracer = trace.get_tracer("interop-client")
    with tracer.start_as_current_span("python-client") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        response = requests.get(url, timeout=30)
    provider.force_flush()
    print(f"trace {trace_id}")
    print(f"status {response.status_code}")
    print(response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
