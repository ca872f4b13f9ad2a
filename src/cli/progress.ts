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
