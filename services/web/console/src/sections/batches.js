// Batches and how many of their codes are active, not yet active, frozen or revoked.
import { h, fill, table, numHead } from '../dom.js';
import { t, label } from '../i18n.js';
import { count, num, time } from '../format.js';
import { panel, moreLine } from '../panel.js';

const STATES = ['active', 'notActive', 'frozen', 'revoked'];

function statesCell(states = {}) {
  const total = STATES.reduce((sum, s) => sum + num(states[s]), 0);
  const bar = h('div', { class: 'states-bar' },
    STATES.map((s) => h('span', { class: `state-${s}`, style: { flexGrow: String(num(states[s])) } })));
  return h('div', { class: 'states' },
    total > 0 ? bar : null,
    h('div', { class: 'states-legend' },
      STATES.map((s) => h('span', { class: `legend-${s}` }, `${t(s)} ${count(states[s] || 0)}`))));
}

// Newest first, a page at a time: "Older batches" appends the next page
// (the server reads each page's range changes, so a brand with thousands of
// batches is never read whole).
export function batches(ctx) {
  let shown = [];
  let next = '';  // the server's token for the page after the last one shown
  let reading = '';  // the page token being read; '' for the newest page
  const section = panel(ctx, {
    id: 'batches',
    title: t('batches'),
    load: async () => ({ token: reading, data: await ctx.api('api/batches', { params: { page_token: reading } }) }),
    render(body, { token, data }) {
      shown = token ? shown.concat(data.batches || []) : (data.batches || []);
      next = data.nextPageToken || '';
      reading = '';
      if (shown.length === 0) return fill(body, h('p', { class: 'muted' }, t('none')));
      return fill(body, table(
        [t('batchId'), t('product'), t('gtin'), t('kind'), numHead(t('quantity')), numHead(t('codeCount')), t('activation'),
         t('created'), t('codeStates')],
        shown.map((b) => h('tr', { 'data-testid': `batch-${b.batchId}` },
          h('td', { class: 'mono' }, b.batchId),
          h('td', {}, b.productName || '—'),
          h('td', { class: 'mono' }, b.gtin),
          h('td', {}, label(b.kind)),
          h('td', { class: 'num' }, count(b.quantity)),
          h('td', { class: 'num' }, count(b.codeCount)),
          h('td', {}, label(b.activation || 'ACTIVATION_POLICY_UNSPECIFIED'),
            b.activateTime ? h('div', { class: 'muted small' }, time(b.activateTime)) : null),
          h('td', {}, time(b.createTime)),
          h('td', {}, statesCell(b.states)))),
        { class: 'grid' }),
        moreLine({ testid: 'batches', shownLabel: t('batchesShown'), shown: shown.length, moreLabel: t('olderBatches'),
                   hasMore: !!next, onMore: () => {
                     reading = next;
                     section.refresh();
                   } }));
    },
  });
  return section;
}
