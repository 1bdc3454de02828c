"""OpenTelemetry set-up shared by the Python services of the cross-service tests: the SDK's
tracer provider with its OTLP/HTTP exporter, nothing from the `monitor` crate."""

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def install(service_name):
    """Exports every span as it ends to `OTLP_TRACES_ENDPOINT`, into the Phoenix project
    `PHOENIX_PROJECT` (Phoenix files spans by this resource attribute)."""
    resource = Resource.create(
        {
            "service.name": service_name,
            "openinference.project.name": os.environ["PHOENIX_PROJECT"],
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=os.environ["OTLP_TRACES_ENDPOINT"])
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
