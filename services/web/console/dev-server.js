#!/usr/bin/env node
// A fake `youma serve` for working on the console without the C++ server:
// serves the built console (dist/) under /console/ with the real server's
// headers (CSP included) and canned answers for every endpoint it reads.
// Names carry script injections, so a page that renders them as HTML shows it.
//
//   npm run build && node dev-server.js [--port 8088] [--dist dist]
//   open http://127.0.0.1:8088/console/ and log in with the token ym_dev_admin
//
// Each read of /console/api/campaigns spends a little more of campaign 1's
// budget, so the 5-second poll can be seen moving.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const PORT = Number(arg('port', process.env.PORT || 8088));
const DIST = path.resolve(here, arg('dist', 'dist'));
const TOKEN = process.env.DEV_TOKEN || 'ym_dev_admin';
const QUIET = process.argv.includes('--quiet');

export const XSS = {
  product: '<img src=x onerror=alert(1)>',
  store: '<script>alert(2)</script>',
  campaign: '"><svg onload=alert(3)>',
  dealer: "dealer-<b onmouseover=alert(4)>",
  tier: '<iframe src=javascript:alert(5)>',
  user: '</td><img src=x onerror=alert(6)>',
};

const sessions = new Set();
let spentFen = 1230;  // campaign 1, grows on every read

function campaigns() {
  spentFen += 30;
  const budget = 10000;
  return {
    campaigns: [
      {
        campaignId: '1', brand: 'acme', state: 'CAMPAIGN_STATE_ACTIVE',
        spec: {
          name: '开盖有奖 2026', gtins: [], roles: [], regions: [], budgetFen: String(budget),
          startTime: '2026-11-01T00:00:00Z', endTime: '2026-12-31T16:00:00Z',
          tiers: [
            { name: '一等奖', amountFen: '500', probabilityPpm: 10000, maxCount: '10' },
            { name: XSS.tier, amountFen: '30', probabilityPpm: 200000, maxCount: '0' },
          ],
          perUserDailyLimit: 3,
        },
        seedSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', seedHex: '',
        spentFen: String(spentFen), leftFen: String(budget - spentFen), awards: String(Math.floor(spentFen / 30)),
        budgetExhausted: false,
        tiers: [{ name: '一等奖', awarded: '1', amountFen: '500' },
                { name: XSS.tier, awarded: String(Math.floor((spentFen - 500) / 30)), amountFen: String(spentFen - 500) }],
        limitsHit: [{ rule: 'user_velocity', scans: '4' }, { rule: 'case_sweep', scans: '1' }],
        registrationBonuses: '0', registrationBonusFen: '0', rebates: '0', rebateFen: '0',
        payouts: { pending: '2', sent: '1', confirmed: String(Math.floor(spentFen / 30) - 3), failed: '0' },
        createTime: '2026-10-30T02:00:00Z', launchTime: '2026-11-01T00:00:00Z',
      },
      {
        campaignId: '2', brand: 'acme', state: 'CAMPAIGN_STATE_ENDED',
        spec: { name: XSS.campaign, budgetFen: '5000', tiers: [{ name: '红包', amountFen: '100', probabilityPpm: 500000, maxCount: '50' }],
                store: { registrationBonusFen: '500', rebateFen: '10' } },
        seedSha256: '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
        seedHex: '666f6f666f6f666f6f666f6f666f6f666f6f666f6f666f6f666f6f666f6f666f',
        spentFen: '4980', leftFen: '20', awards: '45', budgetExhausted: true,
        tiers: [{ name: '红包', awarded: '44', amountFen: '4400' }], limitsHit: [],
        registrationBonuses: '1', registrationBonusFen: '500', rebates: '8', rebateFen: '80',
        payouts: { pending: '0', sent: '0', confirmed: '53', failed: '1' },
      },
    ],
  };
}

// Newest first, one batch per page here, so that "Older batches" shows.
const BATCHES = [
  { brand: 'acme', batchId: '2', gtin: '06901234567908', productName: '优码精酿 500ml', kind: 'BATCH_KIND_BOTTLE',
    quantity: '100000', codeCount: '100000', activation: 'ACTIVATION_POLICY_ON_SHIPMENT',
    createTime: '2026-11-20T03:30:00Z', states: { active: '62000', notActive: '30000', frozen: '5000', revoked: '3000' } },
  { brand: 'acme', batchId: '1', gtin: '06901234567892', productName: XSS.product, kind: 'BATCH_KIND_SET',
    quantity: '3', setSize: 6, codeCount: '21', activation: 'ACTIVATION_POLICY_IMMEDIATE',
    createTime: '2026-11-24T10:00:00Z', states: { active: '21', notActive: '0', frozen: '0', revoked: '0' } },
];

