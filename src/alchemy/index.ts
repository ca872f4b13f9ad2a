/**
 * Alchemy's `StateStore` on statekeeper: one Alchemy app/stage is one statekeeper stack (factory =
 * the app name, stack = the stage name) in storage format 2, each `set`/`delete` one commit
 * (`commitChanges`) under the stack's leased lock, which a deploy holds from its first use of
 * the store to its end. See docs/alchemy.md.
 */
import { deserialize, ResourceScope, type Scope, type State, type StateStore, serialize } from "alchemy";
import { createBackend } from "../backend/backend.js";
import type { Backend, Lock } from "../backend/index.js";
import { describeHolder, validateName } from "../backend/index.js";
import { noopEncrypter } from "../crypto/noop.js";
import type { Encrypter } from "../crypto/types.js";
import { LockedError, LockLostError, StateKeeperError } from "../errors.js";
import { openStore } from "../objectstore/schemes.js";
import type { ObjectStore } from "../objectstore/types.js";
import type { Entry } from "../snapshot/types.js";
import { VERSION } from "../version.js";
import { entryToState, ROOT_PREFIX, scopePath, stateToEntry } from "./entries.js";

export {
  addressOf,
  entryToState,
  parseAddress,
  ROOT_PREFIX,
  stateToEntry,
} from "./entries.js";
export { type AlchemyImportReport, importAlchemyFolder, readAlchemyFolder } from "./import.js";
export {
  type AlchemyResourceRow,
  type AlchemyResourceVersion,
  alchemyResourceHistory,
  listAlchemyResources,
  restoreAlchemyResource,
} from "./inspect.js";

export interface StatekeeperStateStoreOptions {
  /** Where state lives: `file:./.statekeeper`, `s3://bucket/prefix?…`, `memory://name`, or an ObjectStore. */
  store: string | ObjectStore;
  /**
   * Seals every revision at rest (`keyEncrypter`, `passphraseEncrypter`, `awsKmsEncrypter`,
   * `keyring`). Default: unencrypted (Alchemy's own secrets stay encrypted by Alchemy's password).
   */
  encrypter?: Encrypter;
  /** Key prefix inside the store, as for `createBackend`. */
  prefix?: string;
  /** How long a second deploy of the same stage waits for the lock before failing. Default 5 minutes. */
  lockTimeoutMs?: number;
  /** The lock's lease: a crashed deploy's lock is taken over this long after a waiter first saw it. Default 30 s. */
  leaseMs?: number;
  /** Mean delay between lock attempts while waiting. Default 500 ms. */
  pollMs?: number;
  /** Called once when the lock is found held and this deploy starts waiting (default: a line on stderr). */
  onWait?: (message: string) => void;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;

/** What the stack's factory info says about the writer. */
const FACTORY_VERSION = `statekeeper/alchemy ${VERSION}`;

/**
 * Alchemy's store factory: `alchemy(app, { stateStore: statekeeperStateStore({ store }) })`.
 * The factory is called for every scope; all scopes of one app/stage share one session (one
 * backend, one lock, one in-memory view of the stage's state).
 */
export function statekeeperStateStore(options: StatekeeperStateStoreOptions): (scope: Scope) => StateStore {
  if (typeof options !== "object" || options === null)
    throw new StateKeeperError("E_INVALID_CONFIG", "statekeeperStateStore: options must be an object");
  if (typeof options.store !== "string" && (typeof options.store !== "object" || options.store === null))
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "statekeeperStateStore: store must be a URL (file:, s3://, memory://) or an ObjectStore",
    );
  for (const k of ["lockTimeoutMs", "leaseMs", "pollMs"] as const) {
    const v = options[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0))
      throw new StateKeeperError("E_INVALID_CONFIG", `statekeeperStateStore: ${k} must be a positive number`);
  }
  let storeP: Promise<ObjectStore> | undefined;
  const openObjectStore = (): Promise<ObjectStore> => {
    storeP ??= typeof options.store === "string" ? openStore(options.store) : Promise.resolve(options.store);
    return storeP;
  };
  const sessions = new Map<string, StageSession>();
  return (scope: Scope) => {
    const app = scope.appName;
    const stage = scope.stage;
    // Names are checked before any I/O: an app or stage statekeeper cannot name fails alchemy() itself.
    validateName("Alchemy app name (the statekeeper factory)", app);
    validateName("Alchemy stage (the statekeeper stack)", stage);
    const id = `${app}\u0000${stage}`;
    let session = sessions.get(id);
    if (session === undefined) {
      session = new StageSession(app, stage, openObjectStore, options);
      sessions.set(id, session);
    }
    if (scope.parent === undefined) hookRootFinalize(scope, session);
    return new StatekeeperScopeStore(scope, session);
  };
}

