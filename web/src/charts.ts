// ECharts, tree-shaken: line, bar and Sankey charts with the grid, tooltip and legend, on
// canvas (scatters are drawn with line series).
import * as echarts from "echarts/core";
import { BarChart, LineChart, SankeyChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, BarChart, SankeyChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

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

/** A line chart over labelled buckets; with `partial`, the first series' last point (a
 * bucket still under way, such as today) is drawn dotted and named so. */
export function lineChart(el: HTMLElement, labels: string[], series: Series[], fmt: (v: number) => string, partial = false): void {
  const b = base();
  const c = chart(el);
  const n = labels.length;
  const lines: Record<string, unknown>[] = series.map((s, i) => ({
    name: s.name, type: "line", data: partial && i === 0 && n > 1 ? s.data.map((v, j) => (j === n - 1 ? "-" : v)) : s.data,
    showSymbol: n < 40, smooth: false,
    lineStyle: { width: 2, type: i > 0 ? "dashed" : "solid" }, areaStyle: i === 0 ? { opacity: 0.08 } : undefined,
  }));
  if (partial && n > 1 && series.length) {
    const d = series[0].data;
    lines.push({
      name: `${series[0].name} (so far)`, type: "line", data: d.map((v, j) => (j >= n - 2 ? v : "-")),
      showSymbol: true, smooth: false, lineStyle: { width: 2, type: "dotted" }, areaStyle: undefined,
      color: b.color[0],
    });
  }
  c.setOption({
    animation: b.animation,
    color: b.color,
    textStyle: b.textStyle,
    grid: b.grid,
    tooltip: { ...b.tooltip, valueFormatter: (v: unknown) => (v === "-" || v == null ? "–" : fmt(Number(v))) },
    legend: series.length > 1 ? { top: 0, data: series.map((s) => s.name), textStyle: { color: b.axisStyle.text } } : undefined,
    xAxis: {
      type: "category", data: labels, boundaryGap: false,
      axisLine: { lineStyle: { color: b.axisStyle.line } }, axisLabel: { color: b.axisStyle.text },
    },
    yAxis: {
      type: "value", splitLine: { lineStyle: { color: b.axisStyle.line } },
      axisLabel: { color: b.axisStyle.text, formatter: (v: number) => fmt(v) },
    },
    series: lines,
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

export interface Band {
  name: string;
  /** Per bucket: the estimate and its interval ("-" where there is none). */
  mid: (number | "-")[];
  low: (number | "-")[];
  high: (number | "-")[];
}

/** Estimates with their intervals over labelled buckets: each a line in a shaded band
 * (two stacked line series, the lower end and the width, so no new module), with a zero
 * line; `clip` bounds the value axis (a wider band runs off the chart), `tip` gives a
 * bucket's tooltip (text: escaped here). */
export function bandChart(el: HTMLElement, labels: string[], bands: Band[], fmt: (v: number) => string, tip: (i: number) => string, clip?: [number, number]): void {
  const b = base();
  const c = chart(el);
  const quiet = { symbol: "none", silent: true, lineStyle: { opacity: 0 }, emphasis: { disabled: true } };
  c.setOption({
    animation: false,
    color: b.color,
    textStyle: b.textStyle,
    grid: { ...b.grid, top: bands.length > 1 ? 28 : 12 },
    tooltip: { ...b.tooltip, confine: true, formatter: (p: { dataIndex: number }[]) => esc(tip(p[0]?.dataIndex ?? 0)) },
    legend: bands.length > 1 ? { top: 0, data: bands.map((x) => x.name), textStyle: { color: b.axisStyle.text } } : undefined,
    xAxis: {
      type: "category", data: labels, boundaryGap: false,
      axisLine: { lineStyle: { color: b.axisStyle.line } }, axisLabel: { color: b.axisStyle.text },
    },
    yAxis: {
      type: "value", min: clip?.[0], max: clip?.[1], splitLine: { lineStyle: { color: b.axisStyle.line } },
      axisLabel: { color: b.axisStyle.text, formatter: (v: number) => fmt(v) },
    },
    series: [
      { ...quiet, name: "0", type: "line", z: 1, data: labels.map(() => 0), lineStyle: { color: b.axisStyle.text, width: 1, type: "dashed" } },
      ...bands.flatMap((x, i) => {
        const col = b.color[i % b.color.length];
        // The estimate first, whose look the legend shows.
        return [
          { name: x.name, type: "line", z: 3, color: col, data: x.mid, symbol: "circle", symbolSize: 5, showSymbol: labels.length < 40, lineStyle: { width: 2 } },
          { ...quiet, name: x.name, type: "line", color: col, stack: `band${i}`, stackStrategy: "all", data: x.low },
          { ...quiet, name: x.name, type: "line", color: col, stack: `band${i}`, stackStrategy: "all", areaStyle: { color: col, opacity: 0.18 },
            data: x.high.map((v, k) => (v === "-" || x.low[k] === "-" ? "-" : v - (x.low[k] as number))) },
        ];
      }),
    ],
  });
}

export interface FlowNode {
  /** Unique in the chart (a node's step is part of it). */
  id: string;
  label: string;
  /** Its column, 0 on the left. */
  column: number;
  value: number;
  /** page, event, goal, other, exit or entrance: its colour. */
  kind: string;
  tip: string;
}
export interface FlowLink {
  source: string;
  target: string;
  value: number;
  tip: string;
}

/** A Sankey diagram: nodes in the given columns and order (no reordering, so the
 * largest come first), links straight from the data; `onNode` gets a clicked node and
 * where (in the chart's element) it was clicked. */
export function sankeyChart(el: HTMLElement, nodes: FlowNode[], links: FlowLink[], onNode: (id: string, x: number, y: number) => void): void {
  const b = base();
  const colour: Record<string, string> = {
    page: b.color[0], event: b.color[1], goal: b.color[2], other: b.axisStyle.text, exit: b.axisStyle.text, entrance: b.axisStyle.text,
  };
  // Those that ended are paler than the rest.
  const ended = (k: string): boolean => k === "exit" || k === "entrance";
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const c = chart(el);
  c.setOption({
    animation: false,
    textStyle: b.textStyle,
    tooltip: {
      ...b.tooltip, trigger: "item", confine: true,
      formatter: (p: { dataType?: string; name: string; data: { tip?: string } }) => esc(p.dataType === "edge" ? p.data.tip || "" : byId.get(p.name)?.tip || ""),
    },
    series: [{
      type: "sankey", left: 4, right: 130, top: 8, bottom: 8, nodeWidth: 12, nodeGap: 10, layoutIterations: 0, draggable: false,
      emphasis: { focus: "adjacency" },
      label: {
        color: css("--fg") || "#111", fontSize: 11, width: 120, overflow: "truncate",
        formatter: (p: { name: string }) => byId.get(p.name)?.label || "",
      },
      lineStyle: { color: "source", opacity: 0.25, curveness: 0.5 },
      data: nodes.map((n) => ({ name: n.id, depth: n.column, value: n.value, itemStyle: { color: colour[n.kind] || b.color[4], opacity: ended(n.kind) ? 0.35 : 1, borderWidth: 0 } })),
      links: links.map((l) => ({ source: l.source, target: l.target, value: l.value, tip: l.tip })),
    }],
  });
  c.on("click", (p) => {
    const ev = (p.event as { offsetX?: number; offsetY?: number } | undefined) || {};
    if (p.dataType === "node") onNode(p.name, ev.offsetX ?? 0, ev.offsetY ?? 0);
  });
}

export interface Point {
  x: number;
  y: number;
  /** Its tooltip (text: escaped here). */
  tip: string;
  /** Hollow, with a vertical interval from `low` to `high`. */
  hollow?: boolean;
  low?: number;
  high?: number;
}

/** A scatter on two value axes: filled points, hollow points with their intervals, and a
 * straight line; `names` are the legend's (filled, hollow, line). Drawn with line series
 * without lines (the scatter module would add 2 KiB). */
export function scatterChart(el: HTMLElement, points: Point[], line: [number, number][] | null, axes: { x: string; y: string }, fmt: (v: number) => string, names: [string, string, string]): void {
  const b = base();
  const c = chart(el);
  const [fill, hollow, fit] = [b.color[0], b.color[1], b.axisStyle.text];
  const dots = (hol: boolean) => ({
    name: names[hol ? 1 : 0], type: "line", symbol: "circle", symbolSize: hol ? 9 : 8, z: 3,
    itemStyle: hol ? { color: css("--surface") || "#fff", borderColor: hollow, borderWidth: 2 } : { color: fill }, lineStyle: { opacity: 0 }, emphasis: { lineStyle: { opacity: 0 } },
    data: points.filter((p) => !!p.hollow === hol).map((p) => ({ value: [p.x, p.y], tip: p.tip })),
  });
  const axis = (name: string, x: boolean) => ({
    type: "value", min: 0, name, nameLocation: x ? "middle" : "end", nameGap: x ? 28 : 12,
    nameTextStyle: { color: b.axisStyle.text, align: x ? "center" : "left" },
    splitLine: { lineStyle: { color: b.axisStyle.line } }, axisLine: { lineStyle: { color: b.axisStyle.line } },
    axisLabel: { color: b.axisStyle.text, formatter: (v: number) => fmt(v) },
  });
  c.setOption({
    animation: false,
    textStyle: b.textStyle,
    // A phone's legend takes two lines.
    grid: { ...b.grid, top: el.clientWidth < 480 ? 80 : 56, bottom: 30 },
    tooltip: { ...b.tooltip, trigger: "item", confine: true, formatter: (p: { data?: { tip?: string } }) => esc(p.data?.tip || "") },
    legend: { top: 0, textStyle: { color: b.axisStyle.text }, data: [names[0], ...(points.some((p) => p.hollow) ? [names[1]] : []), ...(line ? [{ name: names[2], itemStyle: { opacity: 0 } }] : [])] },
    xAxis: axis(axes.x, true),
    yAxis: axis(axes.y, false),
    series: [
      dots(false),
      dots(true),
      // The intervals: one series (after the hollow points, whose look the legend shows),
      // each a vertical segment, broken by empty values.
      {
        name: names[1], type: "line", silent: true, symbol: "none", connectNulls: false, z: 2, lineStyle: { color: hollow, width: 1.5, opacity: 0.7 },
        data: points.filter((p) => p.hollow && p.low != null && p.high != null).flatMap((p) => [[p.x, p.low], [p.x, p.high], [p.x, "-"]]),
      },
      ...(line ? [{ name: names[2], type: "line", silent: true, symbol: "none", z: 1, color: fit, lineStyle: { color: fit, width: 1.5, type: "dashed" }, data: line }] : []),
    ],
  });
}

const esc = (t: string): string => t.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`).replace(/\n/g, "<br>");
