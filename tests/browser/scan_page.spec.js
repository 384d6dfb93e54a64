// The page a printed QR code opens, in a real browser against a running
// `youma serve`, as a phone would open it: the location step (granted, at a
// shop in Guangzhou), then the answer.
//
//   YOUMA_HTTP=http://127.0.0.1:8080 YOUMA_GENUINE_PATH=/CNSA… YOUMA_FORGED_PATH=/CNSB… \
//       node scan_page.spec.js
//
// YOUMA_GENUINE_PATH is a never-scanned code under a campaign where every scan
// wins; SCREENSHOT_DIR says where screenshots go. Prints what each check saw,
// ends with "N passed, N failed", and exits 1 when any check failed.
'use strict';

const { chromium } = require('playwright-core');
const { ARGS, CHROMIUM, shot } = require('./browser');

const BASE = (process.env.YOUMA_HTTP || '').replace(/\/+$/, '');
const GENUINE = process.env.YOUMA_GENUINE_PATH || '';
const FORGED = process.env.YOUMA_FORGED_PATH || '';

let passed = 0;
let failed = 0;
function check(name, ok, saw) {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} - ${name}: saw ${JSON.stringify(saw)}\n`);
}

// A phone: its own cookies, a phone-sized screen, Chinese, location granted.
async function phone(browser) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    geolocation: { latitude: 23.1291, longitude: 113.3612 },
    permissions: ['geolocation'],
    // What the ingress adds from its geo-IP database (see helm/youma/README.md).
    extraHTTPHeaders: { 'X-Youma-Region': '440106' },
  });
  const page = await context.newPage();
  let bytes = 0;
  page.on('response', async (r) => {
    try {
      bytes += (await r.body()).length;
    } catch (e) {
      // redirects have no body
    }
  });
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  return { page, context, bytes: () => bytes, dialogs };
}

// Opens a code's page and waits for the answer (the second step).
async function open(p, path) {
  await p.page.goto(`${BASE}${path}`, { waitUntil: 'load' });
  await p.page.waitForSelector('.verdict[data-verdict]', { timeout: 15000 });
  return p.page.textContent('main');
}

async function main() {
  if (!BASE || !GENUINE || !FORGED) throw new Error('set YOUMA_HTTP, YOUMA_GENUINE_PATH and YOUMA_FORGED_PATH');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
  try {
    const first = await phone(browser);
    let text = await open(first, GENUINE);
    check('a genuine code says genuine (正品) in large type', text.includes('正品'),
          await first.page.textContent('.verdict'));
    check('the red packet won is shown', /恭喜！获得 \d+\.\d\d 元红包/.test(text), text.match(/恭喜[^。]*/));
    check('a first scan says so', text.includes('首次扫码'), text.match(/首次扫码[^。]*/));
    check('the location step came back with coordinates', first.page.url().includes('&lat=23.129100'),
          first.page.url());
    check('the mini-program button is there', (await first.page.$('a.button')) !== null, 'a.button');
    check('the page and its step weigh under 50 KB', first.bytes() < 50 * 1024, `${first.bytes()} bytes`);
    console.log(await shot(first.page, 'scan-page-genuine'));
    await first.context.close();

    const second = await phone(browser);
    text = await open(second, GENUINE);
    check('a second scan shows the history', /此码已被扫描 2 次，首次于 \d{4}-\d\d-\d\d \d\d:\d\d 在/.test(text),
          text.match(/此码已被扫描[^。]*/));
    check('the first scan\'s place is named', text.includes('广东省广州市天河区'),
          text.match(/在[^。]*/));
    check('no second prize', text.includes('本次没有红包'), text.match(/本次没有红包/));
    await second.page.click('footer a');
    await second.page.waitForSelector('.verdict[data-verdict]');
    const english = await second.page.textContent('main');
    check('English is a tap away, and the same scan', english.includes('Scanned 2 times'),
          english.match(/Scanned[^.]*/));
    console.log(await shot(second.page, 'scan-page-history'));
    await second.context.close();

    const forged = await phone(browser);
    text = await open(forged, FORGED);
    check('a forged code says counterfeit (假冒)', text.includes('假冒'), await forged.page.textContent('.verdict'));
    check('no script ran from the page', forged.dialogs.length === 0, forged.dialogs);
    console.log(await shot(forged.page, 'scan-page-counterfeit'));
    await forged.context.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  process.stdout.write(`FAIL - ${e.stack || e}\n`);
  process.exit(1);
});
