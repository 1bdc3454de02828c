"""A Flask service instrumented only with OpenTelemetry's official Flask instrumentation.

Listens on 127.0.0.1 on a free port, prints `port <n>` once it accepts requests, and answers
`GET /lookup?q=...` with a small JSON document."""

import sys

from flask import Flask, jsonify, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from werkzeug.serving import make_server

import otel_setup

otel_setup.install("python-server")
app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)


@app.get("/lookup")
def lookup():
    query = request.args.get("q", "")
    return jsonify({"query": query, "facts": [f"{query} is well documented"]})


def main():
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
