/**
 * Token roles without servers: every RPC of both services has exactly one entry in the method
 * table, and the README's table says the same; tokens in config and in tokens files need a
 * role, and a bad line is refused naming the file and line, never echoing a token.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_MANAGER_ROLES, GRPC_ROLES, roleCovers } from '../../src/auth/roles.js';
import { readTokensFile } from '../../src/auth/token-set.js';
import { ConfigError, loadConfig, type ConfigInput } from '../../src/config/config.js';
import { EnvManagerServiceService } from '../../src/gen/envmanager/v1/envmanager.js';
import { OrchestratorServiceService } from '../../src/gen/orchestrator/v1/orchestrator.js';
import { ENV_MANAGER_METHOD_ROLES, ENV_MANAGER_PATH_ROLES, ORCHESTRATOR_METHOD_ROLES, ORCHESTRATOR_PATH_ROLES } from '../../src/grpc/method-roles.js';
import { PROJECT_ROOT } from '../../src/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'orq-roles-'));
let fileSeq = 0;
function file(text: string): string {
  const f = join(dir, `tokens-${fileSeq++}`);
  writeFileSync(f, text);
  return f;
}

const TOKEN = 'secret-token-0123456789';

/** Method names as the proto spells them, from the generated service definitions. */
const protoNames = (definition: Record<string, { path: string }>) => Object.values(definition).map((m) => m.path.slice(m.path.lastIndexOf('/') + 1));

