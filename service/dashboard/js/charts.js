// A job's charts (uPlot): which metrics share a chart, and drawing them from a MetricSeries.

import { h, replace } from "./dom.js";
import { number } from "./format.js";

// Metrics that share units share a chart; names no group claims get a chart of their own.
const GROUPS = [
  { id: "loss", title: "Loss (training and validation)", names: ["loss", "train_loss", "val_loss", "val_log_loss"] },
  { id: "quality", title: "Validation quality", names: ["val_auc", "val_accuracy", "val_silhouette"] },
  // Implicit feedback: the full catalogue (explicit ratings: against 100 sampled items, see the docs)
  { id: "ranking", title: "Ranking: hit rate and NDCG of the held-out items", names: ["val_hr_10", "val_ndcg_10", "val_recall_20"] },
  { id: "sampled", title: "Ranking against 100 sampled items (He et al. 2017)", names: ["val_sampled_hr_10", "val_sampled_ndcg_10"] },
  { id: "catalogue", title: "Catalogue coverage of the top 10", names: ["val_coverage_10"] },
  { id: "lift", title: "Lift in the top 10%", names: ["val_lift_10"] },
  { id: "error", title: "Validation error", names: ["val_rmse", "val_mae"] },
  { id: "lr", title: "Learning rate", names: ["lr"] },
  { id: "grad_norm", title: "Gradient norm", names: ["grad_norm"], log: true },
  { id: "update_ratio", title: "Adam update / parameter ratio", prefix: "update_ratio", log: true,
    label: (name) => (name === "update_ratio" ? "all" : name.slice("update_ratio/".length)) },
  { id: "throughput", title: "Throughput (samples/s)", names: ["samples_per_s"] },
];

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#65a30d", "#475569"];
// Points measured once per evaluation are few: draw their dots so a single one is visible.
const SPARSE = (name) => name.startsWith("val_") || name === "train_loss";

function groupsFor(names) {
  const claimed = new Set();
  const groups = [];
  for (const group of GROUPS) {
    const members = group.prefix
      ? names.filter((n) => n === group.prefix || n.startsWith(`${group.prefix}/`)).sort((a, b) => (a === group.prefix ? -1 : b === group.prefix ? 1 : a.localeCompare(b)))
      : group.names.filter((n) => names.includes(n));
    members.forEach((n) => claimed.add(n));
    if (members.length) groups.push({ ...group, members });
  }
  for (const name of names) {
    if (!claimed.has(name)) groups.push({ id: `metric-${name}`, title: name, members: [name] });
  }
  return groups;
}

/** The series as uPlot's aligned columns: [steps, values of each name (null where absent)]. */
function aligned(store, names, log) {
  const all = new Set();
  for (const name of names) for (const step of store.get(name).steps) all.add(step);
  const steps = Float64Array.from(all).sort();
  const columns = [steps];
  let points = 0;
  for (const name of names) {
    const series = store.get(name);
    const column = new Array(steps.length).fill(null);
    let j = 0;
    for (let i = 0; i < series.steps.length; i += 1) {
      while (steps[j] < series.steps[i]) j += 1;
      const value = series.values[i];
      // A log scale cannot show zero or less; the gap says "no value here".
      column[j] = value === null || (log && value <= 0) ? null : value;
      if (column[j] !== null) points += 1;
    }
    columns.push(column);
  }
  return { columns, points };
}

function axisValues(_, ticks) {
  return ticks.map((v) => (v === null ? "" : number(v, 3)));
}

export class ChartBoard {
  /** Draws every chart the metrics in `store` call for into `container`, on demand. */
  constructor(container, store) {
    this.container = container;
    this.store = store;
    this.charts = new Map(); // group id -> { el, caption, plot, key }
    this.drawnVersion = -1;
    this.frame = null;
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  /** Redraw at the next frame if the store changed since the last drawing. */
  update() {
    if (this.frame === null) this.frame = requestAnimationFrame(() => { this.frame = null; this.draw(); });
  }

  draw() {
    if (this.store.version === this.drawnVersion || typeof uPlot === "undefined") return;
    this.drawnVersion = this.store.version;
    const groups = groupsFor(this.store.names());
    if (!groups.length) {
      for (const chart of this.charts.values()) chart.plot?.destroy();
      this.charts.clear();
      replace(this.container, h("p.empty", {}, "No metrics yet: points appear here as soon as training logs them."));
      this.container.dataset.points = "0";
      return;
    }
    this.container.querySelector(":scope > p.empty")?.remove();
    for (const group of groups) this.drawGroup(group);
    this.container.dataset.points = String(this.store.size());
  }

  drawGroup(group) {
    const { columns, points } = aligned(this.store, group.members, group.log);
    if (group.log && points === 0 && !this.charts.has(group.id)) return; // nothing a log axis can show yet
    const key = group.members.join(",");
    let chart = this.charts.get(group.id);
    if (!chart) {
      const caption = h("figcaption", {});
      const el = h("figure.chart", { dataset: { chart: group.id } }, caption);
      this.container.append(el);
      chart = { el, caption, plot: null, key: null };
      this.charts.set(group.id, chart);
    }
    if (chart.key !== key) {
      // A new series joined the chart (val_loss after the first evaluation): build it again.
      chart.plot?.destroy();
      chart.plot = new uPlot(this.options(group, chart.el), columns, chart.el);
      chart.key = key;
    } else {
      chart.plot.setData(columns);
    }
    chart.el.dataset.points = String(points);
    chart.el.dataset.series = key;
    const label = group.label || ((n) => n);
    replace(chart.caption, h("span.chart-title", {}, group.title),
      h("span.chart-latest", {}, group.members.map((n) => `${label(n)} ${number(this.store.last(n))}`).join(" · ")));
  }

  options(group, el) {
    const label = group.label || ((n) => n);
    return {
      width: this.width(el),
      height: this.height(),
      scales: { x: { time: false }, y: group.log ? { distr: 3, log: 10 } : {} },
      axes: [
        { label: "step", labelSize: 18, size: 36, values: axisValues },
        { size: 64, values: axisValues },
      ],
      series: [
        { label: "step", value: (_, v) => (v === null ? "–" : String(v)) },
        ...group.members.map((name, i) => ({
          label: label(name),
          stroke: COLOURS[i % COLOURS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: SPARSE(name), size: 5 },
          value: (_, v) => number(v),
        })),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
  }

  width(el) {
    return Math.max(240, Math.floor((el || this.container).clientWidth) - 2);
  }

  height() {
    return window.innerWidth < 640 ? 170 : 210;
  }

  fit() {
    for (const chart of this.charts.values()) {
      if (chart.plot) chart.plot.setSize({ width: this.width(chart.el), height: this.height() });
    }
  }

  /** Total points drawn in the named chart (what a test or a curious user can read off the DOM). */
  points(groupId) {
    return Number(this.charts.get(groupId)?.el.dataset.points || 0);
  }

  destroy() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    for (const chart of this.charts.values()) chart.plot?.destroy();
    this.charts.clear();
  }
}
