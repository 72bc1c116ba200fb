/**
 * OTLP/JSON for finished spans, written straight into one string: the request body OpenTelemetry's
 * OTLP/HTTP exporter sends (`JsonTraceSerializer` of `@opentelemetry/otlp-transformer`), field
 * for field, without its two steps (an object tree per span, then `JSON.stringify` of the tree).
 * Those two steps cost a sampled trace of the gateway about 180,000 instructions, as much as
 * half an unsampled request (docs/performance.md, "What the telemetry costs, counted"): at the
 * sample rate of 0.1 they alone were 5 % of every request. Nothing else of the exporter changes:
 * its HTTP transport, retries, timeouts and concurrency limit are OpenTelemetry's
 * (`createOtlpHttpExportDelegate`), and test/otlp-json-spans.test.ts holds this output to the
 * transformer's, parsed, for spans of every shape the SDK makes.
 *
 * The encoding is the transformer's JSON encoding: ids as hex, times as decimal strings of
 * nanoseconds, a span's kind as the SDK's plus one, attribute values typed by their JavaScript
 * type (a non-integer number is a `doubleValue`, a `Uint8Array` base64 `bytesValue`), fields the
 * transformer leaves undefined left out. Strings are escaped as `JSON.stringify` escapes them,
 * except a span's own ids and its parent's, which the SDK only makes or accepts as hex.
 */
import type { Attributes, AttributeValue, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

/** A scope may carry attributes (the transformer writes them when it has some). */
type Scope = ReadableSpan['instrumentationScope'] & {
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
};

/** The whole `ExportTraceServiceRequest` of `spans`, as UTF-8. */
export function serializeSpansAsOtlpJson(spans: readonly ReadableSpan[]): Uint8Array {
  return Buffer.from(otlpJsonOf(spans), 'utf8');
}

/** The request as a string (for the tests and the benchmark). */
export function otlpJsonOf(spans: readonly ReadableSpan[]): string {
  let json = '{"resourceSpans":[';
  let first = true;
  for (const [resource, scopes] of groupSpans(spans)) {
    json += `${first ? '' : ','}{"resource":${resourceJson(resource)},"scopeSpans":[`;
    first = false;
    let firstScope = true;
    for (const scopeSpans of scopes.values()) {
      const scope = scopeSpans[0]!.instrumentationScope;
      json += `${firstScope ? '' : ','}{"scope":${scopeJson(scope)},"spans":[`;
      firstScope = false;
      for (let index = 0; index < scopeSpans.length; index += 1)
        json += (index === 0 ? '' : ',') + spanJson(scopeSpans[index]!);
      json += scope.schemaUrl === undefined ? ']}' : `],"schemaUrl":${quote(scope.schemaUrl)}}`;
    }
    json += resource.schemaUrl ? `],"schemaUrl":${quote(resource.schemaUrl)}}` : ']}';
  }
  return `${json}]}`;
}

/**
 * Spans by resource (the same object), then by scope (name, version and schema URL), in the
 * order each first appears: the transformer's grouping. A batch of one tracer's spans has one
 * resource and one scope object, so the scope's key is built only when the object changes.
 */
function groupSpans(spans: readonly ReadableSpan[]): Map<Resource, Map<string, ReadableSpan[]>> {
  const resources = new Map<Resource, Map<string, ReadableSpan[]>>();
  let lastResource: Resource | undefined;
  let lastScope: Scope | undefined;
  let lastList: ReadableSpan[] | undefined;
  for (const span of spans) {
    if (span.resource === lastResource && span.instrumentationScope === lastScope) {
      lastList!.push(span);
      continue;
    }
    let scopes = resources.get(span.resource);
    if (scopes === undefined) {
      scopes = new Map();
      resources.set(span.resource, scopes);
    }
    const scope = span.instrumentationScope;
    const key = `${scope.name}@${scope.version || ''}:${scope.schemaUrl || ''}`;
    let list = scopes.get(key);
    if (list === undefined) {
      list = [];
      scopes.set(key, list);
    }
    list.push(span);
    lastResource = span.resource;
    lastScope = scope;
    lastList = list;
  }
  return resources;
}

/** A process has one resource: its JSON is written once. */
const resourceCache = new WeakMap<Resource, string>();

function resourceJson(resource: Resource): string {
  let json = resourceCache.get(resource);
  if (json === undefined) {
    json = `{"attributes":${attributesJson(resource.attributes)},"droppedAttributesCount":0${
      resource.schemaUrl ? `,"schemaUrl":${quote(resource.schemaUrl)}` : ''
    }}`;
    resourceCache.set(resource, json);
  }
  return json;
}

function scopeJson(scope: Scope): string {
  let json = `{"name":${quote(scope.name)}`;
  if (scope.version !== undefined) json += `,"version":${quote(scope.version)}`;
  const attributes = scope.attributes;
  if (attributes !== undefined && Object.keys(attributes).length > 0)
    json += `,"attributes":${attributesJson(attributes)},"droppedAttributesCount":${scope.droppedAttributesCount ?? 0}`;
  return `${json}}`;
}

function spanJson(span: ReadableSpan): string {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  // The SDK's ids are hex: made by its id generator, or a parent's it checked as hex.
  let json = `{"traceId":"${context.traceId}","spanId":"${context.spanId}"`;
  if (parent?.spanId) json += `,"parentSpanId":"${parent.spanId}"`;
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined) json += `,"traceState":${quote(traceState)}`;
  json += `,"name":${quoteName(span.name)},"kind":${span.kind == null ? 0 : span.kind + 1},"startTimeUnixNano":"${nanos(span.startTime)}","endTimeUnixNano":"${nanos(span.endTime)}","attributes":${attributesJson(span.attributes)},"droppedAttributesCount":${span.droppedAttributesCount},"events":[`;
  const events = span.events;
  for (let index = 0; index < events.length; index += 1)
    json += (index === 0 ? '' : ',') + eventJson(events[index]!);
  const status = span.status;
  json += `],"droppedEventsCount":${span.droppedEventsCount},"status":{"code":${status.code}${
    status.message === undefined ? '' : `,"message":${quote(status.message)}`
  }},"links":[`;
  const links = span.links;
  for (let index = 0; index < links.length; index += 1)
    json += (index === 0 ? '' : ',') + linkJson(links[index]!);
  return `${json}],"droppedLinksCount":${span.droppedLinksCount},"flags":${flags(context, parent?.isRemote)}}`;
}

