// At most one call per `ms`: the first after `delay` (0: at once), later ones folded into one
// at the end of the window (so the last event of a burst is never lost).

export type Throttled = { (): void; cancel: () => void };

export function throttle(fn: () => void, ms: number, delay = 0, now: () => number = Date.now): Throttled {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    timer = null;
    last = now();
    fn();
  };
  const call = (() => {
    if (timer) return;
    const wait = Math.max(delay, last + ms - now());
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  }) as Throttled;
  call.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return call;
}
