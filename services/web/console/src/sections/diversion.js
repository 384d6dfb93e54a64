// Diversion (窜货): cases flagged for scans outside their dealer's territory,
// rolled up per dealer and per shipment (with the provinces the goods turned
// up in), each with its evidence scans (expandable) and the same report as
// CSV.
import { h, fill, table, numHead } from '../dom.js';
import { t, label } from '../i18n.js';
import { count, time } from '../format.js';
import { panel, filters, moreLine } from '../panel.js';
import { query } from '../api.js';

function evidenceTable(flag) {
  return table(
    [t('clientScanId'), t('user'), t('scanRole'), t('region'), t('regionSource'), t('scanTime')],
    (flag.evidence || []).map((e) => [
      h('span', { class: 'mono' }, e.clientScanId), e.userId, label(e.role),
      e.regionName ? `${e.regionName} (${e.region})` : e.region, label(e.regionSource), time(e.scanTime)]),
    { class: 'grid compact' });
}

function flagRows(flag) {
  const id = flag.caseCodeId;
  const evidence = flag.evidence || [];
  const detail = h('tr', { class: 'detail', hidden: true, 'data-testid': `diversion-evidence-${id}` },
    h('td', { colspan: '8' }, evidenceTable(flag)));
  const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false',
                               'data-testid': `diversion-toggle-${id}` },
    `${t('evidence')} (${evidence.length}) ▸`);
  toggle.addEventListener('click', () => {
    detail.hidden = !detail.hidden;
    toggle.setAttribute('aria-expanded', String(!detail.hidden));
    toggle.textContent = `${t('evidence')} (${evidence.length}) ${detail.hidden ? '▸' : '▾'}`;
  });
  const row = h('tr', { 'data-testid': `diversion-case-${id}` },
    h('td', { class: 'mono' }, id),
    h('td', {}, label(flag.rule), flag.parameters ? h('div', { class: 'muted small' }, flag.parameters) : null),
    h('td', {}, flag.dealerId || '—'),
    h('td', { class: 'mono' }, flag.shipmentId && flag.shipmentId !== '0' ? flag.shipmentId : '—'),
    h('td', { class: 'mono' }, (flag.territory || []).join(', ') || '—'),
    h('td', { class: 'num' }, count(evidence.length)),
    h('td', {}, time(flag.flagTime)),
    h('td', {}, toggle));
  return [row, detail];
}

// "北京市 9 · 上海市 4": where a dealer's or a shipment's flagged goods were scanned.
function scannedIn(row) {
  return (row.scannedIn || []).map((p) => `${p.name || p.province} ${count(p.scans)}`).join(' · ') || '—';
}

function byDealerTable(byDealer) {
  return table([t('dealer'), numHead(t('flaggedCases')), numHead(t('evidenceScans')), t('scannedIn')],
    byDealer.map((d) => h('tr', { 'data-testid': `diversion-dealer-${d.dealerId}` },
      h('td', {}, d.dealerId || t('neverShipped')), h('td', { class: 'num' }, count(d.flaggedCases)),
      h('td', { class: 'num' }, count(d.evidenceScans)), h('td', {}, scannedIn(d)))),
    { class: 'grid compact' });
}

function byShipmentTable(byShipment) {
  return table([t('shipment'), t('dealer'), t('shipTime'), t('territory'), numHead(t('flaggedCases')),
                numHead(t('evidenceScans')), t('scannedIn')],
    byShipment.map((s) => {
      const id = s.shipmentId || '0';
      return h('tr', { 'data-testid': `diversion-shipment-${id}` },
        h('td', { class: 'mono' }, id === '0' ? t('neverShipped') : id), h('td', {}, s.dealerId || '—'),
        h('td', {}, time(s.shipTime)), h('td', { class: 'mono' }, (s.territory || []).join(', ') || '—'),
        h('td', { class: 'num' }, count(s.flaggedCases)), h('td', { class: 'num' }, count(s.evidenceScans)),
        h('td', {}, scannedIn(s)));
    }),
    { class: 'grid compact' });
}

export function diversion(ctx) {
  const csv = h('a', { class: 'button', href: 'api/diversion.csv', download: 'diversion.csv', 'data-testid': 'diversion-csv' },
    t('csv'));
  // The report comes 500 flags at a time: "More flags" appends the next
  // page; the totals per dealer come with the first and count them all.
  let shown = [];
  let totals = {};  // byDealer, byShipment and shipmentsFlagged, from the first page
  let next = '';
  let reading = '';  // the page token being read; '' for a new report
  let params = {};
  const f = filters([
    { name: 'dealer', id: 'diversion-dealer', label: t('dealer') },
    { name: 'from', id: 'diversion-from', label: t('from'), type: 'date' },
    { name: 'to', id: 'diversion-to', label: t('to'), type: 'date' },
  ], () => {
    reading = '';
    p.refresh();
  }, csv);
  const p = panel(ctx, {
    id: 'diversion',
    title: t('diversion'),
    controls: f.form,
    load: async () => {
      if (!reading) {
        params = f.values();
        csv.setAttribute('href', `api/diversion.csv${query(params)}`);
      }
      const token = reading;
      return { token, data: await ctx.api('api/diversion', { params: { ...params, page_token: token } }) };
    },
    render(body, { token, data }) {
      shown = token ? shown.concat(data.flags || []) : (data.flags || []);
      if (!token) {
        totals = { byDealer: data.byDealer || [], byShipment: data.byShipment || [],
                   shipmentsFlagged: Number(data.shipmentsFlagged || 0) };
      }
      next = data.nextPageToken || '';
      reading = '';
      if (shown.length === 0 && totals.byDealer.length === 0) return fill(body, h('p', { class: 'muted' }, t('none')));
      const moreShipments = totals.shipmentsFlagged - totals.byShipment.length;
      return fill(body,
        h('h4', {}, t('byDealer')),
        byDealerTable(totals.byDealer),
        h('h4', {}, t('byShipment')),
        byShipmentTable(totals.byShipment),
        moreShipments > 0
          ? h('p', { class: 'muted small', 'data-testid': 'diversion-shipments-more' },
            `${t('moreShipments')}: ${count(moreShipments)}`)
          : null,
        h('h4', {}, t('flags')),
        table([t('caseCode'), t('rule'), t('dealer'), t('shipment'), t('territory'), numHead(t('evidence')), t('flagTime'), ''],
          shown.flatMap(flagRows), { class: 'grid' }),
        moreLine({ testid: 'diversion', shownLabel: t('flagsShown'), shown: shown.length, moreLabel: t('moreFlags'),
                   hasMore: !!next, onMore: () => {
                     reading = next;
                     p.refresh();
                   } }));
    },
  });
  return p;
}
