// Micro-benchmark of sealing and opening a large state with the key encrypter, each step in a
// child process of its own so that its peak RSS is its own. Bare AES-256-GCM (no envelope, no
// copies beyond what node:crypto returns) is the floor.
// Usage: node --import tsx bench/micro-seal.ts [megabytes] [rounds]
import { execFileSync } from "node:child_process";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { keyEncrypter } from "../src/crypto/index.js";

type Step = "seal" | "open" | "bare-seal" | "bare-open";
const LOCATION = "bench/large/snapshots/r1";
const KEY = new Uint8Array(createHash("sha256").update("micro-seal bench key").digest());

/** Deterministic, JSON-like plaintext: the content does not change AES's speed. */
function plaintext(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const line = new TextEncoder().encode('    "consoleOutput": "0123456789abcdef0123456789abcdef",\n');
  for (let at = 0; at < bytes; at += line.length) out.set(line.subarray(0, bytes - at), at);
  return out;
}

async function child(step: Step, bytes: number, sealedPath: string): Promise<void> {
  const encrypter = keyEncrypter({ key: KEY });
  const input = step === "seal" || step === "bare-seal" ? plaintext(bytes) : readFileSync(sealedPath);
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  let outBytes: number;
  if (step === "seal") outBytes = (await encrypter.seal(input, LOCATION)).byteLength;
  else if (step === "open") outBytes = (await encrypter.open(input, LOCATION)).byteLength;
  else if (step === "bare-seal") {
    const cipher = createCipheriv("aes-256-gcm", KEY, randomBytes(12));
    outBytes = cipher.update(input).length + cipher.final().length + cipher.getAuthTag().length;
  } else {
    // Only the AES work: the tag will not match this nonce, so the result of final() is not used.
    const decipher = createDecipheriv("aes-256-gcm", KEY, randomBytes(12));
    outBytes = decipher.update(input.subarray(0, input.length - 16)).length;
  }
  const ms = performance.now() - start;
  const peakRssMb = (process.resourceUsage().maxRSS * 1024 - rssBefore) / 2 ** 20;
  process.stdout.write(`${JSON.stringify({ ms, peakRssAboveInputMb: peakRssMb, outBytes })}\n`);
}

function runChild(
  step: Step,
  bytes: number,
  sealedPath: string,
): { ms: number; peakRssAboveInputMb: number } {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", import.meta.filename, "child", step, String(bytes), sealedPath],
    { cwd: join(import.meta.dirname, ".."), encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as { ms: number; peakRssAboveInputMb: number };
}

async function parent(megabytes: number, rounds: number): Promise<void> {
  const bytes = megabytes * 2 ** 20;
  const dir = mkdtempSync(join(tmpdir(), "micro-seal-"));
  try {
    const sealedPath = join(dir, "sealed");
    writeFileSync(sealedPath, await keyEncrypter({ key: KEY }).seal(plaintext(bytes), LOCATION));
    const steps: Step[] = ["seal", "bare-seal", "open", "bare-open"];
    const results: Record<string, { ms: number[]; rss: number[] }> = {};
    for (const step of steps) results[step] = { ms: [], rss: [] };
    // Interleaved rounds: load from other processes hits every step alike.
    for (let i = 0; i < rounds; i++) {
      for (const step of steps) {
        const r = runChild(step, bytes, sealedPath);
        results[step]?.ms.push(r.ms);
        results[step]?.rss.push(r.peakRssAboveInputMb);
      }
    }
    const median = (list: number[]) =>
      [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? Number.NaN;
    const round = (n: number) => Math.round(n * 10) / 10;
    const summary: Record<string, { ms: number; minMs: number; peakRssAboveInputMb: number }> = {};
    for (const [step, r] of Object.entries(results))
      summary[step] = {
        ms: round(median(r.ms)),
        minMs: round(Math.min(...r.ms)),
        peakRssAboveInputMb: round(median(r.rss)),
      };
    process.stdout.write(`${JSON.stringify({ megabytes, rounds, ...summary }, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "child") await child(args[0] as Step, Number(args[1]), args[2] ?? "");
else await parent(Number(mode ?? 100), Number(args[0] ?? 5));
