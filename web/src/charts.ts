// ECharts, tree-shaken: line and bar charts with the grid, tooltip and legend, on canvas.
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

const live = new Set<echarts.ECharts>();

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Disposes the charts of the previous view. */
export function disposeAll(): void {
  for (const c of live) c.dispose();
  live.clear();
}

let resizeBound = false;
function chart(el: HTMLElement): echarts.ECharts {
  const c = echarts.init(el, undefined, { renderer: "canvas" });
  live.add(c);
  if (!resizeBound) {
    resizeBound = true;
    window.addEventListener("resize", () => live.forEach((x) => x.resize()));
  }
  return c;
}

function base() {
  const text = css("--muted") || "#666";
  const line = css("--border") || "#ddd";
  return {
    animation: false,
    color: [css("--accent") || "#2563eb", css("--accent2") || "#f59e0b", "#10b981", "#ef4444", "#8b5cf6"],
    textStyle: { color: text, fontFamily: "inherit" },
    grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
    tooltip: {
      trigger: "axis",
      backgroundColor: css("--surface") || "#fff",
      borderColor: line,
      textStyle: { color: css("--fg") || "#111" },
    },
    axisStyle: { line, text },
  };
}

export interface Series {
  name: string;
  data: number[];
}

/** A line chart over labelled buckets. */
export function lineChart(el: HTMLElement, labels: string[], series: Series[], fmt: (v: number) => string): void {
  const b = base();
  const c = chart(el);
  c.setOption({
    animation: b.animation,
    color: b.color,
    textStyle: b.textStyle,
    grid: b.grid,
    tooltip: { ...b.tooltip, valueFormatter: (v: unknown) => fmt(Number(v)) },
    legend: series.length > 1 ? { top: 0, textStyle: { color: b.axisStyle.text } } : undefined,
    xAxis: {
      type: "category", data: labels, boundaryGap: false,
      axisLine: { lineStyle: { color: b.axisStyle.line } }, axisLabel: { color: b.axisStyle.text },
    },
    yAxis: {
      type: "value", splitLine: { lineStyle: { color: b.axisStyle.line } },
      axisLabel: { color: b.axisStyle.text, formatter: (v: number) => fmt(v) },
    },
    series: series.map((s, i) => ({
      name: s.name, type: "line", data: s.data, showSymbol: labels.length < 40, smooth: false,
      lineStyle: { width: 2, type: i > 0 ? "dashed" : "solid" }, areaStyle: i === 0 ? { opacity: 0.08 } : undefined,
    })),
  });
}

/** A bar chart; horizontal puts the categories on the y axis (a funnel). */
export function barChart(el: HTMLElement, labels: string[], series: Series[], fmt: (v: number) => string, horizontal = false): void {
  const b = base();
  const c = chart(el);
  const cat = {
    type: "category", data: labels, inverse: horizontal,
    axisLine: { lineStyle: { color: b.axisStyle.line } }, axisLabel: { color: b.axisStyle.text, width: 140, overflow: "truncate" },
  };
  const val = {
    type: "value", splitLine: { lineStyle: { color: b.axisStyle.line } },
    axisLabel: { color: b.axisStyle.text, formatter: (v: number) => fmt(v) },
  };
  c.setOption({
    animation: b.animation,
    color: b.color,
    textStyle: b.textStyle,
    grid: b.grid,
    tooltip: { ...b.tooltip, axisPointer: { type: "shadow" }, valueFormatter: (v: unknown) => fmt(Number(v)) },
    legend: series.length > 1 ? { top: 0, textStyle: { color: b.axisStyle.text } } : undefined,
    xAxis: horizontal ? val : cat,
    yAxis: horizontal ? cat : val,
    series: series.map((s) => ({
      name: s.name, type: "bar", data: s.data, barMaxWidth: 48,
      label: horizontal ? { show: true, position: "right", color: b.axisStyle.text, formatter: (p: { value: number }) => fmt(p.value) } : undefined,
    })),
  });
}
