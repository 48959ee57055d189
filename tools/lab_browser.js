#!/usr/bin/env node
// Drive JupyterLab in headless Chromium for nbs/90_client_tests.ipynb (`make test-browser`), as a user would:
// open a notebook, Run > Run All Cells, wait until every cell ran, then change controls of a widget panel, one step
// at a time, and after each wait for another part of the panel to show the expected text (and for controls to be
// disabled or enabled, when the step says so). Prints one JSON line, {ok: true, ...} or
// {ok: false, error}, and exits 0 or 1. The server must run with --LabApp.expose_app_in_browser=True (for
// window.jupyterapp, read to check each cell's outputs) and a kernel that starts without asking.
//
//   node tools/lab_browser.js SPEC.json
//
// SPEC: {playwright, chromium, url, token, notebook, shots, timeout_s, height (of the page, px; 1000), panel,
//       steps: [STEP, ...]}, or one STEP's keys in SPEC itself.
// STEP: {control, action: ['select', index or label] | ['fill', text] | ['press', key], watch, expect,
//        disabled: [selector, ...], enabled: [selector, ...], texts: {selector: text, ...}, titles: {selector: text}}
// `panel` is a CSS selector; `control`, `watch` and every other selector of a step are inside it;
// `expect` is text `watch` must contain after the action (and not before); each of `texts` must contain its text too,
// and each of `titles` must hold an element whose title (its tooltip) is its text.
// A control is disabled when it, or an input, select, textarea, button or slider in it, is. Screenshots go to `shots`:
// step<N>.png after each step, then after.png and panel.png; or failure.png.
'use strict';
const fs = require('fs');
const path = require('path');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { chromium } = require(spec.playwright);
const ms = s => Math.round(s * 1000);
let browser = null;

function finish(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = code;
}

// A last resort if a step hangs past its own timeout: report, close Chromium, exit.
const watchdog = setTimeout(async () => {
  finish({ ok: false, error: `lab_browser.js: gave up after ${spec.timeout_s} s` }, 1);
  if (browser) await Promise.race([browser.close(), new Promise(r => setTimeout(r, 5000))]);
  process.exit(1);
}, ms(spec.timeout_s));

// The notebook's kernel as the server sees it: started, idle, and with the page's websocket connected.
async function kernelReady(page, timeout) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const r = await page.request.get(`${spec.url}api/sessions?token=${spec.token}`).catch(() => null);
    const s = (r && r.ok() ? await r.json() : []).find(s => s.path === spec.notebook);
    if (s && s.kernel && s.kernel.execution_state === 'idle' && s.kernel.connections > 0) return;
    await page.waitForTimeout(500);
  }
  throw new Error(`the notebook's kernel was not idle and connected within ${timeout / 1000} s`);
}

// Every code cell of the notebook, from JupyterLab's own model: execution count and error outputs.
const codeCells = nb => {
  const panel = [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === nb);
  return [...panel.content.model.cells].filter(c => c.type === 'code').map(c => ({
    count: c.executionCount,
    errors: c.outputs.toJSON().filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
    source: c.sharedModel.getSource().split('\n').filter(l => l && !l.startsWith('#|'))[0] || '',
  }));
};

async function runAll(page) {
  await page.locator('.jp-NotebookPanel .jp-Notebook .jp-CodeCell').first().waitFor({ timeout: ms(120) });
  await kernelReady(page, ms(120));
  // Run > Run All Cells queues every cell ('[*]') and stops at the first error, leaving the cells after it unrun.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-content .lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
    const started = await page.waitForFunction(() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
      .some(p => /\[[\d*]+\]/.test(p.textContent)), null, { timeout: ms(20) }).then(() => true, () => false);
    if (started) break;
    if (attempt === 3) throw new Error('Run All Cells started no cell (3 attempts)');
  }
  await page.waitForFunction(() => {
    const st = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.dataset.status;
    const ps = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    return st === 'idle' && !ps.some(t => t.includes('*'));
  }, null, { timeout: ms(spec.timeout_s), polling: 500 });
  const cells = await page.evaluate(codeCells, spec.notebook);
  const bad = cells.findIndex(c => c.errors.length || c.count === null);
  if (bad >= 0) {
    const c = cells[bad];
    throw new Error(`${spec.notebook}: code cell ${bad} of ${cells.length} (${JSON.stringify(c.source.slice(0, 80))}) ` +
                    (c.errors.length ? `failed: ${c.errors[0]}` : 'did not run'));
  }
  return cells.length;
}

