/**
 * W3C trace context from hostile input (src/tracing/trace-context.ts), the tracing config's
 * environment mapping and the tracer's set-up: a bad header is ignored, never an error; the
 * OTEL_* variables land on their keys; a bad value stops start-up naming the variable and not a
 * secret; off sets up nothing; a failed export is logged, without the export's headers.
 */
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { MAX_TRACESTATE_CHARS, parseCarrier, parseTraceparent, parseTracestate } from '../src/tracing/trace-context.js';
import { Tracing } from '../src/tracing/tracing.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent', () => {
  it('reads a valid one', () => {
    expect(parseTraceparent(TP)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 });
  });

  it('reads a later version, dropping the fields it adds', () => {
    expect(parseCarrier(`01${TP.slice(2)}-what-comes-next`)?.traceparent).toBe(TP);
  });

  it.each([
    ['empty', ''],
    ['not a string', 42],
    ['upper-case hex', TP.toUpperCase()],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version ff', `ff${TP.slice(2)}`],
    ['version 00 with more after it', `${TP}-00`],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['not hex', TP.replace('4bf9', 'zzzz')],
    ['far too long', `01${TP.slice(2)}-${'a'.repeat(10_000)}`],
  ])('ignores one that is %s', (_, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
    expect(parseCarrier(value, 'a=b')).toBeUndefined();
  });
});

describe('tracestate', () => {
  it('keeps valid members, trimmed', () => {
    expect(parseTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(parseCarrier(TP, 'tenant@vendor=x')).toEqual({ traceparent: TP, tracestate: 'tenant@vendor=x' });
  });

  it('drops the whole list when a member is bad or it is too long, keeping the traceparent', () => {
    for (const bad of ['novalue', 'Upper=x', 'a="quoted"', 'a=back\\slash', 'a=x,', `a=${'x'.repeat(MAX_TRACESTATE_CHARS)}`]) {
      expect(parseCarrier(TP, bad)).toEqual(bad === 'a=x,' ? { traceparent: TP, tracestate: 'a=x' } : { traceparent: TP });
    }
    expect(parseTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','))).toBeUndefined();
  });
});

describe('tracing config', () => {
  it('is off by default', () => {
    const c = loadConfig({ env: {} });
    expect(c.tracing).toMatchObject({ endpoint: '', disabled: false, sampleRatio: 1 });
  });

  it('takes the standard OTEL_* variables', () => {
    const c = loadConfig({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s%3Dcret, tenant=t1',
        OTEL_SERVICE_NAME: 'orq-prod',
      },
    });
    expect(c.tracing).toMatchObject({ endpoint: 'http://collector:4318', headers: { 'x-api-key': 's=cret', tenant: 't1' }, serviceName: 'orq-prod' });
    expect(loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' } }).tracing.disabled).toBe(true);
  });

  it('refuses a bad value naming the variable, never the secret', () => {
    expect(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_HEADERS: 'token' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_HEADERS: 'key=%E0%A4%A' } })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS: the value of "key"/);
    expect(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' } })).toThrow(/tracing\.endpoint/);
    expect(() => loadConfig({ env: { OTEL_SDK_DISABLED: 'yes' } })).toThrow(/OTEL_SDK_DISABLED/);
  });
});

describe('Tracing', () => {
  it('is off without an endpoint, and refuses to start spans then', () => {
    const t = Tracing.create(loadConfig({ env: {} }).tracing, 'test', pino({ level: 'silent' }));
    expect(t).toBe(Tracing.off);
    expect(t.enabled).toBe(false);
    expect(() => t.startSpan('x')).toThrow(/tracing is off/);
  });

  it('logs spans it could not export, without the headers', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    // Port 9 (discard) on loopback: nothing listens there in a test environment, so the export is refused.
    const config = loadConfig({
      env: {},
      overrides: { tracing: { endpoint: 'http://127.0.0.1:9', headers: { 'x-api-key': 'sekrit-value' }, exportIntervalMs: 10, exportTimeoutMs: 500 } },
    });
    const t = Tracing.create(config.tracing, 'test', pino({ level: 'info' }, sink));
    expect(t.enabled).toBe(true);
    const span = t.startSpan('probe', { parent: parseCarrier('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') });
    expect(t.carrierOf(span).traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    span.end();
    await t.close(); // flushes: the failed export is reported before it returns
    const text = lines.join('');
    expect(text).toContain('could not export 1 span(s)');
    expect(text).not.toContain('sekrit-value');
  });
});
