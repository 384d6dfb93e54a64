// The brand console in a real browser, against a running `youma serve`:
//
//   YOUMA_HTTP=http://127.0.0.1:8080 YOUMA_ADMIN_TOKEN=ym_… node console.spec.js
//
// Optional: YOUMA_BRAND (for an all-brands admin token), YOUMA_CAMPAIGN_ID
// (default: the first campaign), YOUMA_EXPECT_SPENT_FEN (that campaign's spent
// budget, exactly), YOUMA_DIVERSION_CASE (a case code id that must be flagged),
// YOUMA_EXPECT_BATCHES (how many batches the brand has: more than a page of
// YOUMA_BATCHES_PER_PAGE, default 20), YOUMA_EXPECT_FLAGS (how many diversion
// flags the brand has: more than the panel's first 500),
// SCREENSHOT_DIR. Prints what each check saw, ends with "N passed, N failed",
// and exits 1 when any check failed.
'use strict';

const { launch, shot, close } = require('./browser');

const BASE = (process.env.YOUMA_HTTP || '').replace(/\/+$/, '');
const TOKEN = process.env.YOUMA_ADMIN_TOKEN || '';
const BRAND = process.env.YOUMA_BRAND || '';

let passed = 0;
let failed = 0;
function check(name, ok, saw) {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} - ${name}: saw ${saw}\n`);
}

// The console's money format: fen as "¥12,345.67".
function yuan(fen) {
  let n = BigInt(fen || 0);
  const negative = n < 0n;
  if (negative) n = -n;
  return `${negative ? '-' : ''}¥${(n / 100n).toLocaleString('en-US')}.${(n % 100n).toString().padStart(2, '0')}`;
}

// Strings a hostile brand user could have typed, from the page's own reads.
function typedNames(reads) {
  const out = [];
  for (const b of (reads.batches || {}).batches || []) out.push(b.productName);
  for (const c of (reads.campaigns || {}).campaigns || []) {
    out.push(c.spec && c.spec.name);
    for (const t of (c.spec && c.spec.tiers) || []) out.push(t.name);
  }
  for (const e of (reads.leaderboard || {}).entries || []) out.push(e.name);
  for (const f of (reads.diversion || {}).flags || []) out.push(f.dealerId);
  return out.filter((s) => typeof s === 'string' && /[<>"']/.test(s));
}

// Clicks a panel's next-page button (`more`) until it is gone, waiting each
// time for more `rows`; returns how many rows the first page had, the clicks,
// and every row's data-testid in page order.
async function pageThrough(page, rows, more) {
  const firstPage = await page.locator(rows).count();
  const button = page.locator(more);
  let clicks = 0;
  while (clicks < 50 && await button.isVisible().catch(() => false)) {
    const before = await page.locator(rows).count();
    await button.click();
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [rows, before],
                               { timeout: 10000 }).catch(() => {});
    clicks++;
  }
  const ids = await page.locator(rows).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid')));
  return { firstPage, clicks, ids };
}

async function main() {
  if (!BASE || !TOKEN) {
    process.stderr.write('set YOUMA_HTTP (e.g. http://127.0.0.1:8080) and YOUMA_ADMIN_TOKEN\n');
    process.exit(2);
  }
  const origin = new URL(BASE).origin;
  const page = await launch();
  const dialogs = [];
  const pageErrors = [];
  const cspViolations = [];
  const foreign = [];
  const urls = [];
  const reads = {};
  const campaignReads = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('request', (r) => {
    urls.push(r.url());
    if (!/^(data|blob):/.test(r.url()) && new URL(r.url()).origin !== origin) foreign.push(r.url());
  });
  page.on('response', async (r) => {
    const m = /\/console\/api\/([a-z]+)(\?|$)/.exec(r.url());
    if (!m || !r.ok()) return;
    try {
      const body = await r.json();
      // The batches panel reads a page at a time: keep every batch read.
      if (m[1] === 'batches' && /[?&]page_token=/.test(r.url()) && reads.batches) {
        body.batches = (reads.batches.batches || []).concat(body.batches || []);
      }
      if (m[1] === 'diversion' && /[?&]page_token=/.test(r.url()) && reads.diversion) {
        body.flags = (reads.diversion.flags || []).concat(body.flags || []);
        for (const k of ['byDealer', 'byShipment', 'shipmentsFlagged']) body[k] = reads.diversion[k];
      }
      reads[m[1]] = body;
      if (m[1] === 'campaigns') campaignReads.push(body);
    } catch {
      // A body the page could not read either; the checks below say so.
    }
  });

  try {
    await page.goto(`${BASE}/console/`, { waitUntil: 'networkidle' });
    const formShown = await page.locator('#token').isVisible().catch(() => false);
    check('without a session the console shows the login form', formShown && await page.locator('#login').isVisible(),
          `#token visible=${formShown}`);

    await page.fill('#token', 'ym_not_a_real_token');
    await page.click('#login');
    const loginError = page.locator('#login-error');
    await loginError.waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    const errorText = (await loginError.textContent().catch(() => '')) || '';
    check('a wrong token is refused with the server\'s message', errorText.trim().length > 0,
          JSON.stringify(errorText.trim()));

    await page.fill('#token', TOKEN);
    if (BRAND) await page.fill('#brand', BRAND);
    await page.click('#login');
    await page.locator('[data-testid="brand"]').waitFor({ timeout: 15000 });
    const brandText = await page.textContent('[data-testid="brand"]');
    check('login opens the console for a brand', /\S/.test(brandText) && (!BRAND || brandText.includes(BRAND)),
          JSON.stringify(brandText));

    const cookies = await page.context().cookies(`${BASE}/console/`);
    const session = cookies.find((c) => c.name === 'youma_session');
    check('the session cookie is HttpOnly and SameSite=Strict', !!session && session.httpOnly && session.sameSite === 'Strict',
          session ? `httpOnly=${session.httpOnly} sameSite=${session.sameSite} path=${session.path}` : 'no youma_session cookie');
    const scriptCookies = await page.evaluate(() => document.cookie);
    check('the page script cannot read the session', !scriptCookies.includes('youma_session'), JSON.stringify(scriptCookies));

    // Campaigns: the spent amount shown is the one the page last read, and it is read again every 5 s.
    // Wait for the page's first read of them (a quiet network can come before it, and the
    // response handler parses its body asynchronously).
    await page.waitForLoadState('networkidle').catch(() => {});
    for (const until = Date.now() + 15000; campaignReads.length === 0 && Date.now() < until;) {
      await page.waitForTimeout(100);
    }
    const campaignList = ((reads.campaigns || {}).campaigns || []);
    const campaign = process.env.YOUMA_CAMPAIGN_ID
      ? campaignList.find((c) => c.campaignId === process.env.YOUMA_CAMPAIGN_ID) : campaignList[0];
    if (!campaign) {
      check('a campaign is listed', false, `campaigns ${JSON.stringify(campaignList.map((c) => c.campaignId))}`);
    } else {
      const id = campaign.campaignId;
      const spent = page.locator(`[data-testid="campaign-spent-${id}"]`);
      await spent.waitFor({ timeout: 10000 });
      const polls = campaignReads.length;
      await page.waitForTimeout(6000);
      check('campaigns are read again within 6 s', campaignReads.length > polls,
            `${campaignReads.length - polls} more reads`);
      await page.waitForTimeout(300);
      const last = (campaignReads[campaignReads.length - 1].campaigns || []).find((c) => c.campaignId === id) || {};
      const text = (await spent.textContent()).trim();
      const fen = await spent.getAttribute('data-fen');
      check(`campaign ${id}'s spent amount is the server's`, text === yuan(last.spentFen) && fen === String(last.spentFen || '0'),
            `${JSON.stringify(text)} data-fen=${fen}; server spentFen=${last.spentFen}`);
      if (process.env.YOUMA_EXPECT_SPENT_FEN) {
        check(`campaign ${id} spent exactly ${process.env.YOUMA_EXPECT_SPENT_FEN} fen`,
              fen === process.env.YOUMA_EXPECT_SPENT_FEN, `data-fen=${fen} text=${JSON.stringify(text)}`);
      }
      const left = (await page.textContent(`[data-testid="campaign-left-${id}"]`)).trim();
      check(`campaign ${id}'s budget left is shown`, left === yuan(last.leftFen), `${JSON.stringify(left)}`);
      // Live: a scan that wins (through the JSON API, as a mini-program
      // backend sends it) moves the spent amount on the open page.
      if (process.env.YOUMA_SCANNER_TOKEN && process.env.YOUMA_PRIZE_CODE && process.env.YOUMA_EXPECT_SPENT_AFTER_FEN) {
        const r = await fetch(`${BASE}/api/v1/scan`, {
          method: 'POST',
          headers: { authorization: `Bearer ${process.env.YOUMA_SCANNER_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ code: process.env.YOUMA_PRIZE_CODE, role: 'SCAN_ROLE_CONSUMER', userId: 'console-live',
                                 clientScanId: `console-live-${Date.now()}` }),
        });
        const answer = await r.json();
        check('a winning scan through the JSON API', r.status === 200 && (answer.rewards || []).length === 1,
              `${r.status} ${JSON.stringify(answer.rewards || answer.error)}`);
        const want = process.env.YOUMA_EXPECT_SPENT_AFTER_FEN;
        const moved = await page.waitForFunction(
          ([sel, fen]) => document.querySelector(sel) && document.querySelector(sel).getAttribute('data-fen') === fen,
          [`[data-testid="campaign-spent-${id}"]`, want], { timeout: 12000 }).then(() => true).catch(() => false);
        check(`campaign ${id}'s spent amount moves to ${want} fen without a reload`, moved,
              `data-fen=${await spent.getAttribute('data-fen')}`);
        console.log(await shot(page, 'console-after-scans'));
      }
    }

    // Diversion: the flagged case has a row, and its evidence opens.
    const flags = (reads.diversion || {}).flags || [];
    const caseId = process.env.YOUMA_DIVERSION_CASE || (flags[0] && flags[0].caseCodeId);
    if (!caseId) {
      process.stdout.write('skip - no diversion flag to look at (set YOUMA_DIVERSION_CASE to require one)\n');
    } else {
      const row = page.locator(`[data-testid="diversion-case-${caseId}"]`);
      const seen = await row.isVisible().catch(() => false);
      check(`diversion case ${caseId} has a row`, seen, seen ? JSON.stringify((await row.innerText()).replace(/\s+/g, ' ')) : 'no row');
      if (seen) {
        const flag = flags.find((f) => f.caseCodeId === caseId) || { evidence: [] };
        await page.click(`[data-testid="diversion-toggle-${caseId}"]`);
        const evidence = page.locator(`[data-testid="diversion-evidence-${caseId}"]`);
        const open = await evidence.isVisible();
        const rows = await evidence.locator('tbody tr').count();
        check(`diversion case ${caseId}'s evidence opens`, open && rows === flag.evidence.length,
              `visible=${open}, ${rows} evidence rows, server has ${flag.evidence.length}`);
        // Where it turned up, by name: in the evidence and in its shipment's totals.
        const province = process.env.YOUMA_DIVERSION_PROVINCE;
        if (province) {
          const evidenceText = await evidence.innerText();
          check(`diversion case ${caseId}'s evidence names its region (${province}…)`, evidenceText.includes(province),
                JSON.stringify(evidenceText.replace(/\s+/g, ' ')));
          const shipment = page.locator(`[data-testid="diversion-shipment-${flag.shipmentId}"]`);
          const shipmentText = await shipment.innerText().catch(() => '');
          check(`shipment ${flag.shipmentId} of case ${caseId} is rolled up with the province its goods were scanned in`,
                flag.shipmentId && flag.shipmentId !== '0' && shipmentText.includes(province)
                  && shipmentText.includes(flag.dealerId),
                JSON.stringify(shipmentText.replace(/\s+/g, ' ')));
        }
      }
    }
    const csvHref = await page.getAttribute('[data-testid="diversion-csv"]', 'href');
    const csv = await page.evaluate(async (href) => {
      const r = await fetch(href, { credentials: 'same-origin' });
      return { status: r.status, type: r.headers.get('content-type'), head: (await r.text()).split('\n')[0] };
    }, csvHref);
    check('the diversion CSV downloads', csv.status === 200 && /text\/csv/.test(csv.type || ''),
          `${csvHref} -> ${csv.status} ${csv.type} ${JSON.stringify(csv.head)}`);

    // Diversion flags: 500 at first, "More flags" for the rest, each once.
    if (process.env.YOUMA_EXPECT_FLAGS) {
      const want = Number(process.env.YOUMA_EXPECT_FLAGS);
      const { firstPage, clicks, ids } = await pageThrough(page, '#diversion tr[data-testid^="diversion-case-"]',
                                                           '[data-testid="diversion-more"]');
      const once = new Set(ids).size === ids.length;
      const totals = ((reads.diversion || {}).byDealer || []).reduce((n, d) => n + Number(d.flaggedCases || 0), 0);
      check(`the diversion panel shows 500 flags, then all ${want} after "More flags", with totals over all`,
            firstPage === 500 && clicks >= 1 && ids.length === want && once && totals === want,
            `first page ${firstPage}; ${ids.length} rows after ${clicks} clicks; each once: ${once}; totals ${totals}`);
    }

    // Batches: a page of the newest first; "Older batches" appends the
    // next pages until none is left, each batch once, newest first.
    if (process.env.YOUMA_EXPECT_BATCHES) {
      const want = Number(process.env.YOUMA_EXPECT_BATCHES);
      const perPage = Number(process.env.YOUMA_BATCHES_PER_PAGE || 20);
      await page.locator('#batches tbody tr').first().waitFor({ timeout: 10000 }).catch(() => {});
      const { firstPage, clicks, ids: rows } = await pageThrough(page, '#batches tbody tr', '[data-testid="batches-more"]');
      const ids = rows.map((id) => id.replace('batch-', ''));
      const newestFirst = ids.every((id, i) => i === 0 || BigInt(ids[i - 1]) > BigInt(id));
      const shown = ((await page.textContent('[data-testid="batches-shown"]').catch(() => '')) || '').trim();
      check(`the batches panel shows ${perPage} batches, then all ${want} after "Older batches"`,
            firstPage === perPage && clicks >= 1 && ids.length === want && newestFirst && shown.endsWith(String(want)),
            `first page ${firstPage}; ${ids.length} rows after ${clicks} clicks; newest first: ${newestFirst}; ${JSON.stringify(shown)}`);
    }

    // Names typed by brand users are shown as text, never run.
    const names = typedNames(reads);
    const pageText = await page.evaluate(() => document.body.innerText);
    const missing = names.filter((n) => !pageText.includes(n));
    if (names.length > 0) {
      check('names with markup are shown literally', missing.length === 0,
            `${names.length} such names, missing ${JSON.stringify(missing)}`);
    }
    const injected = await page.evaluate(() => document.querySelectorAll('main img, main script, main svg, main iframe').length);
    check('no element was injected from data', injected === 0, `${injected} img/script/svg/iframe elements in main`);

    const file = await shot(page, 'console');
    process.stdout.write(`screenshot ${file}\n`);

    await page.click('#lang');
    const english = (await page.textContent('header.top h1')).trim();
    check('the language switch shows English', english === 'youma brand console', JSON.stringify(english));
    await page.click('#lang');

    await page.click('#logout');
    await page.locator('#token').waitFor({ timeout: 10000 });
    const after = await page.evaluate(async () => (await fetch('api/me', { credentials: 'same-origin' })).status);
    check('logout ends the session', after === 401, `GET api/me -> ${after}`);

    check('no alert or other dialog fired', dialogs.length === 0, JSON.stringify(dialogs));
    check('no script error on the page', pageErrors.length === 0, JSON.stringify(pageErrors));
    check('no Content-Security-Policy violation', cspViolations.length === 0, JSON.stringify(cspViolations));
    check('no request left the server\'s origin', foreign.length === 0, JSON.stringify(foreign.slice(0, 5)));
    const leaked = urls.filter((u) => u.includes(TOKEN));
    check('the token is in no URL', leaked.length === 0, `${leaked.length} of ${urls.length} requests`);
  } catch (e) {
    check('the scenario ran to its end', false, e.stack || String(e));
    await shot(page, 'console-failure').then((f) => process.stdout.write(`screenshot ${f}\n`)).catch(() => {});
  } finally {
    await close(page);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
