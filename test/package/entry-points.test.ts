// The package's public surface: every entry point in package.json `exports` loads from dist/,
// exposes exactly what its source entry declares, uses explicit export
// lists, and the root stays small (an engine author's API, no internals).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { ensureBuilt } from "../cli/helpers.js";

const ROOT = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, string | { types: string; import: string }>;
};

/** Entry points with their built JS, and the TypeScript source that dist/ was built from. */
const entries = Object.entries(pkg.exports)
  .filter((e): e is [string, { types: string; import: string }] => typeof e[1] === "object")
  .map(([subpath, target]) => ({
    specifier: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
    // Loaded by path: under tsx, tsconfig's `paths` would map the package's name to src/.
    built: pathToFileURL(join(ROOT, target.import)).href,
    source: join(ROOT, target.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")),
    types: target.types,
  }));

interface DeclaredExports {
  all: string[];
  values: string[];
}

/** What a source entry exports, as the compiler sees it: every name, and those with a runtime value. */
function declaredExports(): Map<string, DeclaredExports> {
  const program = ts.createProgram(
    entries.map((e) => e.source),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
    },
  );
  const checker = program.getTypeChecker();
  const out = new Map<string, DeclaredExports>();
  for (const e of entries) {
    const file = program.getSourceFile(e.source);
    assert.ok(file, `${e.source} exists`);
    const moduleSymbol = checker.getSymbolAtLocation(file);
    assert.ok(moduleSymbol, `${e.source} is a module`);
    const symbols = checker.getExportsOfModule(moduleSymbol);
    const isValue = (s: ts.Symbol) =>
      ((s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value) !== 0;
    out.set(e.specifier, {
      all: symbols.map((s) => s.name).sort(),
      values: symbols
        .filter(isValue)
        .map((s) => s.name)
        .sort(),
    });
  }
  return out;
}

describe("package entry points", () => {
  let declared: Map<string, DeclaredExports>;
  before(async () => {
    await ensureBuilt();
    declared = declaredExports();
  });

  test("root, records, deployments, admin, driver, s3 and testing are all entry points", () => {
    const names = entries.map((e) => e.specifier).sort();
    for (const sub of ["", "/admin", "/deployments", "/driver", "/records", "/s3", "/testing"])
      assert.ok(names.includes(`${pkg.name}${sub}`), `${pkg.name}${sub} is in package.json exports`);
  });

  test("each loads from dist/ and exposes exactly the values its source declares", async () => {
    for (const e of entries) {
      const loaded = Object.keys(await import(e.built)).sort();
      assert.deepEqual(loaded, declared.get(e.specifier)?.values, `${e.specifier}: runtime exports`);
      assert.ok(readFileSync(join(ROOT, e.types), "utf8").length > 0, `${e.types} was built`);
    }
  });

  test("every entry lists its exports explicitly (no export *)", () => {
    for (const e of entries)
      assert.doesNotMatch(
        readFileSync(e.source, "utf8"),
        /export \*/,
        `${e.source} re-exports a whole module`,
      );
  });

  test("the root is an engine author's API: at most 60 names, no internals", () => {
    const root = declared.get(pkg.name);
    assert.ok(root);
    assert.ok(root.all.length <= 60, `the root exports ${root.all.length} names: ${root.all.join(", ")}`);
    for (const name of [
      "createBackend",
      "openBackend",
      "openStore",
      "keyEncrypter",
      "StateKeeperError",
      "newSnapshot",
    ])
      assert.ok(root.all.includes(name), `the root exports ${name}`);
    for (const internal of [
      "truncateForMessage",
      "stackLayout",
      "revisionWithSuffix",
      "lockKey",
      "s3Store",
      "openRecordStore",
      "openDeploymentStore",
      "retryingStore",
    ])
      assert.ok(!root.all.includes(internal), `the root does not export ${internal}`);
  });
});
