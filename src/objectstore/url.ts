import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StateKeeperError, truncateForMessage } from "../errors.js";
import { fileStore } from "./file.js";
import { memoryStore } from "./memory.js";
import type { ObjectStore } from "./types.js";

export const SUPPORTED_STORE_SCHEMES = ["file", "memory", "s3"] as const;

const SUPPORTED_FORMS = "file:///abs/path, file:./rel, file:rel, memory://name, s3://bucket/prefix?region=…";

function invalidUrl(url: string, why: string, cause?: unknown): StateKeeperError {
  return new StateKeeperError(
    "E_INVALID_CONFIG",
    `invalid store URL ${describeStoreUrl(url)}: ${why} (supported: ${SUPPORTED_FORMS})`,
    { details: { url: describeStoreUrl(url) }, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * Opens the store a URL names: `file:///abs/path`, `file:./rel` or `file:rel` (relative to the
 * current directory), `memory://name` (stores opened with one name share their objects within
 * this process), `s3://bucket/prefix?…`. Heavy drivers are imported only when their scheme is used.
 */
export async function openStore(url: string): Promise<ObjectStore> {
  if (typeof url !== "string" || url === "") throw invalidUrl(String(url), "empty");
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "file":
      return fileStore(filePathOf(url));
    case "memory":
      return memoryStore(memoryNameOf(url));
    case "s3": {
      // Imported lazily so file:// users never load the AWS SDK.
      const { s3StoreFromUrl } = await import("./s3.js");
      return s3StoreFromUrl(url);
    }
    default:
      throw invalidUrl(url, scheme === undefined ? "no scheme" : `unknown scheme "${scheme}:"`);
  }
}

function filePathOf(url: string): string {
  const rest = url.slice("file:".length);
  if (rest.startsWith("//")) {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (e) {
      throw invalidUrl(url, "file URLs with a host are not supported; use file:///abs/path", e);
    }
    if (!isAbsolute(path)) throw invalidUrl(url, "not an absolute path");
    return path;
  }
  if (rest === "" || rest.includes("?") || rest.includes("#"))
    throw invalidUrl(url, "expected a path: file:./rel or file:///abs/path");
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch (e) {
    throw invalidUrl(url, "malformed percent-encoding", e);
  }
  if (path.includes("\0")) throw invalidUrl(url, "the path contains a NUL character");
  return resolve(path);
}

function memoryNameOf(url: string): string {
  const match = /^memory:\/\/([A-Za-z0-9._-]+)\/?$/i.exec(url);
  if (match?.[1] === undefined)
    throw invalidUrl(url, "expected memory://name (letters, digits, '.', '_', '-')");
  return match[1];
}

const SECRET_PARAM = /secret|key|token|pass|credential|signature|auth/i;

/**
 * The URL with anything secret-looking replaced by `***` — user info and query parameters whose
 * name suggests a secret — for error messages and logs. Unparsable input is cut to its scheme.
 */
export function describeStoreUrl(url: string): string {
  if (typeof url !== "string") return "<not a string>";
  // file:./rel and file:rel carry no host, user or query: show them as given.
  if (/^file:(?!\/\/)/i.test(url)) return truncateForMessage(url.replace(/[?#].*$/s, "?***"));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    return scheme === undefined ? "<unparsable URL>" : `${scheme}:<unparsable>`;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.username = "***";
    parsed.password = "";
  }
  for (const name of [...parsed.searchParams.keys()])
    if (SECRET_PARAM.test(name)) parsed.searchParams.set(name, "***");
  return truncateForMessage(parsed.toString().replaceAll("%2A%2A%2A", "***"));
}
