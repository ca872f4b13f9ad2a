/**
 * A small in-memory AWS KMS on 127.0.0.1, speaking the JSON 1.1 protocol
 * (`X-Amz-Target: TrentService.<Operation>`) well enough for the real `@aws-sdk/client-kms`:
 * GenerateDataKey and Decrypt, with EncryptionContext bound as AES-GCM associated data, and
 * errors shaped like KMS's (`__type` + HTTP status). Signatures are not verified.
 *
 *   const kms = await startKmsServer();
 *   const { arn } = kms.createKey({ alias: "alias/state" });
 *   new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: KMS_TEST_CREDENTIALS });
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const KMS_TEST_CREDENTIALS = {
  accessKeyId: "AKIDSTATEKEEPERTEST",
  secretAccessKey: "statekeeper-test-secret",
};

export interface KmsTestKey {
  keyId: string;
  arn: string;
  alias?: string;
}

export interface KmsServer {
  endpoint: string;
  region: string;
  /** Requests received so far (every operation, failed ones included). */
  readonly requests: number;
  /** Requests received so far for one operation, e.g. "GenerateDataKey". */
  requestsFor(operation: string): number;
  /** A new symmetric master key; `alias` like "alias/name". */
  createKey(options?: { alias?: string }): KmsTestKey;
  /** Every later request naming this key (id, ARN or alias) fails with AccessDeniedException. */
  denyAccess(key: string): void;
  /** The next `count` requests fail with this error type and status (e.g. "ThrottlingException", 400). */
  failNext(type: string, status: number, count?: number): void;
  close(): Promise<void>;
}

class KmsFault extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BLOB_VERSION = 1;
const UUID_LENGTH = 36;

function canonicalContext(context: unknown): Buffer {
  if (context === undefined) return Buffer.from("{}");
  if (typeof context !== "object" || context === null || Array.isArray(context)) {
    throw new KmsFault("ValidationException", 400, "EncryptionContext must be a map of strings");
  }
  const entries = Object.entries(context as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [, v] of entries) {
    if (typeof v !== "string")
      throw new KmsFault("ValidationException", 400, "EncryptionContext values must be strings");
  }
  return Buffer.from(JSON.stringify(entries));
}

