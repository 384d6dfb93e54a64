// Debian's Chromium (apt-get install chromium), driven by playwright-core,
// which downloads no browser of its own.
//
//   const { launch, shot, close } = require('./browser');
//   const page = await launch();
//   await page.goto(`${process.env.YOUMA_HTTP}/console/`);
//   console.log(await shot(page, 'console'));   // $SCREENSHOT_DIR/console.png
//   await close(page);
//
// CHROMIUM overrides the browser's path; SCREENSHOT_DIR says where
// screenshots go (default: $TMPDIR/youma-screenshots).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// No GPU, no sandbox (root in a container), and nothing that reaches the
// network on its own: the tests' only traffic is to the server under test.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
              '--disable-component-update', '--disable-sync', '--no-first-run'];

// A new page in a fresh browser (its own cookies), China's time zone and a
// desktop-sized viewport. Options: viewport, locale.
async function launch({ viewport = { width: 1366, height: 900 }, locale = 'zh-CN' } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
  const context = await browser.newContext({ viewport, locale, timezoneId: 'Asia/Shanghai' });
  return context.newPage();
}

// Saves a full-page PNG as SCREENSHOT_DIR/<name>.png and returns its path.
async function shot(page, name) {
  const dir = process.env.SCREENSHOT_DIR || path.join(os.tmpdir(), 'youma-screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.png`);
  // From the top, so a sticky header is drawn where a person sees it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Closes the page's browser.
async function close(page) {
  await page.context().browser().close();
}

module.exports = { launch, shot, close, ARGS, CHROMIUM };
