/**
 * The folders import each other one way only (README "Layout"): no folder of the code base
 * reaches, through any chain of imports, a folder that imports it back. A folder is
 * `src/<name>/` (with everything under it) or a top-level folder (`workers/`, `queues/`,
 * `dashboard/`); each file directly in `src/` (the composition roots, `version.ts`, `paths.ts`)
 * is a node of its own. Type-only imports count: they tie the folders' models together as much.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CODE = ['src', 'workers', 'queues', 'dashboard'];
/** Generated code and the package entry points (which re-export every folder) are not layers. */
const SKIP = new Set(['src/gen', 'src/entry', 'src/index.ts']);

function tsFiles(dir: string): string[] {
  if (SKIP.has(dir)) return [];
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = `${dir}/${e.name}`;
    if (SKIP.has(p)) return [];
    if (e.isDirectory()) return tsFiles(p);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The layer a file belongs to. */
function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] !== 'src') return parts[0]!;
  return parts.length > 2 ? `src/${parts[1]}` : file;
}

/** Layer -> layers it imports, with one example file pair per edge. */
function layerGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  const spec = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const file of CODE.flatMap(tsFiles)) {
    const from = layerOf(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(spec)) {
      const target = relative(ROOT, normalize(join(ROOT, dirname(file), m[1]!))).replace(/\.js$/, '.ts');
      if (SKIP.has(target) || target.startsWith('src/gen/')) continue;
      const to = layerOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${file} -> ${target}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every cycle's layers (Tarjan's strongly connected components of more than one layer). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('import graph', () => {
  const graph = layerGraph();

  it('sees the layers it is meant to check', () => {
    expect(graph.get('src/tasks')?.has('src/errors')).toBe(true);
    expect(graph.get('workers')?.has('src/store')).toBe(true);
  });

  it('has no loop between folders', () => {
    const found = cycles(graph).map((scc) =>
      scc.flatMap((a) => scc.filter((b) => graph.get(a)?.has(b)).map((b) => `${a} -> ${b} (${graph.get(a)!.get(b)})`)).join('\n'),
    );
    expect(found).toEqual([]);
  });

  it('keeps the kernels at the ground: errors and config import no folder that uses them', () => {
    expect([...(graph.get('src/errors')?.keys() ?? [])]).toEqual([]);
    const usesConfig = [...graph].filter(([, to]) => to.has('src/config')).map(([from]) => from);
    for (const to of graph.get('src/config')?.keys() ?? []) expect(usesConfig).not.toContain(to);
  });

  it('finds a loop when there is one', () => {
    const g = new Map([
      ['a', new Map([['b', 'x']])],
      ['b', new Map([['c', 'y']])],
      ['c', new Map([['a', 'z']])],
    ]);
    expect(cycles(g)).toEqual([['a', 'b', 'c']]);
  });
});
