/**
 * Named commands: argv templates an operator defines in config (executors.command.commands,
 * executors.slurm.scripts), which a task names with values for their placeholders. This is how
 * a caller runs a program on a pool without being able to choose the program or its options.
 *
 * Template syntax, element by element:
 *   ["convert", "{input}", "-resize", "{size}", "--out={output}"]
 * - `{name}` is replaced by the value of `name`; the value always stays inside its element (no
 *   shell is involved, and a value is never split), so `; rm -rf /`, `$(id)` or a space is just
 *   text in one argument.
 * - A value that fills the start of an element must not start with "-": it would be read as an
 *   option. `{name:any}` allows that where the template means it (e.g. a negative number);
 *   after a literal prefix (`--out={output}`) the value cannot become an option anyway.
 * - Values never contain NUL, CR or LF. `{{` and `}}` are literal braces.
 * - The program (argv[0]) is always literal.
 */
import { invalidArgument } from '../errors/errors.js';

export interface CommandTemplateOptions {
  /** Program and argument templates; argv[0] is literal. */
  argv: readonly string[];
  /** Environment the command always gets (on top of the clean base). @default {} */
  env?: Readonly<Record<string, string>>;
  /** Working directory; '' for the pool's ("/" under runAs). @default "" */
  cwd?: string;
}

type Part = string | { name: string; any: boolean };

export interface CommandTemplate {
  readonly argv: readonly (readonly Part[])[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Every placeholder name the template uses. */
  readonly names: ReadonlySet<string>;
}

const PLACEHOLDER_RE = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(:any)?\}|[{}]/g;
const BAD_VALUE_RE = /[\0\r\n]/;

/** Parses one template; throws an Error saying what is wrong (the config loader names the key). */
export function parseCommandTemplate(opts: CommandTemplateOptions): CommandTemplate {
  if (opts.argv.length === 0 || !opts.argv[0]) throw new Error('argv must name a program');
  const names = new Set<string>();
  const argv = opts.argv.map((element, i) => {
    if (element.includes('\0')) throw new Error(`argv[${i}] contains NUL`);
    const parts: Part[] = [];
    let literal = '';
    let at = 0;
    for (const m of element.matchAll(PLACEHOLDER_RE)) {
      literal += element.slice(at, m.index);
      at = m.index + m[0].length;
      if (m[0] === '{{' || m[0] === '}}') literal += m[0][0];
      else if (m[1] === undefined) throw new Error(`argv[${i}] "${element}": a lone "${m[0]}" (write {{ or }} for a literal brace, {name} for a value)`);
      else {
        if (i === 0) throw new Error('argv[0], the program, cannot hold a placeholder');
        if (literal) parts.push(literal);
        literal = '';
        parts.push({ name: m[1], any: m[2] !== undefined });
        names.add(m[1]);
      }
    }
    literal += element.slice(at);
    if (literal || parts.length === 0) parts.push(literal);
    return parts;
  });
  return { argv, env: { ...(opts.env ?? {}) }, cwd: opts.cwd ?? '', names };
}

/**
 * The argv of a named command, its placeholders filled from `args`, then from `payload`.
 * Throws invalid_argument naming `${field}.args.<name>` for a missing or unsafe value, and
 * `${field}.args` for an argument the template does not have.
 */
export function fillCommandTemplate(
  template: CommandTemplate,
  args: Readonly<Record<string, string>>,
  payload: Readonly<Record<string, string>>,
  field: string,
  commandName: string,
): string[] {
  for (const k of Object.keys(args)) {
    if (!template.names.has(k))
      throw invalidArgument(
        `${field}.args`,
        `"${k.slice(0, 100)}" is not an argument of "${commandName}" (it has: ${[...template.names].join(', ') || 'none'})`,
      );
  }
  return template.argv.map((parts) => {
    let out = '';
    for (const [j, p] of parts.entries()) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const value = Object.hasOwn(args, p.name) ? args[p.name] : Object.hasOwn(payload, p.name) ? payload[p.name] : undefined;
      if (value === undefined) throw invalidArgument(`${field}.args.${p.name}`, `is required by "${commandName}" (in args or the payload)`);
      if (BAD_VALUE_RE.test(value)) throw invalidArgument(`${field}.args.${p.name}`, 'must not contain NUL, CR or LF');
      if (j === 0 && !p.any && value.startsWith('-'))
        throw invalidArgument(`${field}.args.${p.name}`, `must not start with "-" (it would be read as an option of "${commandName}")`);
      out += value;
    }
    return out;
  });
}
