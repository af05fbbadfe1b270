// The landing page: system health, per-class counts (polled from /admin/api/overview) and the
// search box (/admin/api/search), which opens the task page or the workflow run page it finds.
// Plain browser JavaScript served as a static file; text from the server goes in through
// textContent only, never as HTML.
'use strict';

const POLL_MS = 5000;

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = String(text);
  row.appendChild(td);
  return td;
}

function renderHealth(h, pools, activeRuns) {
  const badge = document.getElementById('health-status');
  badge.textContent = h.status;
  badge.dataset.state = h.status;
  const up = Math.round(h.uptimeMs / 1000);
  document.getElementById('health-summary').textContent =
    `version ${h.version} · up ${up} s · ${pools} pool(s) seen recently · ${activeRuns} workflow run(s) active`;
  const list = document.getElementById('health-components');
  list.replaceChildren(
    ...h.components.map((c) => {
      const li = document.createElement('li');
      li.dataset.state = c.status;
      const name = document.createElement('strong');
      name.textContent = c.name;
      li.append(name, ` ${c.status}: ${c.detail}`);
      return li;
    }),
  );
}

function renderClasses(classes) {
  const body = document.querySelector('#classes tbody');
  body.replaceChildren(
    ...classes.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.class = c.name;
      const name = cell(tr, '');
      const a = document.createElement('a');
      a.href = `/admin/queues/queue/${encodeURIComponent(c.name)}`;
      a.textContent = c.name;
      name.appendChild(a);
      for (const k of ['queued', 'running', 'delayed', 'succeeded', 'failed', 'cancelled']) cell(tr, c[k]).dataset.count = k;
      cell(tr, `${c.retained.completed} completed, ${c.retained.failed} failed or cancelled`);
      return tr;
    }),
  );
}

async function refresh() {
  const error = document.getElementById('load-error');
  try {
    const res = await fetch('/admin/api/overview', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`overview: HTTP ${res.status}`);
    const o = await res.json();
    renderHealth(o.health, o.pools, o.activeRuns);
    renderClasses(o.classes);
    document.body.dataset.loaded = 'true';
    error.textContent = '';
  } catch (err) {
    error.textContent = `could not load the overview: ${err.message}`;
  }
}

document.getElementById('search').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = document.getElementById('search-q').value.trim();
  const out = document.getElementById('search-result');
  out.textContent = 'searching…';
  try {
    const res = await fetch(`/admin/api/search?q=${encodeURIComponent(q)}`, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (res.ok && typeof body.url === 'string' && body.url.startsWith('/admin/')) {
      location.assign(body.url);
      return;
    }
    out.textContent = body.error ?? `HTTP ${res.status}`;
  } catch (err) {
    out.textContent = `search failed: ${err.message}`;
  }
});

async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}

poll();
