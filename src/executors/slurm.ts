/** The slurm executor: a batch job submitted to Slurm and tracked to its end (workers/executors/slurm.ts runs it). */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import type { ExecutorModule } from './executor-module.js';
import type { SlurmExecutorSpec } from './executor-spec.js';
import { checkArgv, checkEnv, checkInt, checkNamed, listed, mapEnv, sortedRecord, type ExecutorCheckContext } from './spec-checks.js';

/** A Slurm partition or account name. */
export const SLURM_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Slurm's gres syntax: name[:type]:count, comma-separated. */
const SLURM_GRES_RE = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+){0,2}(,[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+){0,2})*$/;
const MAX_SLURM_SCRIPT_BYTES = 1 << 20;

function checkSlurm(field: string, e: SlurmExecutorSpec, c: ExecutorCheckContext): SlurmExecutorSpec {
  const f = `${field}.slurm`;
  const { cls } = c;
  const p = cls.policy.slurm;
  const rule = `classes.${cls.name}.policy.slurm`;
  const name = e.name ?? '';
  if ([name !== '', e.script !== '', e.command.length > 0].filter(Boolean).length !== 1)
    throw invalidArgument(f, 'needs exactly one of name, script and command');
  const args = e.args ?? {};
  if (name !== '') {
    checkNamed(`${f}`, name, args, c.payload, c.policy.slurmScripts, p.names, `${rule}.names`, 'executors.slurm.scripts');
  } else {
    if (Object.keys(args).length > 0) throw invalidArgument(`${f}.args`, 'goes with name');
    if (!p.raw)
      throw permissionDenied(
        `${f}.${e.script !== '' ? 'script' : 'command'}`,
        `raw Slurm scripts and commands are off for class ${cls.name} (${rule}.raw); name a script of executors.slurm.scripts`,
      );
  }
  if (e.script !== '') {
    if (!e.script.startsWith('#!')) throw invalidArgument(`${f}.script`, 'must start with "#!" (e.g. "#!/bin/sh")');
    if (e.script.includes('\0')) throw invalidArgument(`${f}.script`, 'must not contain NUL');
    if (Buffer.byteLength(e.script) > MAX_SLURM_SCRIPT_BYTES) throw invalidArgument(`${f}.script`, `is over ${MAX_SLURM_SCRIPT_BYTES} bytes`);
  }
  if (e.command.length > 0 && !e.command[0]) throw invalidArgument(`${f}.command`, 'must name a program');
  checkArgv(`${f}.command`, e.command);
  if (e.partition !== '' && !SLURM_NAME_RE.test(e.partition)) throw invalidArgument(`${f}.partition`, `"${e.partition.slice(0, 100)}" is not a partition name`);
  if (e.partition !== '' && !p.partitions.includes(e.partition))
    throw permissionDenied(`${f}.partition`, `class ${cls.name} may not use partition "${e.partition}" (${rule}.partitions: ${listed(p.partitions)})`);
  const account = e.account ?? '';
  if (account !== '' && !SLURM_NAME_RE.test(account)) throw invalidArgument(`${f}.account`, `"${account.slice(0, 100)}" is not an account name`);
  if (account !== '' && !p.accounts.includes(account))
    throw permissionDenied(`${f}.account`, `class ${cls.name} may not use account "${account}" (${rule}.accounts: ${listed(p.accounts)})`);
  if (e.gres !== '' && !SLURM_GRES_RE.test(e.gres)) throw invalidArgument(`${f}.gres`, `"${e.gres.slice(0, 100)}" is not a gres list (e.g. "gpu:1")`);
  checkInt(`${f}.cpus`, e.cpus, 0, 100_000);
  checkInt(`${f}.memory_mb`, e.memoryMb, 0, Number.MAX_SAFE_INTEGER);
  checkInt(`${f}.time_limit_minutes`, e.timeLimitMinutes, 0, 1_000_000);
  checkEnv(`${f}.env`, e.env);
  return {
    kind: 'slurm',
    // Only when set, so digests of raw tasks submitted before named scripts existed stay what they were.
    ...(name !== '' ? { name, args: sortedRecord(args) } : {}),
    ...(account !== '' ? { account } : {}),
    script: e.script,
    command: [...e.command],
    partition: e.partition,
    gres: e.gres,
    cpus: e.cpus,
    memoryMb: e.memoryMb,
    timeLimitMinutes: e.timeLimitMinutes,
    env: sortedRecord(e.env),
  };
}

export const slurmExecutor = {
  kind: 'slurm',
  check: checkSlurm,
  fromPb: (v) => ({ kind: 'slurm', ...v }),
  toPb: ({ kind: _kind, ...value }) => ({ ...value, name: value.name ?? '', args: value.args ?? {}, account: value.account ?? '' }),
  mapTemplated: (e, fn) => ({
    ...e,
    script: fn('executor.slurm.script', e.script),
    command: e.command.map((a, i) => fn(`executor.slurm.command[${i}]`, a)),
    env: mapEnv('executor.slurm.env', e.env, fn),
    ...(e.args ? { args: mapEnv('executor.slurm.args', e.args, fn) } : {}),
  }),
} as const satisfies ExecutorModule<'slurm'>;
