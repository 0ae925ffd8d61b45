#!/usr/bin/env python3
"""Sends logs to Skald with OpenTelemetry's Python SDK and one of its OTLP exporters.

  send.py http|grpc ENDPOINT SERVICE

http: opentelemetry-exporter-otlp-proto-http, ENDPOINT the base URL (`/v1/logs` is not
added: the full `/otlp/v1/logs` URL is given); grpc: opentelemetry-exporter-otlp-proto-grpc,
ENDPOINT `host:port`. Emits, through the standard `logging` module bridged by the SDK's
LoggingHandler, one INFO line inside a span (so it carries trace and span IDs), one WARNING
with extra attributes, and one ERROR; then, through the logs API directly, one record
whose body is a map. Prints the trace ID (32 hex digits) and exits non-zero if the
exporter failed.
"""
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

kind, endpoint, service = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "http":
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    exporter = OTLPLogExporter(endpoint=endpoint, timeout=10)
else:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    exporter = OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=10)

results = []


class Recording:
    """Wraps the exporter to remember each export's result."""

    def export(self, batch):
        result = exporter.export(batch)
        results.append(result)
        return result

    def shutdown(self):
        exporter.shutdown()

    def force_flush(self, timeout_millis=10000):
        return True


resource = Resource.create({"service.name": service, "k8s.namespace.name": "shop", "deployment.environment": "prod", "host.name": "node-1"})
provider = LoggerProvider(resource=resource)
provider.add_log_record_processor(SimpleLogRecordProcessor(Recording()))
tracer = TracerProvider(resource=resource).get_tracer("skald.test")

log = logging.getLogger("checkout.py")
log.propagate = False
log.setLevel(logging.DEBUG)
log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

with tracer.start_as_current_span("place-order") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")
    log.info("order placed")
log.warning("stock low", extra={"item.sku": "A-17", "stock": 3})
log.error("payment failed: card declined")
provider.get_logger("skald.api", "1.2.3").emit(
    LogRecord(body={"event": "signup", "ok": True, "n": 2}, severity_number=SeverityNumber.DEBUG, severity_text="DEBUG", attributes={"tags": ["a", "b"]})
)
provider.shutdown()
print(trace_id)
failed = [r for r in results if r != LogRecordExportResult.SUCCESS]
if failed or not results:
    print(f"export failed: {results}", file=sys.stderr)
    sys.exit(1)
