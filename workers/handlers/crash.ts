/** Kills the process running it: shows a sandboxed handler cannot take its pool down. */
import type { Handler } from './handler.js';

const crash: Handler = () => {
  process.exit(70);
};
export default crash;
