// Sends logs to Skald with OpenTelemetry's JavaScript SDK and one of its OTLP exporters.
//
//   node send.mjs json|proto URL SERVICE
//
// json: @opentelemetry/exporter-logs-otlp-http (OTLP/JSON); proto:
// @opentelemetry/exporter-logs-otlp-proto (protobuf). URL is the full `/otlp/v1/logs`
// URL. Emits an INFO record with a trace context, a WARN with attributes (one of them a
// nested map) and a record whose body is a map; exits non-zero if an export failed.
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SeverityNumber } from '@opentelemetry/api-logs';

const [kind, url, service] = process.argv.slice(2);
const module = kind === 'json' ? '@opentelemetry/exporter-logs-otlp-http' : '@opentelemetry/exporter-logs-otlp-proto';
const { OTLPLogExporter } = await import(module);
const exporter = new OTLPLogExporter({ url, timeoutMillis: 10000 });

const results = [];
const recording = {
  export(logs, done) {
    exporter.export(logs, (result) => {
      results.push(result);
      done(result);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};

const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'k8s.pod.name': 'web-0', 'process.pid': 4242 }),
  processors: [new SimpleLogRecordProcessor(recording)],
});
const logger = provider.getLogger('checkout.js', '2.0.1');
const spanContext = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: 1 };
const context = { getValue: (key) => (String(key).includes('OpenTelemetry Context Key SPAN') ? { spanContext: () => spanContext } : undefined) };
logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'order placed', context, attributes: { 'order.id': 'o-1' } });
logger.emit({
  severityNumber: SeverityNumber.WARN,
  severityText: 'WARN',
  body: 'stock low',
  attributes: { 'item.sku': 'A-17', stock: 3, ratio: 0.25, http: { method: 'GET', status: 200 } },
});
logger.emit({ severityNumber: SeverityNumber.DEBUG, body: { event: 'signup', ok: true } });
await provider.forceFlush();
await provider.shutdown();
const failed = results.filter((r) => r.code !== 0);
if (failed.length > 0 || results.length === 0) {
  console.error('export failed:', JSON.stringify(results.map((r) => ({ code: r.code, error: String(r.error) }))));
  process.exit(1);
}
