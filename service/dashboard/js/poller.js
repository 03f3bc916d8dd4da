// Polling that never overlaps itself, pauses while the tab is hidden and stops when told.

// sessionStorage "adamant.pollScale" multiplies every interval (0.1: ten times as often), for
// tests and demos that cannot wait; unset, the intervals are the pages' own.
function scaled(ms) {
  const scale = Number(sessionStorage.getItem("adamant.pollScale"));
  const base = typeof ms === "function" ? ms() : ms;
  return scale > 0 ? base * scale : base;
}

/** Call `tick` every `ms` (a number or a function giving one) after the previous call settled; returns stop(). */
export function every(ms, tick, { immediately = false } = {}) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try {
        await tick();
      } catch (error) {
        if (error?.name !== "AbortError") console.warn("poll failed", error);
      }
    }
    if (!stopped) timer = setTimeout(run, scaled(ms));
  };
  timer = setTimeout(run, immediately ? 0 : scaled(ms));
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
