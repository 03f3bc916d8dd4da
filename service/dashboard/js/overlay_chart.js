// One metric's curves from several runs on one uPlot chart (a comparison's optimizers), x in
// epochs: runs with different batch sizes or step counts still line up.

import { h, replace } from "./dom.js";
import { number } from "./format.js";

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#65a30d", "#475569", "#ca8a04"];

export class OverlayChart {
  constructor(container) {
    this.container = container;
    this.figure = h("figure.chart", { dataset: { chart: "overlay" } });
    this.plot = null;
    this.key = null;
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height() }));
    this.resize.observe(container);
  }

  /** curves: [{label, trial, points: [{step, epoch, value}]}] — redrawn only when they changed. */
  draw(metric, curves) {
    const drawn = curves.filter((c) => c.points.length);
    if (!drawn.length || typeof uPlot === "undefined") {
      replace(this.container, h("p.empty", {}, "No points yet: curves appear after each run's first evaluation."));
      return;
    }
    const x = (p) => (p.epoch ?? p.step);
    const xs = Float64Array.from(new Set(drawn.flatMap((c) => c.points.map(x)))).sort();
    const index = new Map(Array.from(xs, (v, i) => [v, i]));
    const columns = [xs, ...drawn.map((c) => {
      const column = new Array(xs.length).fill(null);
      for (const p of c.points) column[index.get(x(p))] = p.value;
      return column;
    })];
    const labels = drawn.map((c) => (drawn.filter((d) => d.label === c.label).length > 1 ? `${c.label} #${c.trial}` : c.label || `#${c.trial}`));
    const key = `${metric}|${labels.join(",")}`;
    if (!this.container.contains(this.figure)) replace(this.container, this.figure);
    if (this.key !== key) {
      this.plot?.destroy();
      this.plot = new uPlot(this.options(metric, labels), columns, this.figure);
      this.key = key;
    } else {
      this.plot.setData(columns);
    }
    this.figure.dataset.points = String(drawn.reduce((n, c) => n + c.points.length, 0));
    this.figure.dataset.series = String(drawn.length);
  }

  options(metric, labels) {
    return {
      width: this.width(),
      height: this.height(),
      scales: { x: { time: false } },
      axes: [{ label: "epoch", labelSize: 18, size: 36 }, { size: 64, values: (_, ticks) => ticks.map((v) => number(v, 3)) }],
      series: [
        { label: "epoch" },
        ...labels.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
          points: { show: true, size: 5 }, value: (_, v) => number(v) })),
      ],
      title: metric,
    };
  }

  width() {
    return Math.max(240, Math.floor(this.container.clientWidth) - 2);
  }

  height() {
    return window.innerWidth < 640 ? 220 : 300;
  }

  destroy() {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}
