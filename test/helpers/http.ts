/** HTTP assertions shared by the operator-surface suites. */
import { spawnSync } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';

export async function getText(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'orq_pools') or with labels '{class="x"}'. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * promtool (Debian's `prometheus` package), or undefined when it is missing on a laptop. Under
 * CI=true a missing promtool fails the suite: .ci/run installs it, and a check that silently
 * does not run is no check.
 */
export function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.error === undefined && found.status === 0) return 'promtool';
  if (process.env.CI === 'true') throw new Error('promtool is not installed (Debian package "prometheus"); CI must have it');
  process.stderr.write('promtool not found: skipping the promtool checks (apt-get install prometheus)\n');
  return undefined;
}

/** Runs promtool; returns its combined output and exit status. */
export function runPromtool(bin: string, args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync(bin, args, { input, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with node:http rather than fetch, which will not let a caller set Origin or Host. */
export function sendRaw(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
