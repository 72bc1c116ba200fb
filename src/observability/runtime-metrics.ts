/**
 * Node.js/V8 runtime series under OpenTelemetry semantic-convention names (contract decision
 * in section 3 "Process runtime"): event loop delay and utilization, heap by space, GC pauses,
 * resident memory, CPU time, uptime, and `gateway_build_info`. Sampled when /metrics is
 * scraped, so they cost nothing between scrapes (GC pauses are observed as they happen).
 */
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { runtimeMetricCatalog as catalog } from './catalog.ts';

const gcKinds: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

export interface RuntimeMetrics {
  stop(): void;
}

export function registerRuntimeMetrics(registry: Registry, version: string): RuntimeMetrics {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let utilization = performance.eventLoopUtilization();
  const nanosToSeconds = (value: number) => (Number.isFinite(value) ? value / 1e9 : 0);

  const gauge = (
    definition: (typeof catalog)[keyof typeof catalog],
    collect: (metric: Gauge<string>) => void,
    labelNames: string[] = [],
  ) =>
    new Gauge({
      name: definition.name,
      help: definition.description,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });

  gauge(catalog.eventLoopDelayP50, (metric) => metric.set(nanosToSeconds(delay.percentile(50))));
  gauge(catalog.eventLoopDelayP90, (metric) => metric.set(nanosToSeconds(delay.percentile(90))));
  gauge(catalog.eventLoopDelayP99, (metric) => metric.set(nanosToSeconds(delay.percentile(99))));
  gauge(catalog.eventLoopDelayMax, (metric) => {
    metric.set(nanosToSeconds(delay.max));
    // Each scrape reports the window since the previous one.
    delay.reset();
  });
  gauge(catalog.eventLoopUtilization, (metric) => {
    const now = performance.eventLoopUtilization();
    metric.set(performance.eventLoopUtilization(now, utilization).utilization);
    utilization = now;
  });
  gauge(
    catalog.heapUsed,
    (metric) => {
      for (const space of getHeapSpaceStatistics())
        metric.set({ v8js_heap_space_name: space.space_name }, space.space_used_size);
    },
    ['v8js_heap_space_name'],
  );
  gauge(
    catalog.heapLimit,
    (metric) => {
      for (const space of getHeapSpaceStatistics())
        metric.set({ v8js_heap_space_name: space.space_name }, space.space_size);
    },
    ['v8js_heap_space_name'],
  );
  gauge(catalog.uptime, (metric) => metric.set(process.uptime()));
  gauge(catalog.residentMemory, (metric) => metric.set(process.memoryUsage.rss()));
  new Counter({
    name: catalog.cpuTime.name,
    help: catalog.cpuTime.description,
    registers: [registry],
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });
  new Gauge({
    name: catalog.buildInfo.name,
    help: catalog.buildInfo.description,
    labelNames: ['version'],
    registers: [registry],
  }).set({ version }, 1);

  const gcDuration = new Histogram({
    name: catalog.gcDuration.name,
    help: catalog.gcDuration.description,
    labelNames: ['v8js_gc_type'],
    buckets: [...catalog.gcDuration.buckets],
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
      gcDuration.observe({ v8js_gc_type: gcKinds[kind] ?? 'other' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  return {
    stop() {
      delay.disable();
      observer.disconnect();
    },
  };
}
