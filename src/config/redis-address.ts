/**
 * Where a process's Redis is, read from its URL. One host is a single Redis (as always); several
 * hosts, comma-separated, are the seed nodes of a Redis Cluster:
 *
 *   redis://[user:password@]host:port[/db]
 *   redis[s]://[user:password@]host1:port1,host2:port2,...      (a cluster; no /db: a cluster has one)
 *
 * Seeds only need to reach the cluster: the client learns every node from them (CLUSTER SLOTS)
 * and follows failovers and resharding by itself. The credentials and the scheme apply to every
 * node. A URL is parsed here and nowhere else, so the forms accepted and the errors for the rest
 * are one list.
 */

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export interface RedisAddress {
  /** rediss:// */
  tls: boolean;
  username?: string;
  password?: string;
  /** The database of a single Redis (0 unless the URL names one). */
  db: number;
  nodes: RedisNodeAddress[];
  /** Several hosts: the seeds of a Redis Cluster. */
  cluster: boolean;
}

export class RedisAddressError extends Error {}

const DEFAULT_PORT = 6379;

function node(text: string, url: string): RedisNodeAddress {
  // [v6 address]:port, host:port, or host alone.
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new RedisAddressError(`"${text}" in ${redactAddress(url)} is not host:port`);
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (port < 1 || port > 65_535) throw new RedisAddressError(`port ${m[2]} in ${redactAddress(url)} is out of range`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseRedisAddress(url: string): RedisAddress {
  // A query (ioredis's options, e.g. ?family=6) is left to ioredis for one host.
  const m = /^(rediss?):\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/(\d*))?\/?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new RedisAddressError(`${redactAddress(url)} is not a redis:// or rediss:// URL (redis://[user:password@]host:port[,host:port...][/db])`);
  const [, scheme, auth, hosts, db, query] = m;
  const nodes = hosts!.split(',').map((h) => node(h.trim(), url));
  const cluster = nodes.length > 1;
  if (cluster && db) throw new RedisAddressError(`${redactAddress(url)}: a Redis Cluster has only database 0; leave out /${db}`);
  if (cluster && query) throw new RedisAddressError(`${redactAddress(url)}: options in the query are not read for a Redis Cluster; leave out ${query}`);
  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined && auth !== '') {
    const colon = auth.indexOf(':');
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new RedisAddressError(`the credentials in ${redactAddress(url)} are not URL-encoded`);
      }
    };
    if (colon < 0) username = dec(auth);
    else {
      username = dec(auth.slice(0, colon)) || undefined;
      password = dec(auth.slice(colon + 1));
    }
  }
  return { tls: scheme!.toLowerCase() === 'rediss', username, password, db: db ? Number(db) : 0, nodes, cluster };
}

/** Whether `url` names the seeds of a Redis Cluster (several hosts). */
export function isClusterUrl(url: string): boolean {
  try {
    return parseRedisAddress(url).cluster;
  } catch {
    return false;
  }
}

/** `url` with any password replaced by `***`, for messages and logs (one host or several). */
export function redactAddress(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/i, (_, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return colon < 0 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

/**
 * The seed URLs of `redis.cluster` as one URL of this module's form (credentials from the first):
 * always a cluster, one seed included.
 */
export function clusterUrl(seeds: readonly string[]): string {
  if (seeds.length === 0) return '';
  const parsed = seeds.map(parseRedisAddress);
  const first = parsed[0]!;
  for (const [i, p] of parsed.entries()) {
    if (p.tls !== first.tls) throw new RedisAddressError(`redis.cluster[${i}]: every seed must use the same scheme (${first.tls ? 'rediss' : 'redis'}://)`);
  }
  const head = /^(rediss?:\/\/(?:[^@/]*@)?)/i.exec(seeds[0]!.trim())![1]!;
  const hosts = [...new Set(parsed.flatMap((p) => p.nodes).map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)))];
  // A URL names a cluster by naming several hosts; a cluster given by one seed names it twice
  // (the client connects to it once and learns the rest from it).
  if (hosts.length === 1) hosts.push(hosts[0]!);
  return `${head}${hosts.join(',')}`;
}
