/** Burns CPU without yielding for payload.ms (default 60000): a handler that ignores cancel. */
import type { Handler } from './handler.js';

const spin: Handler = (payload) => {
  const until = Date.now() + Number(payload.ms ?? 60_000);
  let n = 0;
  while (Date.now() < until) n++;
  return { iterations: n };
};
export default spin;
