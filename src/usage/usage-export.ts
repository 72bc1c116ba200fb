/**
 * Exports of usage records as CSV (RFC 4180, CRLF line ends, a header row) or JSON Lines (one
 * record per line, the detail shape of the read API). Records are read page by page in time
 * order and written through a backpressure-aware sink, so an export of millions of records
 * holds one page in memory. Progress is reported as records written and the share of the time
 * range covered, which needs no up-front count.
 */
import type { Queryable } from '../storage/database.ts';
import { iterateRecords, type UsageFilter } from './usage-query.ts';
import { csvHeader, toCsvLine, toJsonLine } from './usage-view.ts';

export const exportFormats = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof exportFormats)[number];

export const exportContentTypes: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

export interface ExportProgress {
  readonly records: number;
  /** Request time of the last record written. */
  readonly reached: Date | undefined;
  /** Share of the [from, to) range covered so far, 0 to 1. */
  readonly fraction: number;
}

export async function exportRecords(
  database: Queryable,
  filter: UsageFilter,
  format: ExportFormat,
  /** Writes a chunk of text; resolves when the destination can take more. */
  write: (chunk: string) => Promise<void>,
  onProgress?: (progress: ExportProgress) => void,
  pageSize = 1_000,
): Promise<number> {
  let records = 0;
  if (format === 'csv') await write(csvHeader());
  const span = filter.to.getTime() - filter.from.getTime();
  for await (const page of iterateRecords(database, filter, pageSize)) {
    await write(page.map(format === 'csv' ? toCsvLine : toJsonLine).join(''));
    records += page.length;
    const reached = page.at(-1)!.requested_at;
    onProgress?.({
      records,
      reached,
      fraction: Math.min(1, Math.max(0, (reached.getTime() - filter.from.getTime()) / span)),
    });
  }
  onProgress?.({ records, reached: undefined, fraction: 1 });
  return records;
}
