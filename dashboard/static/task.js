// The task page: one task's state, facts, error (with its failure: exit code, output tail) or
// result, its logs by attempt, what it runs and its events, from /admin/api/tasks/<task_id> and
// .../logs, polled until the task ends. Admins get Cancel (queued, delayed or
// running) and Retry (failed) buttons, which POST to the same API; the server decides who may
// (a read_only user gets 403 whatever this page shows). A button asks for a second click to
// confirm instead of a dialog, so nothing blocks the page. Text from the server goes in through
// textContent only, never as HTML.
'use strict';

const POLL_MS = 2000;
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const taskId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop());
const api = `/admin/api/tasks/${encodeURIComponent(taskId)}`;
let polling = false;

const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '—');

function fact(list, name, value, href) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.dataset.fact = name;
  if (href) {
    const a = document.createElement('a');
    a.href = href;
    a.textContent = value;
    dd.appendChild(a);
  } else {
    dd.textContent = value;
  }
  list.append(dt, dd);
}

function pretty(json) {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

function render(t) {
  document.title = `Task ${t.taskId} · ${t.state}`;
  document.getElementById('task-id').textContent = t.taskId;
  const state = document.getElementById('task-state');
  state.textContent = t.state;
  state.dataset.state = t.state;
  document.getElementById('bull-board-link').href = t.links.bullBoard;

  const facts = document.getElementById('facts');
  facts.replaceChildren();
  fact(facts, 'class', t.taskClass, `/admin/queues/queue/${encodeURIComponent(t.taskClass)}`);
  fact(facts, 'attempts', `${t.attemptsMade} of ${t.maxAttempts}`);
  fact(facts, 'priority', String(t.priority));
  fact(facts, 'worker', t.workerId || '—');
  fact(facts, 'submitted', time(t.submittedAtMs));
  fact(facts, 'started', time(t.startedAtMs));
  fact(facts, 'finished', time(t.finishedAtMs));
  if (t.startedAtMs && t.finishedAtMs) fact(facts, 'ran for', `${((t.finishedAtMs - t.startedAtMs) / 1000).toFixed(1)} s`);
  if (t.workflowId) fact(facts, 'workflow run', t.workflowId, `/admin/workflows/${encodeURIComponent(t.workflowId)}`);
  if (t.scheduleId) fact(facts, 'schedule', t.scheduleId);
  if (t.progressJson) fact(facts, 'progress', t.progressJson);

  document.getElementById('error-section').hidden = !t.error;
  document.getElementById('task-error').textContent = t.error;
  // The task's own failure: kind, exit code, signal, whether a retry could help, output tail.
  const f = t.failure;
  const failureFacts = f
    ? [f.kind, f.exitCode !== undefined ? `exit code ${f.exitCode}` : '', f.signal ? `signal ${f.signal}` : '', f.retryable ? 'retryable' : 'not retryable']
    : [];
  document.getElementById('failure-facts').textContent = failureFacts.filter(Boolean).join(', ');
  const tail = document.getElementById('failure-tail');
  tail.hidden = !f?.outputTail;
  tail.textContent = f?.outputTail ?? '';
  const result = t.resultJson ? pretty(t.resultJson) : t.undeliverable;
  document.getElementById('result-section').hidden = !result;
  document.getElementById('task-result').textContent = result;
  document.getElementById('task-spec').textContent = t.spec
    ? JSON.stringify(t.spec, null, 2)
    : t.specOmitted
      ? `not shown: ${t.specOmitted}`
      : 'no longer retained';

  document.querySelector('#events tbody').replaceChildren(
    ...t.events.map((e) => {
      const tr = document.createElement('tr');
      tr.dataset.type = e.type;
      for (const v of [time(e.atMs), e.type, e.attempt, e.workerId ?? '', e.detail ?? e.undeliverable ?? '']) {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      }
      return tr;
    }),
  );
  document.getElementById('events-note').textContent = t.eventsIncomplete
    ? 'More events than one look reads: the newest may be missing (the events stream holds them).'
    : t.events.length === 0
      ? 'No events retained for this task (the events stream is trimmed to its configured length).'
      : '';

  const { cancel, retry } = t.actions;
  document.getElementById('cancel').hidden = !cancel;
  document.getElementById('retry').hidden = !retry;
  document.getElementById('actions').hidden = !(cancel || retry);
  document.body.dataset.loaded = 'true';
  return t.state;
}

/** The attempt the logs panel shows: 0 follows the latest one. */
let logsAttempt = 0;

function renderLogs(l) {
  const panel = document.getElementById('logs-panel');
  panel.hidden = l.attempts.length === 0;
  const select = document.getElementById('logs-attempt');
  select.replaceChildren(
    ...[0, ...l.attempts].map((a) => {
      const o = document.createElement('option');
      o.value = String(a);
      o.textContent = a === 0 ? `latest (${l.attempt})` : String(a);
      o.selected = a === logsAttempt;
      return o;
    }),
  );
  document.getElementById('task-logs').textContent = l.lines.map((x) => `${time(x.atMs)}  ${x.stream.padEnd(6)}  ${x.text}`).join('\n');
  document.getElementById('logs-note').textContent = l.truncated ? 'some lines were dropped (the attempt printed more than the bounds keep)' : '';
}

async function refreshLogs() {
  const res = await fetch(`${api}/logs?attempt=${logsAttempt}`, { headers: { accept: 'application/json' } });
  if (res.ok) renderLogs(await res.json());
}

document.getElementById('logs-attempt').addEventListener('change', (e) => {
  logsAttempt = Number(e.target.value);
  refreshLogs();
});

async function refresh() {
  const error = document.getElementById('load-error');
  try {
    const res = await fetch(api, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    error.textContent = '';
    const state = render(body);
    await refreshLogs();
    if (FINAL.has(state)) return true;
  } catch (err) {
    error.textContent = `could not load the task: ${err.message}`;
  }
  return false;
}

/** Polls until the task ends; one loop at a time (an action restarts it when it has stopped). */
async function poll() {
  if (polling) return;
  polling = true;
  while (!(await refresh())) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  polling = false;
}

async function act(action) {
  const out = document.getElementById('action-result');
  out.textContent = `${action}…`;
  try {
    const res = await fetch(`${api}/${action}`, { method: 'POST', headers: { accept: 'application/json' } });
    const body = await res.json();
    out.textContent = res.ok ? `${action}: now ${body.state}` : `${action} refused: ${body.error ?? `HTTP ${res.status}`}`;
  } catch (err) {
    out.textContent = `${action} failed: ${err.message}`;
  }
  await refresh();
  poll();
}

/** The first click arms the button ("confirm ..."), a second one within CONFIRM_MS acts. */
const CONFIRM_MS = 5000;
function confirmable(button, action, label, confirmLabel) {
  button.textContent = label;
  button.addEventListener('click', () => {
    if (button.dataset.armed !== 'true') {
      button.dataset.armed = 'true';
      button.textContent = confirmLabel;
      setTimeout(() => {
        button.dataset.armed = 'false';
        button.textContent = label;
      }, CONFIRM_MS);
      return;
    }
    button.dataset.armed = 'false';
    button.textContent = label;
    act(action);
  });
}

confirmable(document.getElementById('cancel'), 'cancel', 'Cancel task', 'Confirm cancel (a running task is stopped)');
confirmable(document.getElementById('retry'), 'retry', 'Retry task', 'Confirm retry');
poll();
