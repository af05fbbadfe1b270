/**
 * The GPUs a pool hands to tasks: the configured list (`pool.gpus`, env ORCHESTRATOR_POOL_GPUS)
 * when set, else what `nvidia-smi` reports. Config wins so that a pool can be given a subset of
 * a machine's GPUs (two pools sharing a machine), or none.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../src/logging/logger.js';

const run = promisify(execFile);

/** How long nvidia-smi may take; a wedged driver can make it hang. */
const NVIDIA_SMI_TIMEOUT_MS = 15_000;

export interface GpuDevicesOptions {
  /** The configured list; undefined means detect. */
  configured: readonly string[] | undefined;
  logger: Logger;
  /** @default "nvidia-smi" (through PATH) */
  nvidiaSmiPath?: string;
}

/** The device ids (indexes, as CUDA_VISIBLE_DEVICES takes them) this pool may hand out. */
export async function gpuDevices(opts: GpuDevicesOptions): Promise<string[]> {
  if (opts.configured !== undefined) return [...new Set(opts.configured)];
  const cmd = opts.nvidiaSmiPath ?? 'nvidia-smi';
  try {
    const { stdout } = await run(cmd, ['--query-gpu=index,uuid', '--format=csv,noheader'], { timeout: NVIDIA_SMI_TIMEOUT_MS });
    return parseNvidiaSmi(stdout);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No nvidia-smi at all is the usual case on a machine without GPUs: not worth a warning.
    if (code === 'ENOENT') opts.logger.debug('nvidia-smi not found: no GPUs detected');
    else opts.logger.warn({ err }, 'nvidia-smi failed: no GPUs detected');
    return [];
  }
}

/** `index, uuid` lines as nvidia-smi prints them (csv,noheader) -> the indexes. */
export function parseNvidiaSmi(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.split(',')[0]!.trim())
    .filter((index) => /^\d+$/.test(index));
}
