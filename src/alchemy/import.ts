/**
 * Import of an Alchemy `.alchemy/` folder (FileSystemStateStore's layout:
 * `<root>/<app>/<stage>/<scope>/…/<key>.json`, `/` in keys written as `:`, the app scope's keys as
 * `<root>/<app>/<stage>.json`) into statekeeper: one stack per stage, all its resources in one
 * commit under the stack's lock, then read back and compared entry by entry.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Backend } from "../backend/index.js";
import { validateName } from "../backend/index.js";
import { StateKeeperError } from "../errors.js";
import type { Entry } from "../snapshot/types.js";
import { addressOf, entryToState, ROOT_PREFIX, stateToEntry } from "./entries.js";

export interface AlchemyImportReport {
  app: string;
  stages: { stage: string; resources: number; rev: string }[];
}

/** Every `.json` state file of one stage folder, as entries. */
async function readStageFolder(dir: string, rest: string[], out: Entry[]): Promise<void> {
  const items = await readdir(dir, { withFileTypes: true });
  for (const item of items.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (item.isDirectory()) await readStageFolder(join(dir, item.name), [...rest, item.name], out);
    else if (item.isFile() && item.name.endsWith(".json")) {
      const key = item.name.slice(0, -".json".length).replaceAll(":", "/");
      out.push(await fileEntry(join(dir, item.name), addressOf(rest, key)));
    }
  }
}

async function fileEntry(path: string, address: string): Promise<Entry> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new StateKeeperError("E_CORRUPT", `${path} is not a JSON Alchemy state file`, { cause });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new StateKeeperError("E_CORRUPT", `${path} is not a JSON object`);
  return stateToEntry(address, parsed);
}

/** The stages (sub-folders) of `<dotAlchemy>/<app>`, each with its entries; nothing is written. */
export async function readAlchemyFolder(dotAlchemy: string, app: string): Promise<Map<string, Entry[]>> {
  validateName("Alchemy app name", app);
  const appDir = join(dotAlchemy, app);
  let items: import("node:fs").Dirent[];
  try {
    items = await readdir(appDir, { withFileTypes: true });
  } catch (cause) {
    throw new StateKeeperError("E_NOT_FOUND", `no Alchemy app folder at ${appDir}`, { cause });
  }
  const stages = new Map<string, Entry[]>();
  for (const item of items) {
    if (!item.isDirectory()) continue;
    const stage = validateName("Alchemy stage", item.name);
    const entries: Entry[] = [];
    await readStageFolder(join(appDir, stage), [], entries);
    const rootFile = items.find((i) => i.isFile() && i.name === `${stage}.json`);
    if (rootFile !== undefined)
      entries.push(await fileEntry(join(appDir, rootFile.name), ROOT_PREFIX + stage));
    stages.set(stage, entries);
  }
  return stages;
}

/**
 * Imports `<dotAlchemy>/<app>` into statekeeper. `backendFor(stage)` opens the stage's stack. A
 * stage whose stack already has state is refused (`E_CONFLICT`) before anything is written to it.
 * After the commit the current revision is read back and every entry compared with its file.
 */
export async function importAlchemyFolder(
  dotAlchemy: string,
  app: string,
  backendFor: (stage: string) => Backend,
  options: { lockTimeoutMs?: number; stages?: string[] } = {},
): Promise<AlchemyImportReport> {
  const all = await readAlchemyFolder(dotAlchemy, app);
  const wanted = options.stages ?? [...all.keys()];
  for (const s of wanted)
    if (!all.has(s))
      throw new StateKeeperError("E_NOT_FOUND", `no stage ${JSON.stringify(s)} in ${join(dotAlchemy, app)}`);
  const report: AlchemyImportReport = { app, stages: [] };
  for (const stage of wanted.sort()) {
    const entries = all.get(stage) ?? [];
    const backend = backendFor(stage);
    const lock = await backend.lock({
      operation: "alchemy import",
      timeoutMs: options.lockTimeoutMs ?? 60_000,
    });
    try {
      const existing = await backend.current().then(
        (s) => s.entries.length,
        (e) => {
          if (e instanceof StateKeeperError && e.code === "E_NO_CURRENT") return -1;
          throw e;
        },
      );
      if (existing >= 0)
        throw new StateKeeperError(
          "E_CONFLICT",
          `stack ${app}/${stage} already has state (${existing} entries); import only into an empty stage`,
        );
      const rev = await backend.commitChanges({
        upsert: entries,
        factory: { name: app, version: "statekeeper/alchemy import", contentRevision: "" },
      });
      const back = new Map((await backend.current()).entries.map((e) => [e.address, e]));
      for (const e of entries) {
        const got = back.get(e.address);
        if (got === undefined || JSON.stringify(entryToState(got)) !== JSON.stringify(entryToState(e)))
          throw new StateKeeperError(
            "E_CORRUPT",
            `import of ${app}/${stage}: ${JSON.stringify(e.address)} did not read back as written`,
          );
      }
      if (back.size !== entries.length)
        throw new StateKeeperError(
          "E_CORRUPT",
          `import of ${app}/${stage}: ${back.size} entries read back, ${entries.length} written`,
        );
      report.stages.push({ stage, resources: entries.length, rev });
    } finally {
      await lock.unlock();
    }
  }
  return report;
}