async function act(control, [kind, value]) {
  if (kind === 'select') {
    return control.locator('select').selectOption(typeof value === 'string' ? { label: value } : { index: value });
  }
  const input = control.locator('input, textarea, .noUi-handle').first();
  if (kind === 'fill') { await input.fill(String(value)); return input.press('Enter'); }
  if (kind === 'press') { await input.focus(); return input.press(value); }
  throw new Error(`unknown action ${kind}`);
}

// Whether the element at `sel` inside the panel is disabled (null: there is none); a widget greys out its own inputs.
const disabledIn = ([p, sel]) => {
  const el = document.querySelector(p)?.querySelector(sel);
  if (!el) return null;
  return el.matches('[disabled], .mod-disabled') ||
    !!el.querySelector('input:disabled, select:disabled, textarea:disabled, button:disabled, .noUi-target[disabled]');
};

// One step: act on a control, wait for `watch` to show `expect` and for the controls to be disabled / enabled as said.
async function runStep(page, panel, step, n) {
  const watch = panel.locator(step.watch).first();
  const shows = async () => JSON.stringify((await watch.innerText()).slice(0, 300));
  const before = await watch.innerText();
  const expect = JSON.stringify(step.expect);
  if (before.includes(step.expect)) throw new Error(`step ${n}: ${step.watch} shows ${expect} before the change`);
  await act(panel.locator(step.control).first(), step.action);
  const text = ([p, w, want]) => (document.querySelector(p)?.querySelector(w)?.innerText || '').includes(want);
  await page.waitForFunction(text, [spec.panel, step.watch, step.expect], { timeout: ms(60), polling: 200 })
    .catch(async () => { throw new Error(`step ${n}: ${step.watch} did not show ${expect} within 60 s of the change; `
                                         + `it shows ${await shows()}`); });
  for (const [want, sels] of [[true, step.disabled || []], [false, step.enabled || []]]) {
    for (const sel of sels) {
      const where = JSON.stringify([spec.panel, sel]);
      await page.waitForFunction(`(${disabledIn})(${where}) === ${want}`, null, { timeout: ms(30), polling: 200 })
        .catch(async () => { throw new Error(`step ${n}: ${sel} is not ${want ? 'disabled' : 'enabled'} (disabled: `
                                             + `${await page.evaluate(disabledIn, [spec.panel, sel])})`); });
    }
  }
  for (const [sel, want] of Object.entries(step.texts || {})) {
    await page.waitForFunction(text, [spec.panel, sel, want], { timeout: ms(30), polling: 200 })
      .catch(() => { throw new Error(`step ${n}: ${sel} does not show ${JSON.stringify(want)}`); });
  }
  for (const [sel, want] of Object.entries(step.titles || {})) {
    const titles = await panel.locator(sel).first()
      .evaluate(el => [...el.querySelectorAll('[title]')].map(e => e.title));
    if (!titles.includes(want)) throw new Error(`step ${n}: no tooltip ${JSON.stringify(want)} in ${sel}: ${titles}`);
  }
  const after = await watch.innerText();
  await page.screenshot({ path: path.join(spec.shots, `step${n}.png`) });
  return { before, after };
}

(async () => {
  fs.mkdirSync(spec.shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: spec.chromium, headless: true, timeout: ms(60),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: spec.height || 1000 } });
  page.setDefaultTimeout(ms(60));
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  try {
    await page.goto(`${spec.url}lab/tree/${spec.notebook}?token=${spec.token}`, { timeout: ms(120) });
    const cells = await runAll(page);
    const panel = page.locator(spec.panel).first();
    await panel.waitFor({ state: 'visible', timeout: ms(60) });
    await panel.scrollIntoViewIfNeeded();
    const steps = [];
    for (const [i, step] of (spec.steps || [spec]).entries()) steps.push(await runStep(page, panel, step, i + 1));
    await panel.screenshot({ path: path.join(spec.shots, 'panel.png') });
    await page.screenshot({ path: path.join(spec.shots, 'after.png') });
    finish({ ok: true, cells, before: steps[0].before, after: steps[steps.length - 1].after, steps, errors }, 0);
  } catch (e) {
    await page.screenshot({ path: path.join(spec.shots, 'failure.png') }).catch(() => {});
    finish({ ok: false, error: String(e.message || e).split('\n').slice(0, 8).join('\n'), errors }, 1);
  } finally {
    clearTimeout(watchdog);
    await browser.close();
  }
})().catch(e => { finish({ ok: false, error: String(e) }, 1); if (browser) browser.close(); });
