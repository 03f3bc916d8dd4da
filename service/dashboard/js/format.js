// How numbers, times, sizes and metrics read on screen.

export function number(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toLocaleString(undefined, { maximumFractionDigits: 6 });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
}

export function bytes(size) {
  if (size === null || size === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function epochTime(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
}

export function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

// The metric a task is judged by (the service's default monitor, adamant/spec.py DEFAULT_MONITOR,
// except segmentation, where silhouette says more to a person than the reconstruction loss).
const MAIN_METRIC = {
  binary_classification: ["val_auc", "val_loss"],
  multiclass_classification: ["val_accuracy", "val_loss"],
  regression: ["val_rmse", "val_loss"],
  recommendation: ["val_rmse", "val_ndcg_10", "val_hr_10", "val_loss"], // implicit feedback has no val_rmse
  segmentation: ["val_silhouette", "val_loss"],
};

/** [name, value] of the job's headline metric: the spec's monitor if set, else the task's. Final
 * metrics (a segmentation's silhouette) come from the result's summary. */
export function mainMetric(job) {
  const best = { ...(job.result?.summary?.metrics || {}), ...(job.best_metrics || {}) };
  const monitor = job.spec?.training?.monitor;
  const names = [monitor, ...(MAIN_METRIC[job.task] || []), "val_loss"].filter(Boolean);
  for (const name of names) if (best[name] !== undefined && best[name] !== null) return [name, best[name]];
  return null;
}
