// Runs the README's "Testing a third-party driver" example as part of the test suite: its tests
// register here. "statekeeper" and "statekeeper/testing" resolve to src/ through the `paths` in
// tsconfig.json (tsx honours them), as they resolve to dist/ for a package that depends on us.
import "../../examples/third-party-driver/map-store.test.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("the README shows the example's test file as it is", () => {
  const root = new URL("../../", import.meta.url);
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const example = readFileSync(new URL("examples/third-party-driver/map-store.test.ts", root), "utf8");
  const section = readme.slice(readme.indexOf("## Testing a third-party driver"));
  assert.ok(section.includes(`\`\`\`ts\n${example}\`\`\``), "README.md differs from map-store.test.ts");
});
