/**
 * The user a class's command tasks run as (`classes.NAME.policy.command.runAs`), resolved once at
 * pool start from /etc/passwd (Node has no getpwnam). A pool running as root hands each command
 * task to this user; a pool that is not root can only run them as itself.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ConfigError } from '../src/config/config.js';

export interface RunAsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function passwd(file: string): PasswdEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

/** Resolves `spec` (a user name, uid or uid:gid); ConfigError naming `key` when there is no such user. */
export function resolveRunAs(spec: string, key: string, passwdFile = '/etc/passwd'): RunAsUser {
  const entries = passwd(passwdFile);
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (numeric) {
    const uid = Number(numeric[1]);
    const known = entries.find((e) => e.uid === uid);
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (known?.gid ?? uid);
    return { name: known?.name ?? String(uid), uid, gid, home: known?.home ?? '/' };
  }
  const e = entries.find((x) => x.name === spec);
  if (!e) throw new ConfigError(`config key ${key}: no user "${spec}" on this host (${passwdFile})`);
  return { name: e.name, uid: e.uid, gid: e.gid, home: e.home };
}

/** The pool process's own uid; -1 where the platform has none. */
export function poolUid(): number {
  return process.getuid?.() ?? -1;
}

/** Whether a pool running as `uid` can start processes as `user`. */
export function canRunAs(user: RunAsUser, uid = poolUid()): boolean {
  return uid === 0 || uid === user.uid;
}

/** The pool's own user name, for messages. */
export function poolUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(poolUid());
  }
}
