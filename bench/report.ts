/**
 * The bench's figures: each printed as it is measured, then as one table, and written as JSON
 * (bench/results/latest.json) with the same numbers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Row {
  /** Scenario id, as --only takes it. */
  id: string;
  scenario: string;
  unit: string;
  ours: number;
  /** Null where plain BullMQ has no counterpart. */
  baseline: number | null;
  /** ours / baseline. */
  ratio: number | null;
  /** Latency rows: ours - baseline, in ms. */
  differenceMs?: number;
  note?: string;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

function fmt(x: number, unit: string): string {
  const digits = unit === 'ms' ? 2 : unit === 'MiB' ? 1 : x >= 100 ? 0 : 2;
  return `${x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${unit}`;
}

export class Report {
  readonly rows: Row[] = [];
  /** Supporting figures (CPU per task per process, memory breakdown, ...). */
  readonly extra: Record<string, number> = {};

  add(row: Omit<Row, 'ratio' | 'differenceMs'> & { latency?: boolean }): void {
    const { latency, ...r } = row;
    const out: Row = {
      ...r,
      ours: round(r.ours, 3),
      baseline: r.baseline === null ? null : round(r.baseline, 3),
      ratio: r.baseline ? round(r.ours / r.baseline, 3) : null,
    };
    if (latency && r.baseline !== null) out.differenceMs = round(r.ours - r.baseline, 3);
    this.rows.push(out);
    console.log(
      `  ${out.scenario}: ours ${fmt(out.ours, out.unit)}, baseline ${out.baseline === null ? '-' : fmt(out.baseline, out.unit)}, ${this.comparison(out)}`,
    );
  }

  note(key: string, value: number): void {
    this.extra[key] = round(value, 3);
  }

  private comparison(r: Row): string {
    if (r.differenceMs !== undefined) return `${r.differenceMs >= 0 ? '+' : ''}${r.differenceMs.toFixed(2)} ms`;
    return r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
  }

  table(): string {
    const head = ['scenario', 'ours', 'baseline (BullMQ unless named)', 'ours/baseline (latency: ours-baseline)'];
    const body = this.rows.map((r) => [r.scenario, fmt(r.ours, r.unit), r.baseline === null ? '-' : fmt(r.baseline, r.unit), this.comparison(r)]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
    return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
  }

  write(file: string, meta: Record<string, unknown>): void {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({ ...meta, rows: this.rows, extra: this.extra }, null, 2)}\n`);
  }
}
