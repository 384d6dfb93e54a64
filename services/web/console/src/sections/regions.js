// Scans and counterfeit scans per province: a bar chart and a table whose
// top counterfeit provinces are marked as hot spots.
import { h, fill, table, numHead } from '../dom.js';
import { t } from '../i18n.js';
import { count, num, percent } from '../format.js';
import { panel, filters } from '../panel.js';
import { barChart, short } from '../charts.js';

const HOT_SPOTS = 3;

export function regions(ctx) {
  let chart = null;
  const chartEl = h('div', { class: 'chart tall', 'data-testid': 'regions-chart' });
  const tableWrap = h('div', {});
  const content = h('div', {}, chartEl, tableWrap);
  const f = filters([
    { name: 'from', id: 'regions-from', label: t('from'), type: 'date' },
    { name: 'to', id: 'regions-to', label: t('to'), type: 'date' },
  ], () => p.refresh());
  const p = panel(ctx, {
    id: 'regions',
    title: t('regions'),
    controls: f.form,
    load: () => ctx.api('api/regions', { params: f.values() }),
    render(body, data) {
      const list = (data.regions || []).slice()
        .sort((a, b) => num(b.counterfeits) - num(a.counterfeits) || num(b.scans) - num(a.scans));
      if (list.length === 0) return fill(body, h('p', { class: 'muted' }, t('none')));
      if (content.parentNode !== body) fill(body, content);
      if (!chart) {
        chart = barChart(chartEl);
        ctx.onDispose(() => chart.dispose());
      }
      const byScans = list.slice().sort((a, b) => num(b.scans) + num(b.counterfeits) - num(a.scans) - num(a.counterfeits));
      chart.set({
        grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: 'category', data: byScans.map((r) => short(r.name || r.region, 8)),
                 axisLabel: { interval: 0, rotate: byScans.length > 8 ? 40 : 0 } },
        // Counterfeits are few beside genuine scans: their own axis keeps hot spots visible.
        yAxis: [{ type: 'value', name: t('scans'), nameTextStyle: { align: 'left' } },
                { type: 'value', name: t('counterfeits'), nameTextStyle: { align: 'right' }, splitLine: { show: false } }],
        series: [
          { name: t('scans'), type: 'bar', data: byScans.map((r) => num(r.scans)) },
          { name: t('counterfeits'), type: 'bar', yAxisIndex: 1, data: byScans.map((r) => num(r.counterfeits)) },
        ],
      });
      return fill(tableWrap, table(
        [t('province'), t('adcode'), numHead(t('scans')), numHead(t('counterfeits')), numHead(t('counterfeitShare'))],
        list.map((r, i) => {
          const hot = i < HOT_SPOTS && num(r.counterfeits) > 0;
          return h('tr', { class: hot ? 'hot' : null, 'data-testid': `region-${r.region}` },
            h('td', {}, r.name || r.region, hot ? h('span', { class: 'badge warn' }, t('hotSpot')) : null),
            h('td', { class: 'mono' }, r.region),
            h('td', { class: 'num' }, count(r.scans)),
            h('td', { class: 'num' }, count(r.counterfeits)),
            h('td', { class: 'num' }, percent(r.counterfeits, num(r.scans) + num(r.counterfeits))));
        }),
        { class: 'grid' }));
    },
  });
  return p;
}
