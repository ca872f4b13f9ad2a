// `statekeeper serve` as a child process (the real binary, bin/statekeeper.js → dist/), on
// loopback with a free port, for tests that talk to it over real HTTP.
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { BIN } from "../cli/helpers.js";

export interface RunningServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly pid: number;
  stderr(): string;
  /** The access log lines written so far. */
  accessLog(): Array<Record<string, unknown>>;
  /**
   * The access log once `done` holds for it, or as it is after 5 s. A line is written after its
   * answer and reaches this process through another pipe: it may come after the answer does.
   */
  accessLogWhen(
    done: (lines: Array<Record<string, unknown>>) => boolean,
  ): Promise<Array<Record<string, unknown>>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** kill -9, then the signal. */
  kill9(): Promise<NodeJS.Signals | null>;
  /** Resolves when the process has exited, however it was stopped. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  store: string;
  args?: readonly string[];
  env?: Record<string, string>;
  cwd?: string;
}

function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && (!k.startsWith("STATEKEEPER_") || k.startsWith("STATEKEEPER_TEST_"))) env[k] = v;
  return { ...env, ...extra };
}

/** Starts a server and resolves once it prints where it listens; a server that exits first fails the start. */
export function startServer(opts: StartOptions): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    [BIN, "--store", opts.store, "serve", "--listen", "127.0.0.1:0", ...(opts.args ?? [])],
    { cwd: opts.cwd ?? process.cwd(), env: cleanEnv(opts.env ?? {}), stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const accessLog = () =>
    stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start within 20 s; stderr:\n${stderr}`));
    }, 20_000);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(`server exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr}`),
      );
    });
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      const m = /listening on (https?:\/\/\S+)/.exec(stdout);
      if (m === null) return;
      clearTimeout(timer);
      resolve({
        url: m[1] as string,
        child,
        pid: child.pid as number,
        stderr: () => stderr,
        accessLog,
        accessLogWhen: async (done) => {
          for (let i = 0; i < 100 && !done(accessLog()); i++) await sleep(50);
          return accessLog();
        },
        stop: async () => {
          child.kill("SIGTERM");
          return (await exited).code;
        },
        kill9: async () => {
          child.kill("SIGKILL");
          return (await exited).signal;
        },
        exited: () => exited,
      });
    });
  });
}
