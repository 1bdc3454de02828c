"""Runs `phoenix serve` with its OTLP/gRPC receiver on 127.0.0.1 instead of [::].

Phoenix 20.x hard-codes `[::]:<port>` for the gRPC listener (phoenix/server/grpc_server.py) and
ignores PHOENIX_HOST there, so this wrapper rewrites the address before Phoenix adds the port.
The HTTP side (UI, REST, GraphQL, OTLP/HTTP) follows PHOENIX_HOST, which scripts/phoenix/server.sh
sets to 127.0.0.1 along with the ports and the working directory.
"""

import sys

import grpc.aio._server


def _loopback(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if sep and host in ("[::]", "0.0.0.0", ""):
        return f"127.0.0.1:{port}"
    return address


_insecure = grpc.aio._server.Server.add_insecure_port
_secure = grpc.aio._server.Server.add_secure_port
grpc.aio._server.Server.add_insecure_port = lambda self, address: _insecure(self, _loopback(address))
grpc.aio._server.Server.add_secure_port = lambda self, address, creds: _secure(
    self, _loopback(address), creds
)

from phoenix.server.main import main  # noqa: E402  (after the patch)

sys.argv = ["phoenix", "serve"]
sys.exit(main())
