// The web UI as a person uses it, in headless Chromium (Debian's) driven by playwright-core:
// enrol a person by uploading photos on the gallery page, see the name on the live view, select
// the face, switch the resolution, and look at it at desktop and phone width. Screenshots go to
// --out. Exits non-zero on any failure. Started by run.sh, which checks what it needs.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const arg = (name) => {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error('missing --' + name);
  return process.argv[i + 1];
};
const cli = arg('cli');
const models = arg('models');
const data = arg('data');
const out = arg('out');
const chromiumPath = arg('chromium');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vlrface-ui-'));
const orl = path.join(data, 'orl', 'images');
fs.mkdirSync(out, { recursive: true });
let server = null;
let serverLog = '';
let browser = null;

function log(...a) { console.log('[ui]', ...a); }

// One ORL person (s01, probe images 4..10) at twice its size in a 640x480 frame, 2 images/s.
function makeVideo() {
  for (let i = 4; i <= 10; ++i) {
    fs.copyFileSync(path.join(orl, 's01', i + '.jpg'), path.join(tmp, `f${i - 4}.jpg`));
  }
  const video = path.join(tmp, 'camera.avi');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-framerate', '2', '-i', path.join(tmp, 'f%d.jpg'),
    '-vf', 'scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=10,format=yuvj420p',
    '-c:v', 'mjpeg', '-q:v', '3', video]);
  return video;
}

function startServer(video) {
  return new Promise((resolve, reject) => {
    server = spawn(cli, ['--models', models, '--gallery', path.join(tmp, 'g.vlrg'), 'serve',
      '--camera', video, '--loop', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.on('data', (d) => { serverLog += d; });
    const timer = setTimeout(() => reject(new Error('server did not start in 60 s')), 60000);
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error('server exited ' + code)); });
    createInterface({ input: server.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = line.match(/^vlrface serve: listening on (http:\/\/\S+)$/);
      if (m) resolve(m[1]); else reject(new Error('unexpected first line: ' + line));
    });
  });
}

function stopServer() {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null) { resolve(server ? server.exitCode : null); return; }
    const timer = setTimeout(() => { server.kill('SIGKILL'); }, 20000);
    server.removeAllListeners('exit');
    server.on('exit', (code, signal) => { clearTimeout(timer); resolve(signal ? 128 : code); });
    server.kill('SIGTERM');
  });
}

function expect(cond, what) {
  if (!cond) throw new Error('expected: ' + what);
  log('ok:', what);
}

// Visible <img> elements without a picture (the browser draws a broken-image icon for them).
async function brokenImages(page) {
  return page.evaluate(() => [...document.images].filter((i) => {
    const r = i.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(i).visibility !== 'hidden' &&
      i.complete && i.naturalWidth === 0;
  }).map((i) => i.id || i.alt || i.src));
}

// The metrics card lies wholly inside the window, scrolled to the top.
async function expectMetricsInView(page, when) {
  const box = await page.evaluate(() => {
    window.scrollTo(0, 0);
    const r = document.getElementById('metrics-card').getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right,
      h: window.innerHeight, w: window.innerWidth, rows: document.querySelectorAll('#metrics dt').length };
  });
  expect(box.rows >= 6 && box.top >= 0 && box.left >= 0 && box.bottom <= box.h && box.right <= box.w,
    'the metrics are inside the ' + box.w + 'x' + box.h + ' window ' + when + ' (top ' +
    Math.round(box.top) + ', bottom ' + Math.round(box.bottom) + ')');
}

async function openPage(context, url, errors) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  // 'domcontentloaded': the MJPEG stream never finishes loading.
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.getElementById('status').textContent === 'running',
    null, { timeout: 30000 });
  return page;
}

