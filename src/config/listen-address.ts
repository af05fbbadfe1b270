/**
 * Listen addresses as config gives them ("host:port", "[v6]:port"): the config loader checks
 * them (an open listener must be on loopback unless the operator says otherwise), and every
 * listener reads them the same way.
 */
/** Host and port of "host:port" or "[v6]:port". */
export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`not a host:port address: "${addr}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Whether a host name or address is the loopback interface. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
