// vlrface web UI: the gallery page (add from files or the camera, rename, remove) and the
// models page. Uses the helpers app.js puts on window.vlrface.
'use strict';

const PAGE_SIZE = 60;
let peopleShown = 0;
let peopleNames = new Set();

function personCard(p) {
  const { api, el, seg, toast } = window.vlrface;
  const img = el('img', { src: p.thumbnail_url, alt: p.name, loading: 'lazy', width: '112',
    height: '112' });
  const name = el('span', { class: 'pname', text: p.name });
  const count = el('span', { class: 'muted', text: p.faces + (p.faces === 1 ? ' face' : ' faces') });
  const rename = el('button', { type: 'button', class: 'small', text: 'Rename' });
  const add = el('label', { class: 'small button' }, 'Add photos',
    el('input', { type: 'file', accept: 'image/*', multiple: '' }));
  const remove = el('button', { type: 'button', class: 'small danger', text: 'Remove' });
  const info = el('div', { class: 'pinfo' }, name, count);
  const actions = el('div', { class: 'pactions' }, rename, add, remove);
  const li = el('li', { class: 'person', 'data-name': p.name }, img, info, actions);

  rename.addEventListener('click', () => {
    const input = el('input', { value: p.name, maxlength: '128', 'aria-label': 'new name' });
    const save = el('button', { type: 'button', class: 'small', text: 'Save' });
    const cancel = el('button', { type: 'button', class: 'small', text: 'Cancel' });
    const form = el('div', { class: 'row wrap' }, input, save, cancel);
    info.replaceChildren(form);
    input.focus();
    const done = () => loadPeople(true);
    cancel.addEventListener('click', done);
    const submit = async () => {
      try {
        await api('PATCH', '/api/people/' + seg(p.name), { name: input.value.trim() });
        toast('renamed ' + p.name + ' to ' + input.value.trim());
        done();
      } catch (e) { toast(e.message); }
    };
    save.addEventListener('click', submit);
    input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') submit(); });
  });
  // Two clicks, no dialog: a confirm() box is easy to dismiss by accident on a phone.
  remove.addEventListener('click', async () => {
    if (!remove.classList.contains('armed')) {
      remove.classList.add('armed');
      remove.textContent = 'Really remove?';
      setTimeout(() => { remove.classList.remove('armed'); remove.textContent = 'Remove'; }, 3000);
      return;
    }
    try {
      await api('DELETE', '/api/people/' + seg(p.name));
      toast('removed ' + p.name);
      loadPeople(true);
    } catch (e) { toast(e.message); }
  });
  add.querySelector('input').addEventListener('change', async (ev) => {
    const fd = new FormData();
    for (const f of ev.target.files) fd.append('images', f, f.name);
    try {
      const r = await api('POST', '/api/people/' + seg(p.name) + '/faces', fd);
      toast('added ' + r.enrolled + ' face(s) to ' + p.name + skippedText(r));
      loadPeople(true);
    } catch (e) { toast(e.message); }
  });
  return li;
}

function skippedText(r) {
  return r.skipped && r.skipped.length
    ? ' (skipped: ' + r.skipped.map((s) => s.file + ': ' + s.reason).join('; ') + ')' : '';
}

async function loadPeople(reset) {
  const { api, $, toast } = window.vlrface;
  if (reset) peopleShown = 0;
  const q = encodeURIComponent($('people-filter').value.trim());
  try {
    const data = await api('GET', `/api/people?q=${q}&offset=${peopleShown}&limit=${PAGE_SIZE}`);
    if (reset) $('people').replaceChildren();
    for (const p of data.people) $('people').append(personCard(p));
    peopleShown += data.people.length;
    $('people-count').textContent = '(' + data.total + ')';
    $('people-more').hidden = peopleShown >= data.total;
    if (reset && !q) {
      const all = await api('GET', '/api/people?limit=100000');
      peopleNames = new Set(all.people.map((p) => p.name));
    }
  } catch (e) { toast(e.message); }
}

function setBusy(busy) {
  const { $ } = window.vlrface;
  for (const id of ['add-upload', 'add-shot', 'add-capture']) $(id).disabled = busy;
}

