// The workflow runs list: the filters and page live in the page's own query string (so a view
// can be linked), are passed on to /admin/api/workflow-runs, and the runs drawn with a link to
// each run's page. Every value goes in through textContent; ids go into links URI-encoded.
'use strict';

const query = new URLSearchParams(location.search);

function td(text, cls) {
  const cell = document.createElement('td');
  cell.textContent = text;
  if (cls) cell.className = cls;
  return cell;
}

function took(r) {
  const end = r.finishedAtMs || (r.state === 'running' ? Date.now() : 0);
  if (!r.startedAtMs || !end) return '';
  const s = (end - r.startedAtMs) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
}

function row(r) {
  const tr = document.createElement('tr');
  tr.dataset.runId = r.runId;
  tr.dataset.state = r.state;
  const link = document.createElement('a');
  link.href = `workflows/${encodeURIComponent(r.runId)}`;
  link.textContent = r.runId;
  const first = document.createElement('td');
  first.className = 'mono';
  first.append(link);
  tr.append(
    first,
    td(`${r.workflowName} v${r.version}`),
    td(r.state, 'state'),
    td(`${r.steps - r.openSteps}/${r.steps}`),
    td(r.startedAtMs ? new Date(r.startedAtMs).toLocaleString() : ''),
    td(took(r)),
    td(r.stopReason),
  );
  return tr;
}

/** datetime-local value <-> ms since the epoch (the query carries ms). */
const toLocal = (ms) => (ms ? new Date(Number(ms) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '');
const fromLocal = (v) => (v ? String(new Date(v).getTime()) : '');

function fillForm() {
  document.getElementById('f-workflow').value = query.get('workflow') || '';
  document.getElementById('f-state').value = query.get('state') || '';
  document.getElementById('f-since').value = toLocal(query.get('since'));
  document.getElementById('f-until').value = toLocal(query.get('until'));
}

document.getElementById('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = new URLSearchParams();
  const workflow = document.getElementById('f-workflow').value.trim();
  const state = document.getElementById('f-state').value;
  const since = fromLocal(document.getElementById('f-since').value);
  const until = fromLocal(document.getElementById('f-until').value);
  if (workflow) q.set('workflow', workflow);
  if (state) q.set('state', state);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  location.search = q.toString();
});

async function load() {
  const api = new URLSearchParams();
  for (const k of ['workflow', 'state', 'since', 'until', 'pageToken']) if (query.get(k)) api.set(k, query.get(k));
  api.set('pageSize', '25');
  try {
    const res = await fetch(`api/workflow-runs?${api}`, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    document.querySelector('#runs tbody').replaceChildren(...body.runs.map(row));
    if (body.runs.length === 0) document.getElementById('error').textContent = body.nextPageToken ? 'none on this page: look at older ones' : 'no runs match';
    const next = document.getElementById('next');
    if (body.nextPageToken) {
      const q = new URLSearchParams(query);
      q.set('pageToken', body.nextPageToken);
      next.href = `workflows?${q}`;
      next.hidden = false;
    }
    if (query.get('pageToken')) {
      const q = new URLSearchParams(query);
      q.delete('pageToken');
      const first = document.getElementById('first');
      first.href = `workflows${q.toString() ? `?${q}` : ''}`;
      first.hidden = false;
    }
  } catch (err) {
    document.getElementById('error').textContent = `cannot list the runs: ${err.message}`;
  }
}

fillForm();
load();