describe('the method table', () => {
  it('gives every RPC of both services exactly one minimum role', () => {
    for (const [definition, table, paths, ladder] of [
      [OrchestratorServiceService, ORCHESTRATOR_METHOD_ROLES, ORCHESTRATOR_PATH_ROLES, GRPC_ROLES],
      [EnvManagerServiceService, ENV_MANAGER_METHOD_ROLES, ENV_MANAGER_PATH_ROLES, ENV_MANAGER_ROLES],
    ] as const) {
      expect(Object.keys(table).sort()).toEqual(Object.keys(definition).sort());
      for (const m of Object.values(definition) as { path: string }[]) expect(ladder).toContain(paths.get(m.path));
    }
    expect(Object.keys(OrchestratorServiceService)).toHaveLength(32);
  });

  it('is the table in the README, row for row', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    // Rows like "| `SubmitTask` | submit |" in the "Roles" tables.
    const rows = new Map([...readme.matchAll(/^\s*\| `(\w+)`\s+\| (read|submit|operate|admin|control)\s+\|/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [definition, table] of [
      [OrchestratorServiceService, ORCHESTRATOR_METHOD_ROLES],
      [EnvManagerServiceService, ENV_MANAGER_METHOD_ROLES],
    ] as const) {
      for (const [method, role] of Object.entries(table)) {
        const name = (definition as Record<string, { path: string }>)[method]!.path.split('/').pop()!;
        // Health is in both services with the same role.
        expect(rows.get(name), `README row for ${name}`).toBe(role);
      }
    }
    // And no row names a method that does not exist.
    const known = new Set([...protoNames(OrchestratorServiceService), ...protoNames(EnvManagerServiceService)]);
    expect([...rows.keys()].filter((n) => !known.has(n))).toEqual([]);
  });

  it('orders the roles: each holds the rights of those below it', () => {
    expect(roleCovers(GRPC_ROLES, 'admin', 'read')).toBe(true);
    expect(roleCovers(GRPC_ROLES, 'operate', 'submit')).toBe(true);
    expect(roleCovers(GRPC_ROLES, 'submit', 'operate')).toBe(false);
    expect(roleCovers(GRPC_ROLES, 'read', 'submit')).toBe(false);
    expect(roleCovers(ENV_MANAGER_ROLES, 'read', 'control')).toBe(false);
    expect(roleCovers(GRPC_ROLES, 'nobody', 'read')).toBe(false);
  });
});

describe('tokens in config', () => {
  const load = (grpc: ConfigInput['grpc'], envManager?: ConfigInput['envManager']) => loadConfig({ env: {}, overrides: { grpc, envManager } });

  it('takes {token, role[, classes]} tables', () => {
    const c = load({ auth: { tokens: [{ token: TOKEN, role: 'submit', classes: ['cpu_short'] }] } });
    expect(c.grpc.auth.tokens).toEqual([{ token: TOKEN, role: 'submit', classes: ['cpu_short'] }]);
    const toml = join(dir, 'roles.toml');
    writeFileSync(toml, `[[grpc.auth.tokens]]\ntoken = "${TOKEN}"\nrole = "operate"\n[[envManager.auth.tokens]]\ntoken = "${TOKEN}x"\nrole = "control"\n`);
    const f = loadConfig({ file: toml, env: {} });
    expect(f.grpc.auth.tokens[0]!.role).toBe('operate');
    expect(f.envManager.auth.tokens[0]!.role).toBe('control');
  });

  it('refuses a plain string (the form before roles), naming the key, without echoing the token', () => {
    const err = (() => {
      try {
        load({ auth: { tokens: [TOKEN] } } as unknown as ConfigInput['grpc']);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/config key grpc\.auth\.tokens\.0: a token needs a role/);
    expect(err.message).not.toContain(TOKEN);
  });

  it('refuses a missing or unknown role, classes on the env-manager, and unknown classes', () => {
    expect(() => load({ auth: { tokens: [{ token: TOKEN } as never] } })).toThrow(/config key grpc\.auth\.tokens\.0\.role/);
    expect(() => load({ auth: { tokens: [{ token: TOKEN, role: 'root' as never }] } })).toThrow(/config key grpc\.auth\.tokens\.0\.role/);
    expect(() => load({}, { auth: { tokens: [{ token: TOKEN, role: 'submit' as never }] } })).toThrow(/config key envManager\.auth\.tokens\.0\.role/);
    expect(() => load({}, { auth: { tokens: [{ token: TOKEN, role: 'read', classes: ['cpu_short'] } as never] } })).toThrow(
      /config key envManager\.auth\.tokens\.0\.classes/,
    );
    expect(() => load({ auth: { tokens: [{ token: TOKEN, role: 'read', classes: ['no_such_class'] }] } })).toThrow(
      /config key grpc\.auth\.tokens\.0\.classes: unknown task class "no_such_class"/,
    );
    expect(() => load({ auth: { tokens: [{ token: TOKEN, role: 'read', classes: [] }] } })).toThrow(/grpc\.auth\.tokens\.0\.classes/);
  });
});

describe('tokens files', () => {
  const grpcFile = { roles: GRPC_ROLES, classes: true };

  it('reads "<token> <role> [classes=a,b]" lines, skipping comments and blank lines', () => {
    const f = file(`# ci\n\n${TOKEN} read\r\n  ${TOKEN}b   submit classes=cpu_short,gpu  \n# end\n`);
    expect(readTokensFile(f, grpcFile)).toEqual([
      { token: TOKEN, role: 'read' },
      { token: `${TOKEN}b`, role: 'submit', classes: ['cpu_short', 'gpu'] },
    ]);
  });

  it('refuses a line without a role, naming the file and line, never the token', () => {
    const f = file(`# operators\n${TOKEN} admin\n\n${TOKEN}c\n`);
    const e = (() => {
      try {
        readTokensFile(f, grpcFile);
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected an error');
    })();
    expect(e.message).toBe(`tokens file ${f} line 4: no role: expected "<token> <role>", the role one of read, submit, operate, admin`);
    expect(e.message).not.toContain(TOKEN);
  });

  it('refuses unknown roles, short tokens, stray fields, bad classes, and classes for the env-manager', () => {
    expect(() => readTokensFile(file(`${TOKEN} root\n`), grpcFile)).toThrow(/line 1: role "root" is not one of read, submit, operate, admin/);
    expect(() => readTokensFile(file(`short admin\n`), grpcFile)).toThrow(/line 1: a token is at least 16 characters/);
    expect(() => readTokensFile(file(`\n${TOKEN} admin extra\n`), grpcFile)).toThrow(/line 2: unexpected "extra"/);
    expect(() => readTokensFile(file(`${TOKEN} admin classes=\n`), grpcFile)).toThrow(/line 1: classes= takes task class names/);
    expect(() => readTokensFile(file(`${TOKEN} admin classes=Bad-Name\n`), grpcFile)).toThrow(
      /line 1: classes= takes task class names separated by commas, not "Bad-Name"/,
    );
    expect(() => readTokensFile(file(`${TOKEN} admin classes=a classes=b\n`), grpcFile)).toThrow(/line 1: unexpected "classes=b"/);
    expect(() => readTokensFile(file(`${TOKEN} control classes=a\n`), { roles: ENV_MANAGER_ROLES, classes: false })).toThrow(/line 1: unexpected "classes=a"/);
    expect(() => readTokensFile(file(`${TOKEN} submit\n`), { roles: ENV_MANAGER_ROLES, classes: false })).toThrow(/role "submit" is not one of read, control/);
    expect(() => readTokensFile(join(dir, 'missing'), grpcFile)).toThrow(/tokens file .*missing: ENOENT/);
  });
});
