// A model's two charts (uPlot): one metric per registered version, and drift per monitoring run
// over time with the PSI conventions (0.1 moderate, 0.25 significant) drawn across it.

import { h, replace } from "./dom.js";
import { number } from "./format.js";

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];
// adamant/monitoring/drift.py: PSI < 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant.
// [PSI, colour, label, label above (-1) or below (1) its line: the two lie close on a log axis]
const THRESHOLDS = [[0.1, "#d97706", "0.1 moderate", 1], [0.25, "#b91c1c", "0.25 significant", -1]];

/** One uPlot chart in one figure: rebuilt when its series change, else given new data. */
class FigureChart {
  constructor(container, id) {
    this.container = container;
    this.figure = h("figure.chart", { dataset: { chart: id } });
    this.caption = h("figcaption");
    this.plot = null;
    this.key = null;
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height() }));
    this.resize.observe(container);
  }

  /** columns: uPlot's aligned data; `key` names the series (a new key builds the chart again). */
  show(key, columns, options, caption) {
    if (typeof uPlot === "undefined") return;
    if (!this.container.contains(this.figure)) replace(this.container, this.figure);
    replace(this.caption, caption);
    if (this.key !== key) {
      this.plot?.destroy();
      this.figure.replaceChildren(this.caption);
      this.plot = new uPlot({ width: this.width(), height: this.height(), ...options }, columns, this.figure);
      this.key = key;
    } else {
      this.plot.setData(columns);
    }
  }

  empty(text) {
    this.plot?.destroy();
    this.plot = null;
    this.key = null;
    replace(this.container, h("p.empty", {}, text));
  }

  width() {
    return Math.max(240, Math.floor(this.container.clientWidth) - 2);
  }

  height() {
    return window.innerWidth < 640 ? 180 : 220;
  }

  destroy() {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}

/** The validation metrics a version carries (val_auc, val_rmse, ...), `first` leading. */
export function versionMetricNames(versions, first) {
  const names = new Set();
  for (const v of versions) {
    for (const [name, value] of Object.entries(v.metrics || {})) if (name.startsWith("val_") && typeof value === "number") names.add(name);
  }
  return [...names].sort((a, b) => (a === first ? -1 : b === first ? 1 : a.localeCompare(b)));
}

/** `metric` of each version, x the version number. */
export class VersionMetricChart extends FigureChart {
  constructor(container) {
    super(container, "versions");
  }

  draw(versions, metric) {
    const points = versions.filter((v) => typeof v.metrics?.[metric] === "number");
    if (!points.length) {
      this.empty("No version has a validation metric to chart.");
      return;
    }
    const columns = [points.map((v) => v.version), points.map((v) => v.metrics[metric])];
    this.show(metric, columns, {
      scales: { x: { time: false, range: (_, min, max) => [min - 0.5, max + 0.5] } },
      axes: [
        { label: "version", labelSize: 18, size: 36, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
          values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? `v${v}` : "")) },
        { size: 64, values: (_, ticks) => ticks.map((v) => number(v, 3)) },
      ],
      series: [
        { label: "version", value: (_, v) => (v === null ? "–" : `v${v}`) },
        { label: metric, stroke: COLOURS[0], width: 1.5, points: { show: true, size: 7 }, value: (_, v) => number(v) },
      ],
    }, [h("span.chart-title", {}, `${metric} per version`),
      h("span.chart-latest", {}, points.map((v) => `v${v.version} ${number(v.metrics[metric])}`).join(" · "))]);
    this.figure.dataset.points = String(points.length);
    this.figure.dataset.metric = metric;
  }
}

/** Each finished run's drift report: the largest feature PSI and the score's PSI at the run's time. */
export class DriftChart extends FigureChart {
  constructor(container) {
    super(container, "drift");
  }

  draw(runs) {
    const drifted = runs.filter((r) => r.findings?.drift)
      .map((r) => ({ run: r, at: Date.parse(r.created_at) / 1000 }))
      .sort((a, b) => a.at - b.at);
    if (!drifted.length) {
      this.empty("No drift reports yet: each finished monitoring run's scoring adds a point.");
      return;
    }
    const value = (x) => (typeof x === "number" && x > 0 ? x : null); // a log axis shows no zero
    const columns = [drifted.map((d) => d.at), drifted.map((d) => value(d.run.findings.drift.max_feature_psi)),
      drifted.map((d) => value(d.run.findings.drift.score_psi))];
    this.show("drift", columns, {
      scales: {
        // one run: a minute either side, so its point is not pinned to an edge
        x: { range: (_, min, max) => (min === max ? [min - 60, max + 60] : [min, max]) },
        // log: a stable run's 1e-4 and a shifted one's 5 both show, and the thresholds always
        y: { distr: 3, log: 10, range: (_, min, max) => uPlot.rangeLog(Math.min(min, 0.05), Math.max(max, 0.5), 10, true) },
      },
      axes: [{ size: 50 }, { size: 56, filter: powersOnly, grid: { filter: powersOnly }, ticks: { filter: powersOnly },
        values: (_, ticks) => ticks.map((v) => (v === null ? "" : v >= 0.001 ? String(v) : `1e${Math.round(Math.log10(v))}`)) }],
      series: [
        {},
        { label: "largest feature PSI", stroke: COLOURS[0], width: 1.5, spanGaps: true, points: { show: true, size: 7 },
          value: (u, v, _, i) => (v === null ? "–" : `${number(v)}${i !== null && drifted[i] ? ` (${drifted[i].run.findings.drift.max_feature || "?"})` : ""}`) },
        { label: "score PSI", stroke: COLOURS[1], width: 1.5, spanGaps: true, points: { show: true, size: 7 }, value: (_, v) => number(v) },
      ],
      hooks: { draw: [drawThresholds] },
    }, [h("span.chart-title", {}, "Drift per monitoring run (PSI)"),
      h("span.chart-latest", {}, "dashed: 0.1 moderate · 0.25 significant")]);
    this.figure.dataset.points = String(drifted.length);
    this.figure.dataset.runs = drifted.map((d) => d.run.id).join(",");
  }
}

// A log axis ticks 1..9 of every power of ten: the powers only get a line and a label.
function powersOnly(_, ticks) {
  return ticks.map((v) => (Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? v : null));
}

function drawThresholds(u) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.lineWidth = Math.max(1, devicePixelRatio);
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  ctx.textAlign = "left";
  for (const [psi, colour, label, side] of THRESHOLDS) {
    const y = Math.round(u.valToPos(psi, "y", true));
    if (y < bbox.top || y > bbox.top + bbox.height) continue;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    ctx.textBaseline = side < 0 ? "bottom" : "top";
    ctx.fillText(label, bbox.left + 4 * devicePixelRatio, y + side * 3 * devicePixelRatio);
  }
  ctx.restore();
}
