/**
 * V8 settings for Orchestrator's long-running processes (the orchestrator, pools, `npm start`).
 * Imported first by each entry point, so it runs before any other module is compiled.
 *
 * A smaller interrupt budget: V8 decides whether to optimise a function after running about
 * this many bytes of its bytecode. With the default (66 KB) a freshly started orchestrator runs
 * the gRPC and Redis client paths unoptimised for its first few thousand calls: at 500 tasks/s
 * the median submit-to-result time stays several times its steady value for 5-10 s after start.
 * A quarter of it brings that down to a second or two; steady-state speed is the same.
 * ORQ_V8_FLAGS adds or overrides flags (for example `--interrupt-budget=67584` for V8's default).
 */
import { setFlagsFromString } from 'node:v8';

const FLAGS = ['--interrupt-budget=16384', ...(process.env.ORQ_V8_FLAGS ?? '').split(/\s+/).filter(Boolean)];
for (const flag of FLAGS) setFlagsFromString(flag);
