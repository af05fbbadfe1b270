/**
 * References inside a workflow step's strings (payload values, command argv and env), resolved
 * when the step is released to run:
 *
 *   ${inputs.NAME}                 the run input NAME
 *   ${run_id}                      the run's id
 *   ${steps.STEP.result}           STEP's whole result (JSON text unless it is a string)
 *   ${steps.STEP.result.a.0.b}     a field of it; a number indexes an array
 *   $${                            a literal "${"
 *
 * A string value is inserted as it is; anything else as JSON. STEP must be upstream of the step
 * (checked when the workflow is created); a missing input or path fails the step at run time.
 */
export type TemplateRef = { kind: 'input'; name: string } | { kind: 'run_id' } | { kind: 'step'; stepId: string; path: string[] };

export type TemplatePart = string | { ref: TemplateRef; text: string };

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const SEGMENT_RE = /^[A-Za-z0-9_-]+$/;

function parseRef(text: string): TemplateRef {
  const parts = text.split('.');
  if (parts.length === 1 && parts[0] === 'run_id') return { kind: 'run_id' };
  if (parts[0] === 'inputs' && parts.length === 2 && parts[1]) return { kind: 'input', name: parts[1] };
  if (parts[0] === 'steps' && parts.length >= 3 && parts[2] === 'result' && parts[1]) {
    const path = parts.slice(3);
    if (path.every((p) => SEGMENT_RE.test(p))) return { kind: 'step', stepId: parts[1], path };
  }
  throw new TemplateError(`"\${${text}}" is not a reference (use \${inputs.NAME}, \${run_id} or \${steps.STEP.result[.PATH]})`);
}

/** Splits a string into literal text and references. Throws TemplateError on bad syntax. */
export function parseTemplate(s: string): TemplatePart[] {
  const out: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      literal += '${';
      i += 3;
    } else if (s.startsWith('${', i)) {
      const end = s.indexOf('}', i + 2);
      if (end < 0) throw new TemplateError(`unterminated "\${" at character ${i + 1}`);
      if (literal) out.push(literal);
      literal = '';
      const text = s.slice(i + 2, end).trim();
      out.push({ ref: parseRef(text), text });
      i = end + 1;
    } else {
      literal += s[i];
      i += 1;
    }
  }
  if (literal) out.push(literal);
  return out;
}

/** Whether a string needs resolving at all (the common case is no). */
export function hasTemplate(s: string): boolean {
  return s.includes('${');
}

/** Every reference in a string (for validation). */
export function templateRefs(s: string): TemplateRef[] {
  if (!hasTemplate(s)) return [];
  return parseTemplate(s).flatMap((p) => (typeof p === 'string' ? [] : [p.ref]));
}

export interface TemplateContext {
  runId: string;
  inputs: Readonly<Record<string, string>>;
  /** A succeeded upstream step's result (parsed JSON), or undefined when it has none. */
  stepResult(stepId: string): { value: unknown } | undefined;
}

function walk(value: unknown, path: string[], where: string): unknown {
  let v = value;
  for (const seg of path) {
    if (Array.isArray(v) && /^\d+$/.test(seg) && Number(seg) < v.length) v = v[Number(seg)];
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, seg)) v = (v as Record<string, unknown>)[seg];
    else throw new TemplateError(`${where}: the result has no "${seg}"`);
  }
  return v;
}

function resolveRef(part: { ref: TemplateRef; text: string }, ctx: TemplateContext): string {
  const where = `\${${part.text}}`;
  const { ref } = part;
  if (ref.kind === 'run_id') return ctx.runId;
  if (ref.kind === 'input') {
    if (!Object.hasOwn(ctx.inputs, ref.name)) throw new TemplateError(`${where}: the run has no input "${ref.name}"`);
    return ctx.inputs[ref.name]!;
  }
  const res = ctx.stepResult(ref.stepId);
  if (!res) throw new TemplateError(`${where}: step "${ref.stepId}" has no result`);
  const v = walk(res.value, ref.path, where);
  return typeof v === 'string' ? v : JSON.stringify(v ?? null);
}

/** Resolves every reference in `s`. Throws TemplateError naming the reference that failed. */
export function renderTemplate(s: string, ctx: TemplateContext): string {
  if (!hasTemplate(s)) return s;
  return parseTemplate(s)
    .map((p) => (typeof p === 'string' ? p : resolveRef(p, ctx)))
    .join('');
}