/** The end of an `up` run is the root scope's `finalize()`: release the lock right after it. */
function hookRootFinalize(root: Scope, session: StageSession): void {
  const original = root.finalize.bind(root);
  root.finalize = async (opts?: { force?: boolean; noop?: boolean }) => {
    try {
      return await original(opts);
    } finally {
      await session.release();
    }
  };
}

type Pending = { entry: Entry | null; resolve: () => void; reject: (e: unknown) => void };

/** One app/stage in this process: its backend, its lock while held, and the stage's state. */
export class StageSession {
  #backend: Backend | undefined;
  #ready: Promise<void> | undefined;
  #lock: Lock | undefined;
  /** What the store answers: the committed state with the pending changes applied. */
  #view = new Map<string, Entry>();
  /** Addresses in the stack's current revision (what a `remove` may name). */
  #committed = new Set<string>();
  #pending = new Map<string, Pending[]>();
  #flushing: Promise<void> | undefined;
  #failed: unknown;
  #readOnly = false;
  #onBeforeExit = (): void => {
    void this.release().catch(() => {});
  };

  constructor(
    readonly app: string,
    readonly stage: string,
    private readonly openObjectStore: () => Promise<ObjectStore>,
    private readonly options: StatekeeperStateStoreOptions,
  ) {}

  get held(): boolean {
    return this.#lock !== undefined && !this.#lock.lost;
  }

  async backend(): Promise<Backend> {
    this.#backend ??= createBackend(await this.openObjectStore(), {
      factory: this.app,
      stack: this.stage,
      encrypter: this.options.encrypter ?? noopEncrypter(),
      format: 2,
      ...(this.options.prefix === undefined ? {} : { prefix: this.options.prefix }),
    });
    return this.#backend;
  }

  /** Takes the lock (unless `readOnly`) and loads the stage's state, once per run. */
  ready(phase: string): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    this.#ready ??= this.#start(phase).catch((e) => {
      this.#failed = e;
      throw e;
    });
    return this.#ready;
  }

  async #start(phase: string): Promise<void> {
    const backend = await this.backend();
    this.#readOnly = phase === "read";
    if (!this.#readOnly) {
      const timeoutMs = this.options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
      const what = `Alchemy app "${this.app}" stage "${this.stage}"`;
      try {
        this.#lock = await backend.lock({
          operation: `alchemy ${phase}`,
          timeoutMs,
          info: { tool: "alchemy", app: this.app, stage: this.stage, phase },
          ...(this.options.leaseMs === undefined ? {} : { leaseMs: this.options.leaseMs }),
          ...(this.options.pollMs === undefined ? {} : { pollMs: this.options.pollMs }),
          onWait: (holder) => {
            const msg = `statekeeper: ${what} is being deployed by ${describeHolder(holder)}; waiting up to ${Math.round(timeoutMs / 1000)} s for its lock`;
            if (this.options.onWait) this.options.onWait(msg);
            else process.stderr.write(`${msg}\n`);
          },
        });
      } catch (e) {
        if (e instanceof LockedError)
          throw new LockedError(
            `${what} is locked by ${e.holder ? describeHolder(e.holder) : "an unreadable lock"}; gave up after ${timeoutMs} ms (another deploy of this stage is running; if its holder is gone, its lease lets the next run take over, or run 'statekeeper --factory ${this.app} --stack ${this.stage} lock force-unlock')`,
            e.holder,
            { cause: e },
          );
        throw e;
      }
      process.on("beforeExit", this.#onBeforeExit);
    }
    let entries: Entry[] = [];
    try {
      entries = (await backend.current()).entries;
    } catch (e) {
      if (!(e instanceof StateKeeperError && e.code === "E_NO_CURRENT")) {
        await this.release().catch(() => {});
        throw e;
      }
    }
    this.#view = new Map(entries.map((e) => [e.address, e]));
    this.#committed = new Set(this.#view.keys());
  }

  entries(): ReadonlyMap<string, Entry> {
    return this.#view;
  }

  /** Records a change and resolves once it is committed (concurrent changes share a commit). */
  change(address: string, entry: Entry | null): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#readOnly)
      return Promise.reject(
        new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `Alchemy app "${this.app}" stage "${this.stage}" was opened in the read phase; it cannot write`,
        ),
      );
    if (entry === null) this.#view.delete(address);
    else this.#view.set(address, entry);
    return new Promise<void>((resolve, reject) => {
      const list = this.#pending.get(address) ?? [];
      list.push({ entry, resolve, reject });
      this.#pending.set(address, list);
      this.#flushing ??= this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.size > 0) {
      const batch = this.#pending;
      this.#pending = new Map();
      const upsert: Entry[] = [];
      const remove: string[] = [];
      for (const [address, list] of batch) {
        const last = list[list.length - 1]?.entry ?? null;
        if (last !== null) upsert.push(last);
        else if (this.#committed.has(address)) remove.push(address);
      }
      const waiters = [...batch.values()].flat();
      try {
        if (upsert.length > 0 || remove.length > 0) {
          if (this.#lock?.lost) this.#throwLost();
          const backend = await this.backend();
          await backend.commitChanges({
            upsert,
            remove,
            factory: { name: this.app, version: FACTORY_VERSION, contentRevision: "" },
          });
          for (const a of remove) this.#committed.delete(a);
          for (const e of upsert) this.#committed.add(e.address);
        }
        for (const w of waiters) w.resolve();
      } catch (e) {
        // The view now holds changes that are not durable: this session refuses everything further.
        this.#failed = e;
        for (const w of waiters) w.reject(e);
        for (const w of [...this.#pending.values()].flat()) w.reject(e);
        this.#pending.clear();
        return;
      }
    }
  }

  #throwLost(): never {
    throw new LockLostError(
      `the lock of Alchemy app "${this.app}" stage "${this.stage}" was lost (lease not renewed in time, or taken over); nothing more is written`,
    );
  }

  /** Waits for pending commits, releases the lock; the next use of the store starts a new run. */
  async release(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    const lock = this.#lock;
    this.#lock = undefined;
    this.#ready = undefined;
    this.#failed = undefined;
    process.off("beforeExit", this.#onBeforeExit);
    if (lock !== undefined) await lock.unlock();
  }
}

/** The store Alchemy sees for one scope: the entries of the stage state under the scope's path. */
export class StatekeeperScopeStore implements StateStore {
  readonly #path: string;
  readonly #isStage: boolean;
  constructor(
    readonly scope: Scope,
    readonly session: StageSession,
  ) {
    this.#path = scopePath(scope.chain);
    this.#isStage = scope.parent !== undefined && scope.chain.length === 2;
  }

  #address(key: string): string {
    if (typeof key !== "string" || key === "" || key.includes(":"))
      throw new StateKeeperError(
        "E_INVALID_NAME",
        `Alchemy state key ${JSON.stringify(key)} is invalid: non-empty, without ':'`,
      );
    return this.#path + key;
  }

  async #entries(): Promise<ReadonlyMap<string, Entry>> {
    await this.session.ready(this.scope.phase);
    return this.session.entries();
  }

  async init(): Promise<void> {
    await this.session.ready(this.scope.phase);
  }

  /** The stage scope's container goes at the end of `destroy`: that is the end of the run. */
  async deinit(): Promise<void> {
    if (this.#isStage) await this.session.release();
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for (const address of (await this.#entries()).keys()) {
      if (!address.startsWith(this.#path)) continue;
      const rest = address.slice(this.#path.length);
      if (rest !== "" && !rest.includes(":")) out.push(rest);
    }
    return out;
  }

  async listScopes(): Promise<string[]> {
    const out = new Set<string>();
    for (const address of (await this.#entries()).keys()) {
      if (!address.startsWith(this.#path) || address.startsWith(ROOT_PREFIX)) continue;
      const rest = address.slice(this.#path.length);
      const i = rest.indexOf(":");
      if (i > 0) out.add(rest.slice(0, i));
    }
    return [...out];
  }

  async count(): Promise<number> {
    return (await this.list()).length;
  }

  async get(key: string): Promise<State | undefined> {
    const address = this.#address(key);
    const entry = (await this.#entries()).get(address);
    if (entry === undefined) return undefined;
    const state = (await deserialize(this.scope, entryToState(entry))) as State;
    if (state.output === undefined) state.output = {} as State["output"];
    (state.output as unknown as Record<symbol, unknown>)[ResourceScope] = this.scope;
    return state;
  }

  async getBatch(ids: string[]): Promise<Record<string, State>> {
    const out: Record<string, State> = {};
    for (const id of ids) {
      const s = await this.get(id);
      if (s !== undefined) out[id] = s;
    }
    return out;
  }

  async all(): Promise<Record<string, State>> {
    return this.getBatch(await this.list());
  }

  async set(key: string, value: State): Promise<void> {
    const address = this.#address(key);
    await this.session.ready(this.scope.phase);
    const serialized = (await serialize(this.scope, value)) as unknown;
    await this.session.change(address, stateToEntry(address, serialized));
  }

  async delete(key: string): Promise<void> {
    const address = this.#address(key);
    const entries = await this.#entries();
    if (!entries.has(address)) return;
    await this.session.change(address, null);
  }
}
