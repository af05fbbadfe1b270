// The pools page: polls /admin/api/pools every 2 s and draws the table; an admin gets a Drain
// button per live pool, confirmed in a panel before the POST. Every value from the server goes
// in through textContent, never as HTML: pool ids, hosts and classes come from Redis.
'use strict';

const POLL_MS = 2000;
let pending = null;
let loadFailed = false;

function td(text, cls) {
  const cell = document.createElement('td');
  cell.textContent = text;
  if (cls) cell.className = cls;
  return cell;
}

function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

function ago(ms) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function row(p, canDrain) {
  const tr = document.createElement('tr');
  tr.dataset.poolId = p.poolId;
  tr.dataset.state = p.state;
  const slots = p.classes.reduce((n, c) => n + c.concurrency, 0);
  const state = p.state === 'draining' && p.exitWhenDrained ? 'draining (then exits)' : p.state;
  tr.append(
    td(p.poolId, 'mono'),
    td(state, 'state'),
    td(`${p.host} (pid ${p.pid})`),
    td(p.version),
    td(p.classes.map((c) => `${c.taskClass} ${c.busy}/${c.concurrency}`).join(', ')),
    td(`${p.busy}/${slots}`),
    td(time(p.startedAtMs)),
    td(p.state === 'stopped' ? `stopped ${ago(p.stoppedAtMs)}` : ago(p.lastHeartbeatMs)),
    td(p.metricsAddr, 'mono'),
  );
  const actions = document.createElement('td');
  if (canDrain && p.state === 'running') {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Drain…';
    b.className = 'drain';
    b.addEventListener('click', () => ask(p.poolId));
    actions.append(b);
  }
  // A drain without exit can be undone; a pool drained to exit may be leaving already.
  if (canDrain && p.state === 'draining' && !p.exitWhenDrained) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Resume';
    b.className = 'resume';
    b.addEventListener('click', () => post('resume', { poolId: p.poolId }));
    actions.append(b);
  }
  tr.append(actions);
  return tr;
}

function ask(poolId) {
  pending = poolId;
  document.getElementById('confirm-pool').textContent = poolId;
  document.getElementById('confirm-exit').checked = false;
  document.getElementById('confirm').hidden = false;
}

async function post(action, request) {
  try {
    const res = await fetch(`api/pools/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(request),
    });
    const body = await res.json();
    document.getElementById('error').textContent = res.ok ? '' : body.error || `HTTP ${res.status}`;
  } catch (err) {
    document.getElementById('error').textContent = `${action} failed: ${err.message}`;
  }
  await load();
}

async function drain() {
  const poolId = pending;
  const exitWhenDrained = document.getElementById('confirm-exit').checked;
  document.getElementById('confirm').hidden = true;
  pending = null;
  await post('drain', { poolId, exitWhenDrained });
}

async function load() {
  try {
    const res = await fetch('api/pools', { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    document.querySelector('#pools tbody').replaceChildren(...body.pools.map((p) => row(p, body.canDrain)));
    const live = body.pools.filter((p) => p.state === 'running' || p.state === 'draining');
    const busy = live.reduce((n, p) => n + p.busy, 0);
    const slots = live.reduce((n, p) => n + p.classes.reduce((m, c) => m + c.concurrency, 0), 0);
    document.getElementById('summary').textContent = `${live.length} live pool(s), ${busy} of ${slots} slots busy`;
    document.getElementById('updated').textContent = `updated ${new Date(body.atMs).toLocaleTimeString()}`;
    // A failed load's message goes once the pools can be read again; a refused action's stays.
    if (loadFailed) document.getElementById('error').textContent = '';
    loadFailed = false;
  } catch (err) {
    loadFailed = true;
    document.getElementById('error').textContent = `cannot read the pools: ${err.message}`;
  }
}

document.getElementById('confirm-yes').addEventListener('click', drain);
document.getElementById('confirm-no').addEventListener('click', () => {
  pending = null;
  document.getElementById('confirm').hidden = true;
});

async function poll() {
  await load();
  setTimeout(poll, POLL_MS);
}
poll();
