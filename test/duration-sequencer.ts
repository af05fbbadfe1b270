/**
 * Runs the longest suites first. With three workers on two cores, the order files start in
 * decides how long the run takes: vitest's own order on a fresh clone (no results cache, as in
 * CI) is by file size, so a 100 s suite could start last and run alone at the end. Longest
 * first (by test/suite-durations.json, the per-file times of a CI run) keeps the workers busy
 * to the end. Files not in the table keep vitest's order, after the known ones (new suites are
 * usually short). Refresh the table from a CI log's per-file lines when suites change much:
 * it only orders, so a stale table costs time, never a result.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const durations = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'suite-durations.json'), 'utf8')) as Record<string, number>;

export class DurationSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const known = (f: TestSpecification) => durations[relative(f.project.config.root, f.moduleId)];
    const index = new Map(base.map((f, i) => [f, i]));
    return [...base].sort((a, b) => {
      const da = known(a);
      const db = known(b);
      if (da !== undefined && db !== undefined) return db - da;
      if (da !== undefined) return -1;
      if (db !== undefined) return 1;
      return index.get(a)! - index.get(b)!;
    });
  }
}
