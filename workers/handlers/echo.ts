/** Returns the payload unchanged. */
import type { Handler } from './handler.js';

const echo: Handler = (payload) => payload;
export default echo;