async function main() {
  const video = makeVideo();
  const url = await startServer(video);
  log('server at', url);
  const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  browser = context;
  const errors = [];
  const page = await openPage(context, url, errors);
  expect(await page.title() === 'vlrface', 'the page loads');

  // Before any face is selected: empty frames, no broken-image icon anywhere.
  await page.waitForFunction(() => document.getElementById('stream').naturalWidth > 0, null,
    { timeout: 15000 });
  expect((await brokenImages(page)).length === 0,
    'no visible <img> without a picture before a face is selected (' +
    (await brokenImages(page)).join(', ') + ')');
  expect(await page.evaluate(() => [...document.querySelectorAll('.triptych figure:not([hidden]) .pic')]
    .every((p) => p.getBoundingClientRect().height > 50)), 'the three picture frames are shown empty');
  expect(await page.$eval('#fig-dsr', (f) => f.hidden), 'no DSR frame before a face is selected');
  // The metrics are on screen with the view at 1280x900, without scrolling.
  await page.waitForFunction(() => /ms/.test(document.getElementById('stages').textContent), null,
    { timeout: 15000 });
  await expectMetricsInView(page, 'before a face is selected');
  await page.screenshot({ path: path.join(out, 'live-1280x900-start.png') });
  // The threshold says what it is calibrated for, and why it differs from the models table.
  await page.waitForFunction(() => /\(/.test(document.getElementById('thr-out').textContent), null,
    { timeout: 10000 });
  const thr = await page.textContent('#thr-out');
  expect(/^0\.\d{4} \(16 px, [a-z+]+, native faces\)$/.test(thr),
    'the threshold is labelled with its size, recovery and kind of face (' + thr + ')');
  const note = await page.textContent('#thr-note');
  expect(/models table's 0\.\d{4} is for full-size faces/.test(note),
    'the note explains the models table threshold (' + note + ')');

  // Enrol s01 through the gallery page's form.
  await page.click('nav a[data-page=gallery]');
  await page.fill('#add-name', 's01');
  await page.setInputFiles('#add-files', [1, 2, 3].map((i) => path.join(orl, 's01', i + '.jpg')));
  await page.click('#add-upload');
  await page.waitForFunction(() => /enrolled 3 face/.test(document.getElementById('add-msg').textContent),
    null, { timeout: 30000 });
  await page.waitForSelector('li.person[data-name="s01"] img', { timeout: 10000 });
  expect(true, 's01 enrolled from 3 uploaded photos and listed in the gallery');
  await page.waitForFunction(() => [...document.querySelectorAll('li.person img')]
    .every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  await page.screenshot({ path: path.join(out, 'gallery-desktop.png') });

  // A single shot from the camera, then rename and remove that person through the page.
  await page.fill('#add-name', 'camera shot');
  await page.click('#add-shot');
  await page.waitForFunction(() => /enrolled 1 face\(s\) for camera shot/
    .test(document.getElementById('add-msg').textContent), null, { timeout: 30000 });
  // The camera shows s01, enrolled a moment ago: the page says who and how similar.
  const shotMsg = await page.textContent('#add-msg');
  expect(/Warning: these faces match s01 \(similarity 0\.\d{4}\)/.test(shotMsg),
    'the capture warns that it matches s01 (' + shotMsg + ')');
  const card = 'li.person[data-name="camera shot"]';
  await page.waitForSelector(card, { timeout: 10000 });
  expect(true, 'a single shot from the camera enrols "camera shot"');
  await page.click(card + ' button:has-text("Rename")');
  await page.fill(card + ' input[aria-label="new name"]', 'renamed');
  await page.click(card + ' button:has-text("Save")');
  await page.waitForSelector('li.person[data-name="renamed"]', { timeout: 10000 });
  expect(true, 'renamed on the page');
  await page.click('li.person[data-name="renamed"] button:has-text("Remove")');
  await page.click('li.person[data-name="renamed"] button:has-text("Really remove?")');
  await page.waitForSelector('li.person[data-name="renamed"]', { state: 'detached', timeout: 10000 });
  expect(true, 'removed on the page (two clicks)');

  // The live view names the person in front of the camera.
  await page.click('nav a[data-page=live]');
  await page.waitForSelector('.chip.known:has-text("s01")', { timeout: 30000 });
  expect(true, 'the live view names s01');
  await page.waitForFunction(() => document.getElementById('stream').naturalWidth === 640, null,
    { timeout: 15000 });
  expect(true, 'the MJPEG stream shows 640x480 frames');

  // Select the face: the three panels and the top-5 bars fill in.
  await page.click('.facebox');
  await page.waitForFunction(() => {
    const ok = (id) => { const i = document.getElementById(id); return i.complete && i.naturalWidth > 0; };
    return ok('img-low') && ok('img-up') && ok('img-gal') &&
      document.querySelectorAll('#top5 li .fill').length > 0;
  }, null, { timeout: 15000 });
  expect((await page.textContent('#gal-name')).startsWith('s01'), 'the matched gallery face is s01');
  // Native mode (the default): the panel says how large the face is and what recognised it;
  // the ORL face is ~86 px wide, above the recovery cut-off, so the base model.
  await page.waitForFunction(() => / px face$/.test(document.getElementById('low-res').textContent),
    null, { timeout: 15000 });
  const native = await page.textContent('#low-res');
  expect(+native.split(' ')[0] > 60, 'the input panel gives the measured face size (' + native + ')');
  expect(/^112 px, base, threshold 0\.\d\d$/.test(await page.textContent('#up-name')),
    'the panel names the path that ran and its threshold (' + await page.textContent('#up-name') + ')');
  expect(await page.$eval('#fig-dsr', (f) => f.hidden),
    'a face above the cut-off (not made smaller) has no DSR picture');

  // Simulate a distant face: mode simulate, 24 px.
  await page.selectOption('#mode', 'simulate');
  await page.waitForFunction(() => !document.getElementById('res-group').disabled, null,
    { timeout: 15000 });
  await page.click('#res-group label:has-text("24 px")');
  await page.waitForFunction(() => document.getElementById('low-res').textContent === '24 px (simulated)',
    null, { timeout: 15000 });
  const settings = await page.evaluate(() => fetch('/api/settings').then((r) => r.json()));
  expect(settings.resolution === 24, 'the server works at 24 px now');
  await page.waitForFunction(() => {
    const i = document.getElementById('img-low');
    return i.complete && i.naturalWidth === 120;  // 24 px x 5, nearest neighbour
  }, null, { timeout: 15000 });
  expect(true, 'the input panel shows the 24 px face enlarged 5x');
  await page.waitForFunction(() => {
    const i = document.getElementById('img-dsr');
    return !document.getElementById('fig-dsr').hidden && i.complete && i.naturalWidth === 112;
  }, null, { timeout: 15000 });
  expect(true, 'the DSR picture of the 24 px face is shown beside what the recogniser saw');
  await page.waitForFunction(() => /ms/.test(document.getElementById('stages').textContent), null,
    { timeout: 10000 });
  await page.waitForTimeout(700);
  await expectMetricsInView(page, 'with a face selected');
  expect((await brokenImages(page)).length === 0, 'no broken image with a face selected');
  await page.screenshot({ path: path.join(out, 'live-desktop.png') });

  await page.click('nav a[data-page=models]');
  await page.waitForSelector('#models-table tbody tr', { timeout: 10000 });
  await page.waitForSelector('input[name=embedder]', { timeout: 10000 });
  const offered = await page.$$eval('input[name=embedder]', (xs) => xs.map((x) => x.value));
  const listed = await page.$$eval('#models-table tbody tr td:first-child',
    (xs) => xs.map((x) => x.textContent.replace(' ✓', '')));
  const internal = (n) => /_r\d+$/.test(n) || /_lr$/.test(n);
  expect(offered.includes('edgeface_xxs') && !offered.some(internal),
    'the models page offers main embedders only (' + offered.join(', ') + ')');
  if (listed.some(internal)) {
    const kinds = await page.$$eval('#models-table tbody tr', (rows) => rows
      .filter((r) => /_r\d+$|_lr$/.test(r.cells[0].textContent)).map((r) => r.cells[1].textContent));
    expect(kinds.every((k) => /adapted/.test(k)), 'adapted models are listed as such (' + kinds + ')');
  }
  await page.screenshot({ path: path.join(out, 'models-desktop.png') });
  await page.close();

  // A phone: 390x844, the same functions in one column, nothing wider than the screen.
  const mobile = await openPage(context, url, errors);
  await mobile.setViewportSize({ width: 390, height: 844 });
  await mobile.waitForSelector('.chip.known:has-text("s01")', { timeout: 30000 });
  await mobile.click('.chip.known');
  await mobile.waitForFunction(() => document.getElementById('img-gal').naturalWidth > 0, null,
    { timeout: 15000 });
  await mobile.waitForTimeout(700);
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 390, 'no horizontal scrolling at 390 px (page is ' + width + ' px wide)');
  await mobile.screenshot({ path: path.join(out, 'live-phone.png'), fullPage: true });
  await mobile.click('nav a[data-page=gallery]');
  await mobile.waitForSelector('li.person[data-name="s01"]');
  await mobile.screenshot({ path: path.join(out, 'gallery-phone.png'), fullPage: true });
  const gwidth = await mobile.evaluate(() => document.documentElement.scrollWidth);
  expect(gwidth <= 390, 'gallery fits 390 px (' + gwidth + ' px)');

  expect(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  await context.close();
  browser = null;
  const code = await stopServer();
  expect(code === 0, 'the server exits 0 on SIGTERM (got ' + code + ')');
  log('screenshots in', out);
}

const guard = setTimeout(() => { console.error('[ui] FAIL: timed out after 240 s'); process.exit(1); },
  240000);
try {
  await main();
  console.log('[ui] PASS');
  process.exitCode = 0;
} catch (e) {
  console.error('[ui] FAIL:', e.message);
  if (serverLog) console.error('--- server stderr ---\n' + serverLog.slice(-4000));
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  fs.rmSync(tmp, { recursive: true, force: true });
}
