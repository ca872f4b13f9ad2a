// What "the source was never modified" means for a folder: every file's bytes, mode and mtime.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Every entry under `dir` with its mode and mtime, and each file's SHA-256, in name order. */
export function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      const st = statSync(p);
      if (e.isDirectory()) {
        out.push(`${p}/ ${st.mode.toString(8)} ${st.mtimeMs}`);
        walk(p);
      } else
        out.push(
          `${p} ${st.mode.toString(8)} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`,
        );
    }
  };
  walk(dir);
  return out;
}
