// The workflow run page: draws the run's DAG as SVG, one box per step coloured by its state,
// and polls the run's JSON (api/runs/<run_id>) every second until the run ends. Plain browser
// JavaScript, served as a static file: nothing is built at run time. Text from the run goes in
// through textContent only, never as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const BOX = { w: 180, h: 52, dx: 240, dy: 74, pad: 24 };
const POLL_MS = 1000;

const runId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop());

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Column of each step: the longest chain of dependencies before it. */
function levels(steps) {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const level = new Map();
  const visit = (id) => {
    if (level.has(id)) return level.get(id);
    level.set(id, 0);
    const deps = byId.get(id)?.dependsOn ?? [];
    const l = deps.length ? 1 + Math.max(...deps.map(visit)) : 0;
    level.set(id, l);
    return l;
  };
  steps.forEach((s) => visit(s.stepId));
  return level;
}

function drawDag(svg, steps) {
  const level = levels(steps);
  const rows = new Map();
  const pos = new Map();
  for (const s of steps) {
    const l = level.get(s.stepId);
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    pos.set(s.stepId, { x: BOX.pad + l * BOX.dx, y: BOX.pad + row * BOX.dy });
  }
  const width = BOX.pad * 2 + (Math.max(0, ...rows.keys()) * BOX.dx + BOX.w);
  const height = BOX.pad * 2 + Math.max(1, ...rows.values()) * BOX.dy - (BOX.dy - BOX.h);
  svg.replaceChildren();
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  for (const s of steps) {
    const to = pos.get(s.stepId);
    for (const d of s.dependsOn) {
      const from = pos.get(d);
      if (!from) continue;
      const x1 = from.x + BOX.w;
      const y1 = from.y + BOX.h / 2;
      const x2 = to.x;
      const y2 = to.y + BOX.h / 2;
      const mid = (x1 + x2) / 2;
      svg.append(el('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'data-from': d, 'data-to': s.stepId }));
    }
  }
  for (const s of steps) {
    const { x, y } = pos.get(s.stepId);
    const g = el('g', { class: 'step', 'data-step-id': s.stepId, 'data-state': s.state, transform: `translate(${x},${y})` });
    g.append(el('rect', { width: BOX.w, height: BOX.h }));
    g.append(el('text', { x: 10, y: 20, 'font-weight': 'bold' }, s.stepId));
    g.append(el('text', { x: 10, y: 38 }, `${s.state}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}`));
    g.append(el('title', {}, `${s.stepId}: ${s.state}\ntask ${s.taskId}${s.error ? `\n${s.error}` : ''}`));
    svg.append(g);
  }
}

/** How long the step's latest attempt took (running: so far); '' when it never ran. */
function took(s) {
  const end = s.finishedAtMs || (s.state === 'running' ? Date.now() : 0);
  if (!s.startedAtMs || !end || end < s.startedAtMs) return '';
  const sec = (end - s.startedAtMs) / 1000;
  return sec < 60 ? `${sec.toFixed(1)} s` : sec < 3600 ? `${(sec / 60).toFixed(1)} min` : `${(sec / 3600).toFixed(1)} h`;
}

const RESULT_CHARS = 200;

function link(text, href, cls) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (cls) a.className = cls;
  return a;
}

function drawTable(tbody, steps) {
  tbody.replaceChildren(
    ...steps.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.stepId = s.stepId;
      tr.dataset.state = s.state;
      const outcome = s.error || s.resultJson;
      const cells = [
        s.stepId,
        s.state,
        s.taskClass,
        String(s.attempt),
        s.dependsOn.join(', '),
        s.startedAtMs ? new Date(s.startedAtMs).toLocaleTimeString() : '',
        took(s),
        outcome.length > RESULT_CHARS ? `${outcome.slice(0, RESULT_CHARS)}…` : outcome,
      ];
      cells.forEach((v, i) => {
        const td = document.createElement('td');
        td.textContent = v;
        if (i === 6) td.className = 'took';
        if (i === 7) td.className = s.error ? 'outcome error' : 'outcome';
        tr.append(td);
      });
      // The step's task: its page, and its job in Bull Board (only once it has a task).
      const links = document.createElement('td');
      if (s.state !== 'pending' && s.state !== 'skipped') {
        links.append(
          link('task', `../tasks/${encodeURIComponent(s.taskId)}`, 'task-link'),
          ' · ',
          link('job', `../queues/queue/${encodeURIComponent(s.taskClass)}/${encodeURIComponent(s.taskId)}`, 'job-link'),
        );
      }
      tr.append(links);
      return tr;
    }),
  );
}

function render(run) {
  document.title = `Workflow run ${run.runId}: ${run.state}`;
  document.getElementById('run-id').textContent = run.runId;
  document.getElementById('run-name').textContent = `${run.name} v${run.version}`;
  const state = document.getElementById('run-state');
  state.textContent = run.state;
  state.dataset.state = run.state;
  document.getElementById('run-error').textContent = run.stopReason || '';
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  drawDag(document.getElementById('dag'), run.steps);
  drawTable(document.querySelector('#steps tbody'), run.steps);
}

async function poll() {
  let done = false;
  try {
    const res = await fetch(`api/runs/${encodeURIComponent(runId)}`, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) {
      document.getElementById('run-error').textContent = body.error || `HTTP ${res.status}`;
      done = res.status === 404 || res.status === 400;
    } else {
      render(body);
      done = FINAL.has(body.state);
    }
  } catch (err) {
    document.getElementById('run-error').textContent = `cannot reach the orchestrator: ${err.message}`;
  }
  if (!done) setTimeout(poll, POLL_MS);
}

poll();
