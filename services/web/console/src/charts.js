// Bar charts with ECharts, drawn on canvas. Only the parts used are bundled.
// Tooltips are drawn on the canvas too (renderMode 'richText'), so names from
// the server never reach an HTML tooltip.
import * as echarts from 'echarts/core';
import { BarChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

const COLORS = ['#2f6fdf', '#d9463b', '#9aa5b1'];

// A chart in `el` that follows the element's size. Call dispose() when the
// element goes away.
export function barChart(el) {
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    set(option) {
      chart.setOption({
        color: COLORS,
        animationDuration: 300,
        tooltip: { trigger: 'axis', renderMode: 'richText', axisPointer: { type: 'shadow' } },
        legend: { top: 0 },
        ...option,
      }, { notMerge: false, replaceMerge: ['series', 'xAxis', 'yAxis'] });
    },
    dispose() {
      observer.disconnect();
      chart.dispose();
    },
  };
}

// Long names are cut for axis labels (the table beside the chart has them whole).
export function short(name, max = 12) {
  const s = String(name);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
