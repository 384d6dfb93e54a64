// Campaigns: budget spent and left (read again every 5 s, so they move while
// people scan), awards per tier, fraud limits hit, store rewards and payouts.
import { h, fill, table, numHead } from '../dom.js';
import { t, label } from '../i18n.js';
import { count, num, ppm, time, yuan, yuanNumber } from '../format.js';
import { panel } from '../panel.js';
import { barChart, short } from '../charts.js';

export const POLL_MS = 5000;

function stat(name, value, props = {}) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, name), h('div', { class: 'stat-value', ...props }, value));
}

function tiersTable(c) {
  const spec = (c.spec && c.spec.tiers) || [];
  const stats = c.tiers || [];
  if (spec.length === 0) return null;
  return table(
    [t('tier'), numHead(t('amount')), numHead(t('probability')), numHead(t('cap')), numHead(t('awarded')),
     numHead(t('paid'))],
    spec.map((tier, i) => {
      const s = stats[i] || {};
      return h('tr', {},
        h('td', {}, tier.name),
        [yuan(tier.amountFen), ppm(tier.probabilityPpm), num(tier.maxCount) > 0 ? count(tier.maxCount) : t('noCap'),
         count(s.awarded || 0), yuan(s.amountFen || 0)].map((x) => h('td', { class: 'num' }, x)));
    }),
    { class: 'grid compact' });
}

function card(c) {
  const id = c.campaignId;
  const spec = c.spec || {};
  const budget = num(spec.budgetFen);
  const spentShare = budget > 0 ? Math.min(100, (100 * num(c.spentFen)) / budget) : 0;
  const payouts = c.payouts || {};
  const limits = c.limitsHit || [];
  return h('article', { class: 'campaign', 'data-testid': `campaign-${id}` },
    h('header', {},
      h('h3', {}, spec.name || `#${id}`),
      h('span', { class: 'muted mono' }, `#${id}`),
      h('span', { class: `badge state-${String(c.state || '').toLowerCase()}` }, label(c.state)),
      c.budgetExhausted ? h('span', { class: 'badge warn', 'data-testid': `campaign-exhausted-${id}` }, t('exhausted')) : null),
    spec.startTime || spec.endTime
      ? h('p', { class: 'muted small' }, `${t('period')}: ${time(spec.startTime)} — ${time(spec.endTime)}`) : null,
    h('div', { class: 'stats' },
      stat(t('budget'), yuan(spec.budgetFen)),
      stat(t('spent'), yuan(c.spentFen), { 'data-testid': `campaign-spent-${id}`, 'data-fen': c.spentFen || '0' }),
      stat(t('left'), yuan(c.leftFen), { 'data-testid': `campaign-left-${id}`, 'data-fen': c.leftFen || '0' }),
      stat(t('awards'), count(c.awards || 0), { 'data-testid': `campaign-awards-${id}` })),
    h('div', { class: 'meter' }, h('span', { style: { width: `${spentShare}%` } })),
    h('div', { class: 'columns' },
      h('div', {}, h('h4', {}, t('tiers')), tiersTable(c) || h('p', { class: 'muted' }, t('none'))),
      h('div', {},
        h('h4', {}, t('payouts')),
        h('div', { class: 'stats small', 'data-testid': `campaign-payouts-${id}` },
          ['pending', 'sent', 'confirmed', 'failed'].map((s) => stat(t(s), count(payouts[s] || 0)))),
        h('h4', {}, t('storeRewards')),
        h('p', {}, `${t('registrationBonuses')}: ${count(c.registrationBonuses || 0)} / ${yuan(c.registrationBonusFen || 0)}`,
          h('br'), `${t('rebates')}: ${count(c.rebates || 0)} / ${yuan(c.rebateFen || 0)}`),
        h('h4', {}, t('limitsHit')),
        limits.length === 0 ? h('p', { class: 'muted' }, t('none'))
          : h('ul', { 'data-testid': `campaign-limits-${id}` },
              limits.map((l) => h('li', {}, `${label(l.rule)}: ${count(l.scans)} ${t('scansHeld')}`))))),
    h('p', { class: 'muted small mono seed' },
      c.seedSha256 ? `${t('seedSha256')}: ${c.seedSha256}` : null,
      c.seedHex ? h('br') : null,
      c.seedHex ? `${t('seedHex')}: ${c.seedHex}` : null));
}

export function campaigns(ctx) {
  let chart = null;
  const chartEl = h('div', { class: 'chart', 'data-testid': 'campaign-budget-chart' });
  const cards = h('div', { class: 'cards' });
  const content = h('div', {}, h('h4', {}, t('budgetChart')), chartEl, cards);
  const p = panel(ctx, {
    id: 'campaigns',
    title: t('campaigns'),
    load: () => ctx.api('api/campaigns'),
    render(body, data) {
      const list = data.campaigns || [];
      if (list.length === 0) return fill(body, h('p', { class: 'muted' }, t('none')));
      // The chart stays in place between polls so its bars move instead of redrawing.
      if (content.parentNode !== body) fill(body, content);
      chartEl.style.height = `${80 + 36 * list.length}px`;
      if (!chart) {
        chart = barChart(chartEl);
        ctx.onDispose(() => chart.dispose());
      }
      chart.set({
        grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: 'value', name: t('yuan') },
        yAxis: { type: 'category', data: list.map((c) => short((c.spec && c.spec.name) || `#${c.campaignId}`, 16)),
                 inverse: true },
        series: [
          { name: t('spent'), type: 'bar', stack: 'budget', data: list.map((c) => yuanNumber(c.spentFen)) },
          { name: t('left'), type: 'bar', stack: 'budget', data: list.map((c) => Math.max(0, yuanNumber(c.leftFen))),
            itemStyle: { color: '#c9d3df' } },
        ],
      });
      return fill(cards, list.map(card));
    },
  });
  ctx.every(POLL_MS, p.refresh);
  return p;
}
