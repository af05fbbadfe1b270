/**
 * The bare grpc-js server of grpc-baseline.ts (our generated codecs, every call answered at once)
 * in a process of its own, for the latency scenario's transport row: a unary call paced from
 * the bench's process, as our front end in its own process is called.
 *
 *   node dist/bench/bare-grpc-process.js
 *
 * Sends {ready: true, port} once it serves; SIGTERM stops it; it exits when the bench that
 * forked it goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled, as in our front end's process
import { serveBareGrpc } from './grpc-baseline.js';

const server = await serveBareGrpc('ts-proto');
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
process.on('disconnect', () => process.exit(1));
process.send?.({ ready: true, port: server.port });
