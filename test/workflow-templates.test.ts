/** References in workflow steps: parsing, resolution and the errors that name what failed. */
import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate, TemplateError, templateRefs, type TemplateContext } from '../src/workflows/templates.js';
import type { TaskSubmission } from '../src/tasks/task-spec.js';
import { mapTemplatedStrings, templatedStrings } from '../src/workflows/workflow-definition.js';

const ctx: TemplateContext = {
  runId: 'r1',
  inputs: { x: '7', empty: '' },
  stepResult: (id) => (id === 'a' ? { value: { s: 'text', n: 3, list: [{ k: 'v' }], nested: { ok: true } } } : undefined),
};

describe('templates', () => {
  it('resolves inputs, the run id and upstream results, strings as they are and the rest as JSON', () => {
    expect(renderTemplate('x=${inputs.x} run=${run_id}', ctx)).toBe('x=7 run=r1');
    expect(renderTemplate('${steps.a.result.s}|${steps.a.result.n}|${steps.a.result.list.0.k}', ctx)).toBe('text|3|v');
    expect(renderTemplate('${steps.a.result.nested}', ctx)).toBe('{"ok":true}');
    expect(renderTemplate('${inputs.empty}', ctx)).toBe('');
  });

  it('keeps strings without references, and $${ as a literal', () => {
    expect(renderTemplate('plain $ text {}', ctx)).toBe('plain $ text {}');
    expect(renderTemplate('$${inputs.x} is ${inputs.x}', ctx)).toBe('${inputs.x} is 7');
  });

  it('lists references for validation', () => {
    expect(templateRefs('${inputs.x}-${steps.b.result.a.b}-${run_id}')).toEqual([
      { kind: 'input', name: 'x' },
      { kind: 'step', stepId: 'b', path: ['a', 'b'] },
      { kind: 'run_id' },
    ]);
    expect(parseTemplate('no refs')).toEqual(['no refs']);
  });

  it.each([
    ['${inputs.x', /unterminated/],
    ['${env.HOME}', /not a reference/],
    ['${steps.a}', /not a reference/],
    ['${inputs}', /not a reference/],
  ])('rejects the syntax of %s', (text, message) => {
    expect(() => parseTemplate(text)).toThrow(message);
  });

  it.each([
    ['${inputs.nope}', /\$\{inputs\.nope\}: the run has no input "nope"/],
    ['${steps.a.result.missing}', /the result has no "missing"/],
    ['${steps.a.result.list.5}', /the result has no "5"/],
    ['${steps.z.result}', /step "z" has no result/],
  ])('fails %s at run time with an error naming it', (text, message) => {
    expect(() => renderTemplate(text, ctx)).toThrow(TemplateError);
    expect(() => renderTemplate(text, ctx)).toThrow(message);
  });
});

describe('templated strings of a step', () => {
  it('include a slurm step’s script, command and env', () => {
    const task: TaskSubmission = {
      taskClass: 'gpu_slurm',
      payload: { p: '${inputs.x}' },
      executor: {
        kind: 'slurm',
        script: '#!/bin/sh\ntrain ${inputs.x}\n',
        command: [],
        partition: '',
        gres: 'gpu:1',
        cpus: 0,
        memoryMb: 0,
        timeLimitMinutes: 0,
        env: { RUN: '${run_id}' },
      },
    };
    expect(templatedStrings(task, 'steps[0].task')).toEqual([
      ['steps[0].task.payload.p', '${inputs.x}'],
      ['steps[0].task.executor.slurm.script', '#!/bin/sh\ntrain ${inputs.x}\n'],
      ['steps[0].task.executor.slurm.env.RUN', '${run_id}'],
    ]);
    const rendered = mapTemplatedStrings(task, (_f, v) => renderTemplate(v, ctx));
    expect(rendered.executor).toMatchObject({ script: '#!/bin/sh\ntrain 7\n', env: { RUN: 'r1' }, gres: 'gpu:1' });
  });
});
