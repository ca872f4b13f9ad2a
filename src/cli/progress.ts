/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal: pipes and CI logs
 * get no carriage-return noise.
 */
export interface Progress {
  tick(n?: number): void;
  done(): void;
}

const WIDTH = 30;
const REDRAW_MS = 50;

export function progress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (stream.isTTY !== true || total <= 0) return { tick() {}, done() {} };
  let count = 0;
  let lastDraw = 0;
  const draw = () => {
    const filled = Math.round((WIDTH * Math.min(count, total)) / total);
    stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${count}/${total}\u001b[K`);
    lastDraw = Date.now();
  };
  draw();
  return {
    tick(n = 1) {
      count += n;
      if (count >= total || Date.now() - lastDraw >= REDRAW_MS) draw();
    },
    done() {
      stream.write("\r\u001b[K");
    },
  };
}

/** What the admin layer reports after each step (`AdminProgress` in src/admin). */
export interface ProgressEvent {
  phase: string;
  done: number;
  total: number;
}

/**
 * One bar per phase of an admin workflow, fed its `onProgress` events: a new phase clears the
 * previous bar. `done()` clears whatever bar is still drawn (a run that failed midway).
 */
export function phaseProgress(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (event: ProgressEvent) => void;
  done: () => void;
} {
  let current: { phase: string; bar: Progress; count: number } | undefined;
  const done = () => {
    current?.bar.done();
    current = undefined;
  };
  return {
    onProgress(event) {
      if (current?.phase !== event.phase) {
        done();
        current = { phase: event.phase, bar: progress(event.phase, event.total, stream), count: 0 };
      }
      if (event.done > current.count) {
        current.bar.tick(event.done - current.count);
        current.count = event.done;
      }
      if (event.done >= event.total) done();
    },
    done,
  };
}

/** Runs an admin workflow with `phaseProgress` bars, cleared however it ends. */
export async function withProgress<T>(
  run: (onProgress: (event: ProgressEvent) => void) => Promise<T>,
): Promise<T> {
  const bars = phaseProgress();
  try {
    return await run(bars.onProgress);
  } finally {
    bars.done();
  }
}
