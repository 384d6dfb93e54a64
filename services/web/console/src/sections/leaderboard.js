// The store leaderboard (店主排行) by cases opened or consumer scans, with CSV.
import { h, fill, table, numHead } from '../dom.js';
import { t } from '../i18n.js';
import { count, yuan } from '../format.js';
import { panel, filters } from '../panel.js';
import { query } from '../api.js';

export function leaderboard(ctx) {
  const csv = h('a', { class: 'button', href: 'api/leaderboard.csv', download: 'leaderboard.csv',
                       'data-testid': 'leaderboard-csv' }, t('csv'));
  const f = filters([
    { name: 'region', id: 'leaderboard-region', label: t('regionPrefix'), placeholder: '44 / 4401' },
    { name: 'order', id: 'leaderboard-order', label: t('order'),
      options: [['cases', t('orderCases')], ['scans', t('orderScans')]] },
  ], () => p.refresh(), csv);
  const p = panel(ctx, {
    id: 'leaderboard',
    title: t('leaderboard'),
    controls: f.form,
    load: () => {
      const params = f.values();
      csv.setAttribute('href', `api/leaderboard.csv${query(params)}`);
      return ctx.api('api/leaderboard', { params });
    },
    render(body, data) {
      const entries = data.entries || [];
      const period = data.fromDay ? h('p', { class: 'muted small' }, `${t('period')}: ${data.fromDay} — ${data.toDay}`) : null;
      if (entries.length === 0) return fill(body, period, h('p', { class: 'muted' }, t('none')));
      return fill(body, period, table(
        [numHead(t('rank')), t('store'), t('storeId'), t('region'), numHead(t('casesOpened')), numHead(t('consumerScans')),
         numHead(t('rebate'))],
        entries.map((e) => {
          const s = e.stats || {};
          return h('tr', { 'data-testid': `store-${e.storeId}` },
            h('td', { class: 'num' }, e.rank),
            h('td', {}, e.name || '—'),
            h('td', { class: 'mono' }, e.storeId),
            h('td', {}, e.regionName ? `${e.regionName} (${e.region})` : e.region || '—'),
            h('td', { class: 'num' }, count(s.casesOpened || 0)),
            h('td', { class: 'num' }, count(s.consumerScans || 0)),
            h('td', { class: 'num' }, yuan(s.rebateFen || 0)));
        }),
        { class: 'grid' }));
    },
  });
  return p;
}