export async function startKmsServer(
  options: { region?: string; accountId?: string } = {},
): Promise<KmsServer> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "111122223333";
  const keys = new Map<string, { material: Buffer; arn: string }>(); // by key uuid
  const aliases = new Map<string, string>(); // alias name → key uuid
  const denied = new Set<string>(); // key uuids
  const injected: { type: string; status: number }[] = [];
  const counts = new Map<string, number>();
  let requests = 0;

  const arnOf = (id: string) => `arn:aws:kms:${region}:${accountId}:key/${id}`;

  function resolveKey(ref: unknown): string {
    if (typeof ref !== "string" || ref === "")
      throw new KmsFault("ValidationException", 400, "KeyId is required");
    const prefix = `arn:aws:kms:${region}:${accountId}:`;
    const local = ref.startsWith(prefix) ? ref.slice(prefix.length) : ref;
    const id = local.startsWith("alias/") ? aliases.get(local) : local.replace(/^key\//, "");
    if (id === undefined || !keys.has(id))
      throw new KmsFault("NotFoundException", 400, `Key '${ref}' does not exist`);
    if (denied.has(id))
      throw new KmsFault("AccessDeniedException", 400, `User is not authorized to use key ${ref}`);
    return id;
  }

  function generateDataKey(body: Record<string, unknown>): Record<string, unknown> {
    const id = resolveKey(body.KeyId);
    const spec = body.KeySpec;
    const size =
      spec === "AES_256"
        ? 32
        : spec === "AES_128"
          ? 16
          : typeof body.NumberOfBytes === "number"
            ? body.NumberOfBytes
            : 0;
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new KmsFault("ValidationException", 400, "KeySpec or NumberOfBytes is required");
    }
    const plaintext = randomBytes(size);
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", keys.get(id)!.material, nonce);
    cipher.setAAD(canonicalContext(body.EncryptionContext));
    const blob = Buffer.concat([
      Buffer.from([BLOB_VERSION]),
      Buffer.from(id, "ascii"),
      nonce,
      cipher.update(plaintext),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return {
      KeyId: arnOf(id),
      Plaintext: plaintext.toString("base64"),
      CiphertextBlob: blob.toString("base64"),
    };
  }

  function decrypt(body: Record<string, unknown>): Record<string, unknown> {
    const invalid = () => new KmsFault("InvalidCiphertextException", 400, "The ciphertext is invalid");
    if (typeof body.CiphertextBlob !== "string") throw invalid();
    const blob = Buffer.from(body.CiphertextBlob, "base64");
    if (blob.length < 1 + UUID_LENGTH + 12 + 16 || blob[0] !== BLOB_VERSION) throw invalid();
    const id = blob.subarray(1, 1 + UUID_LENGTH).toString("ascii");
    const key = keys.get(id);
    if (key === undefined) throw invalid();
    if (body.KeyId !== undefined && resolveKey(body.KeyId) !== id) {
      throw new KmsFault(
        "IncorrectKeyException",
        400,
        "The key ID in the request does not identify the key used to encrypt",
      );
    }
    if (denied.has(id))
      throw new KmsFault("AccessDeniedException", 400, "User is not authorized to use this key");
    const nonce = blob.subarray(1 + UUID_LENGTH, 1 + UUID_LENGTH + 12);
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.material, nonce);
      decipher.setAAD(canonicalContext(body.EncryptionContext));
      decipher.setAuthTag(blob.subarray(blob.length - 16));
      const plaintext = Buffer.concat([
        decipher.update(blob.subarray(1 + UUID_LENGTH + 12, blob.length - 16)),
        decipher.final(),
      ]);
      return {
        KeyId: key.arn,
        Plaintext: plaintext.toString("base64"),
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      };
    } catch {
      throw invalid();
    }
  }

  const operations: Record<string, (body: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey: generateDataKey,
    Decrypt: decrypt,
  };

  function reply(res: ServerResponse, status: number, payload: unknown): void {
    const body = JSON.stringify(payload);
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "content-length": Buffer.byteLength(body),
      "x-amzn-requestid": randomUUID(),
    });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("TrentService.") ? target.slice("TrentService.".length) : "";
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    try {
      const fault = injected.shift();
      if (fault !== undefined) throw new KmsFault(fault.type, fault.status, "injected failure");
      const run = operations[operation];
      if (req.method !== "POST" || run === undefined) {
        throw new KmsFault(
          "UnknownOperationException",
          400,
          `unsupported operation ${JSON.stringify(target)}`,
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        throw new KmsFault("SerializationException", 400, "request body is not JSON");
      }
      if (typeof body !== "object" || body === null)
        throw new KmsFault("SerializationException", 400, "body must be an object");
      reply(res, 200, run(body as Record<string, unknown>));
    } catch (e) {
      const fault = e instanceof KmsFault ? e : new KmsFault("KMSInternalException", 500, "internal error");
      reply(res, fault.status, { __type: fault.type, message: fault.message });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    get requests() {
      return requests;
    },
    requestsFor: (operation) => counts.get(operation) ?? 0,
    createKey({ alias } = {}) {
      const keyId = randomUUID();
      keys.set(keyId, { material: randomBytes(32), arn: arnOf(keyId) });
      if (alias !== undefined) aliases.set(alias, keyId);
      return { keyId, arn: arnOf(keyId), ...(alias === undefined ? {} : { alias }) };
    },
    denyAccess(key) {
      denied.add(resolveKey(key));
    },
    failNext(type, status, count = 1) {
      for (let i = 0; i < count; i++) injected.push({ type, status });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