function batches(q) {
  const before = q.get('page_token') ? Number(q.get('page_token')) : Infinity;
  const page = BATCHES.filter((b) => Number(b.batchId) < before).slice(0, 1);
  const more = page.length > 0 && BATCHES.some((b) => Number(b.batchId) < Number(page[0].batchId));
  return more ? { batches: page, nextPageToken: page[0].batchId } : { batches: page };
}

function diversion(q) {
  const flags = [
    { brand: 'acme', caseCodeId: '1000001', rule: 'store_owner_out_of_territory', parameters: 'strong evidence',
      dealerId: XSS.dealer, shipmentId: '7', territory: ['44'], flagTime: '2026-11-24T11:00:00Z',
      evidence: [{ clientScanId: 's-1', userId: XSS.user, role: 'SCAN_ROLE_STORE_OWNER', region: '330106',
                   regionSource: 'REGION_SOURCE_GPS', scanTime: '2026-11-24T10:59:00Z' }] },
    { brand: 'acme', caseCodeId: '1000008', rule: 'consumers_out_of_territory', parameters: 'min_users=2',
      dealerId: 'dealer-east', shipmentId: '8', territory: ['31', '32'], flagTime: '2026-11-24T12:00:00Z',
      evidence: [
        { clientScanId: 's-2', userId: 'o_user_a', role: 'SCAN_ROLE_CONSUMER', region: '440000',
          regionSource: 'REGION_SOURCE_IP', scanTime: '2026-11-24T11:40:00Z' },
        { clientScanId: 's-3', userId: 'o_user_b', role: 'SCAN_ROLE_CONSUMER', region: '440106',
          regionSource: 'REGION_SOURCE_GPS', scanTime: '2026-11-24T11:50:00Z' }] },
  ].filter((f) => !q.get('dealer') || f.dealerId === q.get('dealer'));
  const provinceNames = { 33: '浙江省', 44: '广东省' };
  for (const f of flags) {
    for (const e of f.evidence) e.regionName = e.region === '440106' ? '广东省广州市天河区' : provinceNames[e.region.slice(0, 2)];
  }
  const scannedIn = (f) => {
    const n = {};
    for (const e of f.evidence) n[e.region.slice(0, 2)] = (n[e.region.slice(0, 2)] || 0) + 1;
    return Object.entries(n).map(([province, scans]) => ({ province, name: provinceNames[province], scans: String(scans) }));
  };
  const byDealer = flags.map((f) => ({ dealerId: f.dealerId, flaggedCases: '1', evidenceScans: String(f.evidence.length),
                                       scannedIn: scannedIn(f) }));
  const byShipment = flags.map((f) => ({ shipmentId: f.shipmentId, dealerId: f.dealerId, shipTime: '2026-11-20T02:00:00Z',
                                         territory: f.territory, flaggedCases: '1',
                                         evidenceScans: String(f.evidence.length), scannedIn: scannedIn(f) }));
  return { flags, byDealer, byShipment, shipmentsFlagged: String(byShipment.length) };
}

const REGIONS = {
  regions: [
    { region: '440000', name: '广东省', scans: '1200', counterfeits: '35' },
    { region: '330000', name: '浙江省', scans: '860', counterfeits: '3' },
    { region: '310000', name: '上海市', scans: '640', counterfeits: '0' },
    { region: '510000', name: '四川省', scans: '410', counterfeits: '12' },
    { region: '110000', name: '北京市', scans: '380', counterfeits: '1' },
    { region: '000000', name: '未知', scans: '0', counterfeits: '7' },
  ],
};

function leaderboard(q) {
  const entries = [
    { rank: 1, storeId: '11', name: XSS.store, region: '440106', stats: { casesOpened: '12', consumerScans: '40', rebateFen: '400' } },
    { rank: 2, storeId: '12', name: '好又多便利店', region: '440305', stats: { casesOpened: '9', consumerScans: '55', rebateFen: '550' } },
    { rank: 3, storeId: '13', name: 'Corner Shop', region: '310101', stats: { casesOpened: '2', consumerScans: '3', rebateFen: '30' } },
  ].filter((e) => !q.get('region') || e.region.startsWith(q.get('region')));
  if (q.get('order') === 'scans') {
    entries.sort((a, b) => Number(b.stats.consumerScans) - Number(a.stats.consumerScans)).forEach((e, i) => { e.rank = i + 1; });
  }
  return { entries, fromDay: '2026-10-26', toDay: '2026-11-24' };
}

function csvField(s) {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
                '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
            "connect-src 'self'; frame-ancestors 'none'";

function send(res, status, body, type = 'application/json; charset=utf-8', headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff',
                          'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer', ...headers });
  res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}

function error(res, status, code, message) {
  send(res, status, { error: { code, message } });
}