function eventJson(event: TimedEvent): string {
  return `{"attributes":${event.attributes ? attributesJson(event.attributes) : '[]'},"name":${quote(event.name)},"timeUnixNano":"${nanos(event.time)}","droppedAttributesCount":${event.droppedAttributesCount || 0}}`;
}

function linkJson(link: Link): string {
  const context = link.context;
  const traceState = context.traceState?.serialize();
  return `{"attributes":${link.attributes ? attributesJson(link.attributes) : '[]'},"spanId":${quote(context.spanId)},"traceId":${quote(context.traceId)}${
    traceState === undefined ? '' : `,"traceState":${quote(traceState)}`
  },"droppedAttributesCount":${link.droppedAttributesCount || 0},"flags":${flags(context, context.isRemote)}}`;
}

/** OTLP's span flags: the W3C trace flags, and whether the (parent) context's remoteness is known and true. */
function flags(context: SpanContext, isRemote: boolean | undefined): number {
  return (context.traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
}

function attributesJson(attributes: Attributes): string {
  let json = '[';
  let first = true;
  for (const key in attributes) {
    if (!Object.hasOwn(attributes, key)) continue;
    json += `${first ? '' : ','}{"key":${quoteName(key)},"value":${anyValueJson(attributes[key])}}`;
    first = false;
  }
  return `${json}]`;
}

/** An OTLP `AnyValue`; what it cannot type (null, undefined) is the empty value `{}`, as in the transformer. */
function anyValueJson(value: AttributeValue | unknown): string {
  if (typeof value === 'string') return `{"stringValue":${quote(value)}}`;
  if (typeof value === 'number')
    return Number.isInteger(value)
      ? `{"intValue":${value}}`
      : `{"doubleValue":${Number.isFinite(value) ? value : 'null'}}`;
  if (typeof value === 'boolean') return value ? '{"boolValue":true}' : '{"boolValue":false}';
  if (Array.isArray(value)) {
    let json = '{"arrayValue":{"values":[';
    for (let index = 0; index < value.length; index += 1)
      json += (index === 0 ? '' : ',') + anyValueJson(value[index]);
    return `${json}]}}`;
  }
  if (typeof value !== 'object' || value === null) return '{}';
  if (value instanceof Uint8Array) return `{"bytesValue":"${Buffer.from(value).toString('base64')}"}`;
  let json = '{"kvlistValue":{"values":[';
  let first = true;
  for (const key of Object.keys(value)) {
    json += `${first ? '' : ','}{"key":${quote(key)},"value":${anyValueJson((value as Record<string, unknown>)[key])}}`;
    first = false;
  }
  return `${json}]}}`;
}

/**
 * Nanoseconds since the epoch as a decimal string, from the SDK's [seconds, nanoseconds]
 * (both truncated, as the transformer does; the number itself is past 2^53, hence the digits
 * are joined rather than added).
 */
function nanos(time: HrTime): string {
  const seconds = Math.trunc(time[0]);
  const fraction = Math.trunc(time[1]);
  const digits = `${fraction}`;
  if (seconds === 0) return digits;
  return digits.length === 9
    ? `${seconds}${digits}`
    : `${seconds}${'000000000'.slice(digits.length)}${digits}`;
}

/** Span and attribute names, a small set that every trace repeats, as JSON literals. */
const names = new Map<string, string>();
const namesCached = 1_024;

function quoteName(name: string): string {
  let literal = names.get(name);
  if (literal === undefined) {
    literal = quote(name);
    if (names.size < namesCached) names.set(name, literal);
  }
  return literal;
}

/** What `JSON.stringify` escapes: '"', '\\', control characters, and surrogates (paired or not). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes.
const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A JSON string literal, as `JSON.stringify` writes it. Most strings here (span and attribute
 * names, models, providers) need no escape: they are tested by one regular expression and
 * quoted, which costs less than the call into V8's serialiser. (A surrogate pair would not need
 * an escape either; it is rare enough to leave to `JSON.stringify`.)
 */
function quote(text: string): string {
  return needsEscape.test(text) ? JSON.stringify(text) : `"${text}"`;
}
