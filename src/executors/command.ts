/** The command executor: a subprocess, named in the pools' config or raw (workers/executors/command.ts runs it). */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import { normaliseAbsolutePath } from './executor-policy.js';
import type { ExecutorModule } from './executor-module.js';
import type { CommandExecutorSpec } from './executor-spec.js';
import { checkArgv, checkEnv, checkNamed, mapEnv, sortedRecord, type ExecutorCheckContext } from './spec-checks.js';

function checkCommand(field: string, e: CommandExecutorSpec, c: ExecutorCheckContext): CommandExecutorSpec {
  const f = `${field}.command`;
  const { cls } = c;
  const p = cls.policy.command;
  const rule = `classes.${cls.name}.policy.command`;
  const name = e.name ?? '';
  const args = e.args ?? {};
  checkEnv(`${f}.env`, e.env);
  if (name !== '') {
    if (e.argv.length > 0 || e.cwd !== '') throw invalidArgument(f, 'give either name (with args) or argv (with cwd), not both');
    checkNamed(f, name, args, c.payload, c.policy.commands, p.names, `${rule}.names`, 'executors.command.commands');
    return { kind: 'command', name, args: sortedRecord(args), argv: [], env: { ...e.env }, cwd: '' };
  }
  if (Object.keys(args).length > 0) throw invalidArgument(`${f}.args`, 'goes with name');
  if (e.argv.length === 0 || !e.argv[0]) throw invalidArgument(`${f}.argv`, 'must name a program (or give name: a named command)');
  if (!p.raw)
    throw permissionDenied(`${f}.argv`, `raw command tasks are off for class ${cls.name} (${rule}.raw); name a command of executors.command.commands`);
  checkArgv(`${f}.argv`, e.argv);
  if (e.cwd !== '' && normaliseAbsolutePath(e.cwd) === undefined) throw invalidArgument(`${f}.cwd`, 'must be an absolute path without NUL');
  return { kind: 'command', argv: [...e.argv], env: { ...e.env }, cwd: e.cwd };
}

export const commandExecutor = {
  kind: 'command',
  check: checkCommand,
  fromPb: (v) => ({ kind: 'command', argv: v.argv, env: v.env, cwd: v.cwd, name: v.name, args: v.args }),
  toPb: (e) => ({ argv: e.argv, env: e.env, cwd: e.cwd, name: e.name ?? '', args: e.args ?? {} }),
  mapTemplated: (e, fn) => ({
    ...e,
    argv: e.argv.map((a, i) => fn(`executor.command.argv[${i}]`, a)),
    env: mapEnv('executor.command.env', e.env, fn),
    ...(e.args ? { args: mapEnv('executor.command.args', e.args, fn) } : {}),
  }),
} as const satisfies ExecutorModule<'command'>;
