// A job's metric points as one series per name: the last value per (name, step), steps ascending.
//
// Points arrive from a downsampled history (?max_points=) and then incremental polls (?after=).
// After a job resumes from a checkpoint, the steps past it run again and their points arrive a
// second time with a higher seq: the higher seq wins, so a re-run step replaces the old value.

export class MetricSeries {
  constructor() {
    this.byName = new Map(); // name -> { steps: [], values: [], seqs: [] }
    this.maxSeq = 0;
    this.version = 0; // bumped on every change, so a chart redraws only when there is news
  }

  add(points) {
    for (const point of points) {
      let series = this.byName.get(point.name);
      if (!series) {
        series = { steps: [], values: [], seqs: [] };
        this.byName.set(point.name, series);
      }
      insert(series, point);
      if (point.seq > this.maxSeq) this.maxSeq = point.seq;
    }
    if (points.length) this.version += 1;
  }

  names() {
    return [...this.byName.keys()].sort();
  }

  get(name) {
    return this.byName.get(name);
  }

  /** The newest value of a series (what a chart's caption shows). */
  last(name) {
    const series = this.byName.get(name);
    if (!series) return undefined;
    for (let i = series.values.length - 1; i >= 0; i -= 1) if (series.values[i] !== null) return series.values[i];
    return null;
  }

  /** How many points are held in all, one per (name, step). */
  size() {
    let count = 0;
    for (const series of this.byName.values()) count += series.steps.length;
    return count;
  }
}

function insert(series, point) {
  const { steps, values, seqs } = series;
  const n = steps.length;
  if (n === 0 || point.step > steps[n - 1]) {
    steps.push(point.step);
    values.push(point.value);
    seqs.push(point.seq);
    return;
  }
  // Binary search for the first step >= point.step.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] < point.step) lo = mid + 1;
    else hi = mid;
  }
  if (steps[lo] === point.step) {
    if (point.seq >= seqs[lo]) {
      values[lo] = point.value;
      seqs[lo] = point.seq;
    }
    return;
  }
  steps.splice(lo, 0, point.step);
  values.splice(lo, 0, point.value);
  seqs.splice(lo, 0, point.seq);
}
