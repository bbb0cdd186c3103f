// vlrface web UI: plain JavaScript, no framework, no build step. Talks to the REST API of
// `vlrface serve` (docs/API.md); the server draws boxes and names into the MJPEG stream, this
// page only adds click targets, the selected face's panels, settings, gallery and models.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};
const seg = (name) => encodeURIComponent(name);

// --- API ---------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { location.href = '/login'; throw new ApiError(401, 'token required'); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error || res.statusText);
  return data;
}

let toastTimer = 0;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// --- pages -------------------------------------------------------------------------------------
const pages = ['live', 'gallery', 'models'];
function showPage() {
  const page = pages.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'live';
  for (const p of pages) $('page-' + p).hidden = p !== page;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === page);
  }
  // The stream costs the server an encoder slot and a thread: only while it is seen.
  if (page === 'live') startStream(); else stopStream();
  if (page === 'gallery') loadPeople(true);
  if (page === 'models') loadModels();
}

// --- live view ---------------------------------------------------------------------------------
let snapshot = null;
let selected = null;       // track id
let lastSelected = null;   // the selected face as last seen (kept while it is out of view)
let streamRetry = 0;

function startStream() {
  const img = $('stream');
  if (img.dataset.on === '1') return;
  img.dataset.on = '1';
  img.src = '/api/stream?fps=15&t=' + Date.now();
}

function stopStream() {
  const img = $('stream');
  img.dataset.on = '0';
  img.removeAttribute('src');
}

$('stream').addEventListener('error', () => {
  // The server restarted or reloaded its models: reconnect, gently.
  if ($('stream').dataset.on !== '1') return;
  clearTimeout(streamRetry);
  streamRetry = setTimeout(() => { $('stream').dataset.on = '0'; startStream(); }, 2000);
});

function faceLabel(f) {
  if (f.status !== 'ok') return 'too small';
  return (f.name || 'unknown') + ' ' + f.similarity.toFixed(2);
}

function renderOverlay() {
  const overlay = $('overlay');
  const list = $('face-list');
  overlay.replaceChildren();
  list.replaceChildren();
  if (!snapshot || !snapshot.width) return;
  $('viewer').style.setProperty('--aspect', String(snapshot.width / snapshot.height));
  for (const f of snapshot.faces) {
    const b = f.box;
    const box = el('button', {
      class: 'facebox' + (f.track_id === selected ? ' selected' : ''),
      title: faceLabel(f),
      'aria-label': 'select ' + faceLabel(f),
    });
    box.style.left = (100 * b.x / snapshot.width) + '%';
    box.style.top = (100 * b.y / snapshot.height) + '%';
    box.style.width = (100 * b.width / snapshot.width) + '%';
    box.style.height = (100 * b.height / snapshot.height) + '%';
    box.addEventListener('click', () => select(f.track_id));
    overlay.append(box);
    const chip = el('li', {}, el('button', {
      class: 'chip ' + (f.status !== 'ok' ? 'small' : f.name ? 'known' : 'unknown') +
        (f.track_id === selected ? ' selected' : ''),
      text: '#' + f.track_id + ' ' + faceLabel(f),
    }));
    chip.firstChild.addEventListener('click', () => select(f.track_id));
    list.append(chip);
  }
  if (!snapshot.faces.length) list.append(el('li', { class: 'muted', text: 'no face in view' }));
}

function select(id) {
  selected = id;
  renderOverlay();
  renderSelected(true);
}

function refreshImage(img, url) {
  // Swap only once the new picture has loaded, so a face that just left keeps its last image.
  if (!url) return;
  const next = new Image();
  next.onload = () => { img.src = next.src; };
  next.src = url + (url.includes('?') ? '&' : '?') + 'f=' + (snapshot ? snapshot.frame_number : 0);
}

