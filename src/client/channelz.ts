/**
 * Channel and server option turning grpc-js's channelz bookkeeping off. grpc-js keeps channelz
 * counters and timestamps for every call (a tracker of closures per server call, dates on each
 * message) whether or not anyone serves the channelz service, and Orchestrator serves none: its
 * calls are counted by its own metrics (orq_grpc_server_*). Off, a unary call costs client and
 * server about 4% less CPU here (bench/grpc-baseline.ts gives the bare server the same option;
 * the task runner's server sets it itself, its package loading nothing of the client's).
 */
export const CHANNELZ_OFF = { 'grpc.enable_channelz': 0 } as const;
