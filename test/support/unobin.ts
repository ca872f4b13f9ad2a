// Stacks laid out exactly as unobin's Go code writes them (cloudboss/unobin), for the import and
// in-place read tests. Each helper names the Go function whose output it reproduces; none of them
// goes through statekeeper's own stores or crypto, so a mistake on our side cannot hide in both.
import { createCipheriv, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

/**
 * Go's `time.RFC3339Nano` of an instant given as whole seconds + nanoseconds (UTC): trailing
 * zeros of the fraction are dropped, and so is the dot when nothing is left
 * (`time.Time.Format`). unobin names revisions with it (`LocalStore.Write`, `Store.Write`).
 */
export function goRfc3339Nano(isoSeconds: string, nanos = 0): string {
  const base = isoSeconds.replace(/Z$/, "");
  const fraction = nanos === 0 ? "" : `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
  return `${base}${fraction}Z`;
}

/**
 * `json.MarshalIndent(v, "", "  ")`: object keys in the order given (Go writes struct fields in
 * declaration order; callers sort map keys, as encoding/json does), and `<`, `>`, `&`, U+2028,
 * U+2029 escaped as encoding/json escapes them by default.
 */
export function goMarshalIndent(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** A Go `map[string]any` as encoding/json writes it: keys sorted. */
export function goMap(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

/** `EncodeSnapshot`: MarshalIndent and a trailing newline (pkg/sdk/state/snapshot.go, pkg/state/snapshot.go). */
export function goEncodeSnapshot(snapshot: unknown): Uint8Array {
  return new TextEncoder().encode(`${goMarshalIndent(snapshot)}\n`);
}

// --- the three format-version 1 shapes, field order as in the Go structs ---------------------

/**
 * The documented shape (Go `Snapshot`/`Entry` of pkg/sdk/state/snapshot.go at commit c1450a31,
 * as the package documentation describes): `stack` = FactoryInfo, `deployment-id`.
 */
export function documentedSnapshot(factory: string, stack: string, generatedAt: string, variant: 1 | 2 = 1) {
  const entries: unknown[] = [
    {
      address: "aws.vpc.main",
      type: "leaf",
      kind: "aws:ec2:Vpc",
      "schema-version": 1,
      inputs: goMap({ "cidr-block": "10.0.0.0/16", tags: goMap({ team: "web", "cost-centre": "<r&d>" }) }),
      outputs: goMap({ id: "vpc-abc" }),
    },
    {
      address: "db.primary",
      type: "library-call",
      "sensitive-inputs": ["password"],
      library: "github.com/acme/db",
      "library-type": "Postgres",
      configuration: "aws.eu",
      inputs: goMap({ password: "hunter2-secret", size: variant === 1 ? "small" : "large" }),
      outputs: goMap({ endpoint: "db.internal:5432" }),
      "depends-on": ["aws.vpc.main"],
    },
  ];
  if (variant === 2)
    entries.push({
      address: "notify.slack",
      type: "action",
      kind: "slack:Message",
      "trigger-hash": "sha256:77aa",
    });
  return {
    "format-version": 1,
    stack: { name: factory, version: "v1.4.0", "content-revision": "sha256:0f3a" },
    "deployment-id": stack,
    "generated-at": generatedAt,
    entries,
    outputs: goMap({ url: "https://shop.example.com", "vpc-id": "vpc-abc" }),
  };
}

/**
 * The older module-call shape (Go `Snapshot` of pkg/state/snapshot.go at commit 0e5d7441):
 * `stack` = StackInfo `{name, version, commit}`, `deployment-id`, `module-call` entries with
 * `module`/`module-type`, `sensitive-fields`; no outputs yet.
 */
export function moduleCallSnapshot(factory: string, stack: string, generatedAt: string) {
  return {
    "format-version": 1,
    stack: { name: factory, version: "v1.2.0", commit: "abc123" },
    "deployment-id": stack,
    "generated-at": generatedAt,
    entries: [
      {
        address: "aws.vpc.main",
        type: "leaf",
        kind: "aws:ec2:Vpc",
        "schema-version": 1,
        inputs: goMap({ "cidr-block": "10.0.0.0/16" }),
        outputs: goMap({ id: "vpc-abc" }),
      },
      {
        address: "db.primary",
        type: "module-call",
        "sensitive-fields": ["password"],
        module: "github.com/acme/db",
        "module-type": "Postgres",
        inputs: goMap({ password: "hunter2-secret", size: "small" }),
      },
      { address: "notify.slack", type: "action", kind: "slack:Message", "trigger-hash": "sha256:77aa" },
    ],
  };
}

/**
 * unobin's own fixture, pkg/state/local/testdata/snapshot-v1.json (commit 7dd966c0), byte for
 * byte: `factory` object, `stack` string, entries with `entry-kind`, `category`,
 * `binding: {alias, kind}` (Go `Snapshot`/`Entry` of pkg/sdk/state/snapshot.go at 5224f1f7).
 */
export const UNOBIN_FIXTURE_SNAPSHOT_V1 = `{
  "format-version": 1,
  "factory": {
    "name": "cluster-deploy",
    "version": "v2.0.3",
    "content-revision": "abc123def456"
  },
  "stack": "prod-east-alpha",
  "generated-at": "2026-04-30T12:00:00Z",
  "entries": [
    {
      "address": "resource.main",
      "entry-kind": "leaf",
      "category": "resource",
      "binding": {
        "alias": "aws",
        "kind": "vpc"
      },
      "schema-version": 1,
      "inputs": {
        "cidr-block": "10.0.0.0/16"
      },
      "outputs": {
        "id": "vpc-abc"
      }
    }
  ]
}
`;

/** The factory-stack shape for any names, with a data-source and a library-call entry (Go at 5224f1f7). */
export function factoryStackSnapshot(factory: string, stack: string, generatedAt: string) {
  return {
    "format-version": 1,
    factory: { name: factory, version: "v2.0.3", "content-revision": "abc123def456" },
    stack,
    "generated-at": generatedAt,
    entries: [
      {
        address: "resource.main",
        "entry-kind": "leaf",
        category: "resource",
        binding: { alias: "aws", kind: "vpc" },
        "schema-version": 1,
        inputs: goMap({ "cidr-block": "10.0.0.0/16" }),
        outputs: goMap({ id: "vpc-abc" }),
      },
      {
        address: "data-source.ami",
        "entry-kind": "data-source",
        category: "data-source",
        binding: { alias: "aws", kind: "ami" },
        outputs: goMap({ id: "ami-123" }),
      },
      {
        address: "resource.db",
        "entry-kind": "library-call",
        category: "resource",
        binding: { alias: "db", "library-path": "github.com/acme/db", kind: "postgres" },
        "sensitive-inputs": ["password"],
        inputs: goMap({ password: "hunter2-secret" }),
      },
    ],
    outputs: goMap({ "vpc-id": "vpc-abc" }),
  };
}

// --- the built-in encrypters and the state envelope --------------------------------------------

/** A fresh env-key key, base64 as unobin's `env-var` holds it. */
export function newUnobinKey(): string {
  return randomBytes(32).toString("base64");
}

/**
 * `EnvKey.Encrypt` (pkg/envencrypt/envkey.go; `EnvKeyEncrypter.Encrypt` in pkg/state/encrypt.go):
 * `aead.Seal(nonce, nonce, plaintext, nil)` — a random 12-byte nonce, then AES-256-GCM ciphertext
 * and 16-byte tag, no associated data.
 */
export function goEnvKeyEncrypt(keyBase64: string, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(keyBase64, "base64"), nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
}

export type GoSealing =
  | { kind: "raw-noop" }
  | { kind: "raw-env-key"; key: string }
  | { kind: "envelope-noop"; ref: boolean }
  | { kind: "envelope-env-key"; key: string; envVar: string; ref: boolean };

/**
 * `state.Seal` (pkg/sdk/state/envelope.go): MarshalIndent of `{envelope-version, payload-type,
 * encrypter: {name, body}, ciphertext}` + newline, `[]byte` as standard base64. `ref: false` is
 * v0.6.0's localstate (`Seal(body, nil, enc)`: no encrypter, no payload-type); `ref: true` the
 * later form with `payload-type: "state"` and `Describe()` (`{name: "env-key", body: {"env-var"}}`).
 */
function goSealEnvelope(
  ciphertext: Uint8Array,
  ref: { name: string; body?: Record<string, string> } | undefined,
) {
  const envelope: Record<string, unknown> = { "envelope-version": 1 };
  if (ref !== undefined) {
    envelope["payload-type"] = "state";
    envelope.encrypter = ref;
  }
  envelope.ciphertext = Buffer.from(ciphertext).toString("base64");
  return new TextEncoder().encode(`${goMarshalIndent(envelope)}\n`);
}

/** What a unobin backend stores for `plaintext` under `sealing`. */
export function goSeal(plaintext: Uint8Array, sealing: GoSealing): Uint8Array {
  switch (sealing.kind) {
    case "raw-noop":
      return plaintext;
    case "raw-env-key":
      return goEnvKeyEncrypt(sealing.key, plaintext);
    case "envelope-noop":
      return goSealEnvelope(plaintext, sealing.ref ? { name: "noop" } : undefined);
    case "envelope-env-key":
      return goSealEnvelope(
        goEnvKeyEncrypt(sealing.key, plaintext),
        sealing.ref ? { name: "env-key", body: { "env-var": sealing.envVar } } : undefined,
      );
  }
}

// --- localstate: <root>/<factory>/<stack>/ ------------------------------------------------------

export interface GoRevision {
  rev: string;
  /** The stored file's bytes (already sealed). */
  sealed: Uint8Array;
}

/** `ufs.WriteFileAtomic` (pkg/fs/atomic.go): `.<name>.tmp` beside the target, fsync, rename. */
function writeFileAtomic(path: string, content: Uint8Array, mode: number): void {
  const dir = join(path, "..");
  const tmp = join(dir, `.${path.slice(dir.length + 1)}.tmp`);
  const fd = openSync(tmp, "w", mode);
  writeSync(fd, content);
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * A localstate stack: `NewLocalStore` (MkdirAll `<root>/<factory>/<stack>/snapshots`, 0755), each
 * snapshot by `LocalStore.Write` (`snapshots/<rev>.json.enc`, 0600, WriteFileAtomic), the pointer
 * by `SetCurrent` (`current` = rev + "\n"), and, when `lockPid` is set, a held lock by
 * `LocalStore.Lock` (O_CREATE|O_EXCL `lock`, 0600, pid + "\n"). Returns the stack's folder.
 */
export function writeLocalStateStack(
  root: string,
  factory: string,
  stack: string,
  revisions: readonly GoRevision[],
  current: string | undefined,
  lockPid?: number,
): string {
  const dir = join(root, factory, stack);
  mkdirSync(join(dir, "snapshots"), { recursive: true, mode: 0o755 });
  for (const { rev, sealed } of revisions)
    writeFileAtomic(join(dir, "snapshots", `${rev}.json.enc`), sealed, 0o600);
  if (current !== undefined)
    writeFileAtomic(join(dir, "current"), new TextEncoder().encode(`${current}\n`), 0o600);
  if (lockPid !== undefined) writeFileSync(join(dir, "lock"), `${lockPid}\n`, { mode: 0o600, flag: "wx" });
  return dir;
}

// --- s3state: [<prefix>/]<factory>/<stack>/ -----------------------------------------------------

/**
 * An s3state stack in `bucket` under `prefix` (Go `path.Join(prefix, factory, stack)`): each
 * snapshot by `Store.Write` (PutObject `snapshots/<rev>.json.enc` with If-None-Match: *), the
 * pointer by `Store.SetCurrent` (HeadObject of the snapshot, then PutObject `current` = rev +
 * "\n"), and, when `lockWho` is set, a held lock by `Store.Lock` (PutObject `lock` with
 * If-None-Match: *, body `json.Marshal(lockInfo{ID, Who, Created})`).
 */
export async function writeS3StateStack(
  client: S3Client,
  bucket: string,
  prefix: string,
  factory: string,
  stack: string,
  revisions: readonly GoRevision[],
  current: string | undefined,
  lockWho?: string,
): Promise<void> {
  const dir = [prefix, factory, stack].filter((p) => p !== "").join("/");
  for (const { rev, sealed } of revisions)
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${dir}/snapshots/${rev}.json.enc`,
        Body: sealed,
        IfNoneMatch: "*",
      }),
    );
  if (current !== undefined) {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${dir}/snapshots/${current}.json.enc` }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${dir}/current`, Body: `${current}\n` }));
  }
  if (lockWho !== undefined) {
    const body = JSON.stringify({
      id: randomBytes(16).toString("hex"),
      who: lockWho,
      created: "2026-06-11T09:30:00.5Z",
    });
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `${dir}/lock`, Body: body, IfNoneMatch: "*" }),
    );
  }
}