function overlap(a, b) {  // intersection over union of two boxes
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

function renderSelected(force) {
  let f = snapshot && snapshot.faces.find((x) => x.track_id === selected);
  if (selected === null) return;
  if (!f && snapshot && lastSelected) {
    // The tracker starts a new track where a face stops matching its track (someone else, or
    // the same person after a change of settings): the panel stays on the face at that place,
    // under its new number, rather than going blank.
    const next = snapshot.faces.find((x) => x.track_id > selected &&
      overlap(x.box, lastSelected.box) > 0.3);
    if (next) {
      selected = next.track_id;
      f = next;
      renderOverlay();
    }
  }
  $('sel-hint').hidden = true;
  if (!f) {
    $('sel-title').textContent = '#' + selected + ' (out of view)';
    return;
  }
  lastSelected = f;
  $('sel-title').textContent = '#' + f.track_id + ' ' + faceLabel(f);
  // What the face path measured and ran for this face: its size in the frame, and the
  // recovery (upscaler, student) or the base model for faces above the cut-off.
  const size = f.native_px ? f.native_px.toFixed(0) + ' px face' : '';
  $('low-res').textContent = snapshot.mode === 'native'
    ? size + (f.working_px ? ' (from ' + f.working_px + ' px)' : '')
    : snapshot.resolution + ' px (simulated)';
  $('up-name').textContent = f.recovery ? '112 px, ' + f.recovery +
    (f.threshold != null ? ', threshold ' + f.threshold.toFixed(2) : '') : '112 px';
  refreshImage($('img-low'), f.lowres_url);
  refreshImage($('img-up'), f.upscaled_url);
  // Four pictures (2 x 2) when there is a DSR picture for this face, else three in a row.
  $('fig-dsr').hidden = !f.enhanced_url;
  $('pics').classList.toggle('four', !!f.enhanced_url);
  if (f.enhanced_url) refreshImage($('img-dsr'), f.enhanced_url);
  else $('img-dsr').removeAttribute('src');
  const galleryName = f.name || (f.top[0] && f.top[0].name) || '';
  $('gal-name').textContent = galleryName ? galleryName + (f.name ? '' : ' (best guess)') : '—';
  if (f.gallery_url && (force || $('img-gal').dataset.url !== f.gallery_url)) {
    $('img-gal').onerror = () => { $('img-gal').removeAttribute('src'); };  // removed meanwhile
    $('img-gal').dataset.url = f.gallery_url;
    $('img-gal').src = f.gallery_url;
  } else if (!f.gallery_url) {
    $('img-gal').removeAttribute('src');
    $('img-gal').dataset.url = '';
  }
  const bars = $('top5');
  bars.replaceChildren();
  for (const c of f.top) {
    const pct = Math.max(0, Math.min(100, c.similarity * 100));
    const bar = el('span', { class: 'fill' + (c.name === f.name ? ' match' : '') });
    bar.style.width = pct + '%';
    bars.append(el('li', {}, el('span', { class: 'name', text: c.name }),
      el('span', { class: 'bar' }, bar), el('span', { class: 'val', text: c.similarity.toFixed(3) })));
  }
  if (!f.top.length) bars.append(el('li', { class: 'muted', text: 'gallery is empty' }));
}

async function pollSnapshot() {
  if (!$('page-live').hidden) {
    try {
      snapshot = await api('GET', '/api/snapshot');
      $('status').textContent = snapshot.source_state;
      $('status').className = 'status ' + (snapshot.source_state === 'running' ? 'ok' : 'warn');
      renderOverlay();
      renderSelected(false);
    } catch (e) {
      $('status').textContent = e.status === 503 ? 'waiting for the first frame' : 'offline';
      $('status').className = 'status warn';
    }
  }
  setTimeout(pollSnapshot, 300);
}

// --- metrics -----------------------------------------------------------------------------------
async function pollMetrics() {
  if (!$('page-live').hidden) {
    try {
      const m = await api('GET', '/api/metrics');
      const rows = [
        ['processed fps', m.fps.toFixed(1)],
        ['latency', m.latency_ms.toFixed(0) + ' ms' +
          (m.pipeline_depth > 1 ? ' (detection overlaps recognition)' : '')],
        ['frame', m.frame_number],
        ['RSS', m.rss_mb.toFixed(1) + ' MB (peak ' + m.rss_peak_mb.toFixed(1) + ')'],
        ['CPU', m.cpu_percent + ' %'],
        ['threads', m.threads],
        ['stream clients', m.clients.streams + ' / ' + m.clients.max_streams],
        ['source', m.source],
      ];
      $('metrics').replaceChildren(...rows.flatMap(([k, v]) =>
        [el('dt', { text: k }), el('dd', { text: String(v), title: String(v) })]));
      const st = m.stages_ms || {};
      const total = Math.max(1, st.total || 0);
      $('stages').replaceChildren(...['detect', 'align', 'degrade', 'upscale', 'embed']
        .filter((k) => k in st).map((k) => {
          const fill = el('span', { class: 'fill' });
          fill.style.width = (100 * st[k] / total) + '%';
          return el('div', { class: 'stage' }, el('span', { class: 'name', text: k }),
            el('span', { class: 'bar' }, fill), el('span', { class: 'val', text: st[k].toFixed(1) + ' ms' }));
        }));
    } catch (e) { /* the snapshot poll reports the connection */ }
  }
  setTimeout(pollMetrics, 1000);
}

// --- settings ----------------------------------------------------------------------------------
let settings = null;

function renderSettings(s) {
  settings = s;
  const form = $('settings-form');
  for (const r of form.querySelectorAll('input[name=resolution]')) r.checked = +r.value === s.resolution;
  for (const r of form.querySelectorAll('input[name=task]')) r.checked = r.value === s.task;
  $('mode').value = s.mode;
  $('upscaler').value = s.upscaler;
  $('adapter').value = s.adapter;
  $('threshold').value = s.threshold;
  // Which threshold this is: the calibrated one of the recovery and size in use (a 16 px face in
  // native mode), not the models table's, which is for full-size faces.
  $('thr-out').textContent = s.threshold_is_default
    ? s.threshold.toFixed(4) + ' (' + s.threshold_basis + ')'
    : s.threshold.toFixed(2) + ' (yours, for every face)';
  $('thr-note').textContent = (s.mode === 'native'
    ? 'Each face is judged with the threshold calibrated for its own size and recovery; shown: '
    : 'Calibrated for ') + s.threshold_basis + ', ' + s.default_threshold.toFixed(4) +
    '. The models table\'s ' + s.model_threshold.toFixed(4) + ' is for full-size faces (112 px, base).';
  $('verify-row').hidden = s.task !== 'verify';
  $('res-group').disabled = s.mode === 'native';
}

async function putSettings(change) {
  $('settings-msg').textContent = '';
  try {
    renderSettings(await api('PUT', '/api/settings', change));
  } catch (e) {
    $('settings-msg').textContent = e.message;
    renderSettings(settings);
  }
}

async function fillVerifyNames() {
  const data = await api('GET', '/api/people?limit=5000');
  const sel = $('verify-name');
  sel.replaceChildren(...data.people.map((p) => el('option', { value: p.name, text: p.name })));
  if (settings && settings.verify_name) sel.value = settings.verify_name;
}

function initSettings() {
  const form = $('settings-form');
  form.addEventListener('change', async (ev) => {
    const t = ev.target;
    if (t.name === 'resolution') await putSettings({ resolution: +t.value });
    else if (t.id === 'mode') await putSettings({ mode: t.value });
    else if (t.id === 'upscaler') await putSettings({ upscaler: t.value });
    else if (t.id === 'adapter') await putSettings({ adapter: t.value });
    else if (t.id === 'threshold') await putSettings({ threshold: +t.value });
    else if (t.id === 'verify-name') await putSettings({ task: 'verify', verify_name: t.value });
    else if (t.name === 'task') {
      if (t.value === 'verify') {
        await fillVerifyNames();
        $('verify-row').hidden = false;
        if (!$('verify-name').value) {
          $('settings-msg').textContent = 'enrol someone first';
          renderSettings(settings);
          return;
        }
        await putSettings({ task: 'verify', verify_name: $('verify-name').value });
      } else {
        await putSettings({ task: 'identify' });
      }
    }
  });
  $('threshold').addEventListener('input', () => {
    $('thr-out').textContent = (+$('threshold').value).toFixed(2);
  });
  $('thr-default').addEventListener('click', () => putSettings({ threshold: null }));
  api('GET', '/api/settings').then(async (s) => {
    renderSettings(s);
    if (s.task === 'verify') await fillVerifyNames();
  }).catch((e) => toast(e.message));
}

window.vlrface = { api, toast, $, el, seg, showPage };

window.addEventListener('hashchange', showPage);
document.addEventListener('DOMContentLoaded', () => {
  initSettings();
  showPage();
  pollSnapshot();
  pollMetrics();
});