async function addFromFiles(ev) {
  ev.preventDefault();
  const { api, $ } = window.vlrface;
  const name = $('add-name').value.trim();
  const files = $('add-files').files;
  if (!name) { $('add-msg').textContent = 'enter a name'; return; }
  if (!files.length) { $('add-msg').textContent = 'choose one or more photos'; return; }
  const fd = new FormData();
  fd.append('name', name);
  for (const f of files) fd.append('images', f, f.name);
  setBusy(true);
  $('add-msg').textContent = 'enrolling ' + files.length + ' photo(s)…';
  try {
    // An existing name gets the photos added; a new one is created.
    const exists = peopleNames.has(name);
    const r = exists ? await api('POST', '/api/people/' + window.vlrface.seg(name) + '/faces', fd)
      : await api('POST', '/api/people', fd);
    $('add-msg').textContent = (exists ? 'added ' : 'enrolled ') + r.enrolled + ' face(s) for ' +
      name + skippedText(r);
    $('add-files').value = '';
    loadPeople(true);
  } catch (e) {
    $('add-msg').textContent = e.message;
  } finally { setBusy(false); }
}

async function capture(count) {
  const { api, $ } = window.vlrface;
  const name = $('add-name').value.trim();
  if (!name) { $('add-msg').textContent = 'enter a name'; return; }
  const bar = $('capture-progress');
  setBusy(true);
  try {
    const exists = peopleNames.has(name);
    const job = exists
      ? await api('POST', '/api/people/' + window.vlrface.seg(name) + '/faces', { capture: count })
      : await api('POST', '/api/people', { name, capture: count });
    bar.max = count;
    bar.value = 0;
    bar.hidden = false;
    $('add-msg').textContent = 'look at the camera… 0 / ' + count;
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const s = await api('GET', job.url);
      bar.value = s.captured;
      if (s.state === 'done') {
        // Enrolled, but the faces match someone enrolled before: say who and how similar.
        $('add-msg').textContent = 'enrolled ' + s.enrolled + ' face(s) for ' + name +
          (s.warning ? '. Warning: ' + s.warning : '');
        break;
      }
      if (s.state === 'failed') { $('add-msg').textContent = s.error; break; }
      $('add-msg').textContent = (s.state === 'enrolling' ? 'enrolling… ' : 'look at the camera… ') +
        s.captured + ' / ' + count;
    }
    loadPeople(true);
  } catch (e) {
    $('add-msg').textContent = e.message;
  } finally {
    setBusy(false);
    setTimeout(() => { bar.hidden = true; }, 1500);
  }
}

// --- models ------------------------------------------------------------------------------------
async function loadModels() {
  const { api, $, el, toast } = window.vlrface;
  try {
    const m = await api('GET', '/api/models');
    // Adapted models (edgeface_xxs_r16, ..._lr) work inside the recovery of small faces; the
    // server refuses them as the main embedder, so they are not offered.
    const embedders = m.models.filter((x) => x.kind === 'embedder' && !x.adapted);
    $('embedders').replaceChildren(...embedders.map((x) => el('label', { class: 'choice' },
      el('input', Object.assign({ type: 'radio', name: 'embedder', value: x.name },
        x.active ? { checked: '' } : {}, x.ok ? {} : { disabled: '' })),
      el('span', { text: x.name + (x.active ? ' (active)' : '') }),
      el('span', { class: 'muted', text: x.ok ? x.id + ', threshold ' + x.threshold +
        ' (full-size faces)' : x.error }))));
    $('models-table').tBodies[0].replaceChildren(...m.models.map((x) => el('tr', {},
      el('td', { text: x.name + (x.active ? ' ✓' : '') }),
      el('td', { text: x.adapted ? 'embedder (adapted, small faces)' : x.kind }),
      el('td', { text: x.id || x.error || '' }), el('td', { text: x.threshold ?? '' }),
      el('td', { text: x.file || '' }))));
    $('gallery-model').textContent = m.gallery_model_id;
  } catch (e) { toast(e.message); }
}

async function reloadModels(ev) {
  ev.preventDefault();
  const { api, $ } = window.vlrface;
  const choice = document.querySelector('input[name=embedder]:checked');
  $('models-msg').textContent = 'loading…';
  $('models-reload').disabled = true;
  try {
    const r = await api('POST', '/api/models/reload',
      { embedder: choice ? choice.value : undefined, reembed: $('reembed').checked });
    $('models-msg').textContent = 'loaded ' + r.id +
      (r.reembedded_people ? ', re-embedded ' + r.reembedded_people + ' people' : '');
    loadModels();
  } catch (e) {
    $('models-msg').textContent = e.message;
  } finally { $('models-reload').disabled = false; }
}

document.addEventListener('DOMContentLoaded', () => {
  const { $ } = window.vlrface;
  $('add-form').addEventListener('submit', addFromFiles);
  $('add-shot').addEventListener('click', () => capture(1));
  $('add-capture').addEventListener('click', () => capture(Math.max(1, +$('add-count').value || 1)));
  let filterTimer = 0;
  $('people-filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => loadPeople(true), 250);
  });
  $('people-more').addEventListener('click', () => loadPeople(false));
  $('models-form').addEventListener('submit', reloadModels);
});
