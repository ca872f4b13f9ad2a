import assert from "node:assert/strict";
import { test } from "node:test";
import { strictUtf8 } from "../../src/snapshot/json.js";

test("strictUtf8 decodes as a fatal TextDecoder does: valid text, a leading BOM dropped, invalid bytes refused", () => {
  const fatal = (b: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(b);
  for (const s of ["", "[]", '{"a":"é ü 😀"}', "\uFEFF[1]", "x\uFEFFy"]) {
    const bytes = new TextEncoder().encode(s);
    assert.equal(strictUtf8(bytes), fatal(bytes), JSON.stringify(s));
  }
  // A view into a larger buffer decodes only its own bytes.
  const big = new TextEncoder().encode("ab[1,2]cd");
  assert.equal(strictUtf8(big.subarray(2, 7)), "[1,2]");
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0x5b, 0xe2, 0x82]])
    assert.equal(strictUtf8(Uint8Array.from(bad)), undefined, JSON.stringify(bad));
});