function session(req) {
  const m = /(?:^|;\s*)youma_session=([0-9a-f]+)/.exec(req.headers.cookie || '');
  return m && sessions.has(m[1]) ? m[1] : null;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function api(req, res, what, q) {
  if (!session(req)) return error(res, 401, 'UNAUTHENTICATED', 'log in to the console with an auditor or admin token');
  for (const k of ['from', 'to']) {
    if (q.has(k) && !DAY.test(q.get(k))) return error(res, 400, 'INVALID_ARGUMENT', `${k} is a day: YYYY-MM-DD`);
  }
  switch (what) {
    case 'me': return send(res, 200, { brand: 'acme', role: 'ADMIN' });
    case 'batches': return send(res, 200, batches(q));
    case 'campaigns': return send(res, 200, campaigns());
    case 'diversion': return send(res, 200, diversion(q));
    case 'regions': return send(res, 200, REGIONS);
    case 'leaderboard':
      if (q.has('order') && !['cases', 'scans'].includes(q.get('order'))) {
        return error(res, 400, 'INVALID_ARGUMENT', "order is 'cases' or 'scans'");
      }
      return send(res, 200, leaderboard(q));
    case 'diversion.csv': {
      const rows = diversion(q).flags.flatMap((f) => f.evidence.map((e) =>
        [f.caseCodeId, f.rule, f.dealerId, f.shipmentId, f.territory.join(' '), e.clientScanId, e.userId, e.role, e.region,
         e.regionSource, e.scanTime].map(csvField).join(',')));
      return send(res, 200, `case_code_id,rule,dealer_id,shipment_id,territory,client_scan_id,user_id,role,region,region_source,scan_time\n${rows.join('\n')}\n`,
                  'text/csv; charset=utf-8', { 'Content-Disposition': 'attachment; filename="diversion.csv"' });
    }
    case 'leaderboard.csv': {
      const rows = leaderboard(q).entries.map((e) => [e.rank, e.storeId, csvField(e.name), e.region, e.stats.casesOpened,
                                                     e.stats.consumerScans, e.stats.rebateFen].join(','));
      return send(res, 200, `rank,store_id,name,region,cases_opened,consumer_scans,rebate_fen\n${rows.join('\n')}\n`,
                  'text/csv; charset=utf-8', { 'Content-Disposition': 'attachment; filename="leaderboard.csv"' });
    }
    default: return error(res, 404, 'NOT_FOUND', `no console read '${what}'`);
  }
}

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(body));
  });
}

async function login(req, res) {
  let body = null;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    body = null;
  }
  if (!body || typeof body.token !== 'string') {
    return error(res, 400, 'INVALID_ARGUMENT', 'log in with a JSON body {"token": "ym_…"} (an auditor or admin token)');
  }
  if (body.token !== TOKEN) return error(res, 401, 'UNAUTHENTICATED', 'unknown or revoked token');
  const sid = crypto.randomBytes(32).toString('hex');
  sessions.add(sid);
  return send(res, 200, { brand: 'acme', role: 'ADMIN' }, undefined,
              { 'Set-Cookie': `youma_session=${sid}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=28800` });
}

function staticFile(req, res, rel) {
  const file = path.resolve(DIST, `.${rel.endsWith('/') ? `${rel}index.html` : rel}`);
  if (!file.startsWith(DIST + path.sep)) return error(res, 404, 'NOT_FOUND', 'not found');
  fs.readFile(file, (err, data) => {
    if (err) return error(res, 404, 'NOT_FOUND', `no ${rel} in ${DIST} (run npm run build)`);
    return send(res, 200, data, TYPES[path.extname(file)] || 'application/octet-stream',
                { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' });
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (!QUIET) process.stdout.write(`${req.method} ${url.pathname}${url.search}\n`);
  const p = url.pathname;
  if (req.method === 'POST' && p === '/console/login') return login(req, res);
  if (req.method === 'POST' && p === '/console/logout') {
    const sid = session(req);
    if (sid) sessions.delete(sid);
    return send(res, 204, '', 'text/plain', { 'Set-Cookie': 'youma_session=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0' });
  }
  if (req.method !== 'GET') return error(res, 405, 'INVALID_ARGUMENT', 'method not allowed');
  const m = /^\/console\/api\/([a-z]+(?:\.csv)?)$/.exec(p);
  if (m) return api(req, res, m[1], url.searchParams);
  if (p === '/console') return send(res, 302, '', 'text/plain', { Location: '/console/' });
  if (p.startsWith('/console/')) return staticFile(req, res, p.slice('/console'.length));
  return error(res, 404, 'NOT_FOUND', 'not found');
});

server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`youma console dev server: http://127.0.0.1:${server.address().port}/console/ ` +
                       `(token ${TOKEN}, serving ${DIST})\n`);
});
