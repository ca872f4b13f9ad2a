import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { hasErrorCode } from "../../src/errors.js";
import { describeStoreUrl, openStore } from "../../src/objectstore/schemes.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-url-"));
after(() => rmSync(base, { recursive: true, force: true }));
const bytes = (s: string) => new TextEncoder().encode(s);

test("file:///abs/path opens a file store at that absolute path", async () => {
  const store = await openStore(pathToFileURL(join(base, "abs store")).href);
  assert.equal(store.name, "file");
  await store.put("k", bytes("v"));
  assert.ok(existsSync(join(base, "abs store", "k")));
});

test("file:./rel and file:rel open a file store relative to the current directory", async () => {
  const cwd = process.cwd();
  const dir = join(base, "cwd");
  mkdirSync(dir);
  process.chdir(dir);
  try {
    const dotted = await openStore("file:./dotted");
    const bare = await openStore("file:bare/nested");
    process.chdir(cwd);
    await dotted.put("k", bytes("v"));
    await bare.put("k", bytes("v"));
  } finally {
    process.chdir(cwd);
  }
  assert.ok(existsSync(join(dir, "dotted", "k")));
  assert.ok(existsSync(join(dir, "bare", "nested", "k")));
});

test("memory://name opens memory stores that share objects by name, and only by name", async () => {
  const a = await openStore("memory://url-test-shared");
  const b = await openStore("memory://url-test-shared");
  const other = await openStore("memory://url-test-other");
  assert.equal(a.name, "memory");
  await a.put("k", bytes("v"));
  assert.equal(new TextDecoder().decode((await b.get("k"))?.body), "v");
  assert.equal(await other.get("k"), undefined);
});

test("unknown schemes and malformed URLs are E_INVALID_CONFIG naming the URL and the supported schemes", async () => {
  for (const url of [
    "ftp://host/x",
    "no-scheme",
    "",
    "file:",
    "file://remote-host/x",
    "memory://",
    "memory://a/b",
  ]) {
    await assert.rejects(
      openStore(url),
      (e) =>
        hasErrorCode(e, "E_INVALID_CONFIG") &&
        e.message.includes("file:///abs/path") &&
        e.message.includes("memory://name") &&
        e.message.includes("s3://"),
      JSON.stringify(url),
    );
  }
});

test("describeStoreUrl hides user info and secret-looking query parameters", () => {
  const described = describeStoreUrl(
    "s3://AKIAEXAMPLE:wJalrSECRET@bucket/prefix?region=eu-west-1&secretAccessKey=wJalrSECRET&sessionToken=tok123&password=pw&forcePathStyle=true",
  );
  for (const secret of ["AKIAEXAMPLE", "wJalrSECRET", "tok123", "=pw"])
    assert.ok(!described.includes(secret), described);
  assert.match(described, /region=eu-west-1/);
  assert.match(described, /forcePathStyle=true/);
  assert.match(described, /bucket\/prefix/);
  assert.equal(describeStoreUrl("file:./rel"), "file:./rel");
  assert.equal(describeStoreUrl("file:./rel?token=abc"), "file:./rel?***");
  assert.equal(describeStoreUrl("::not a url::"), "<unparsable URL>");
});

test("error messages for bad URLs never echo secrets", async () => {
  await assert.rejects(openStore("ftp://user:hunter2@host/x?token=abc"), (e) => {
    assert.ok(e instanceof Error);
    assert.ok(!e.message.includes("hunter2") && !e.message.includes("abc"), e.message);
    return true;
  });
});
