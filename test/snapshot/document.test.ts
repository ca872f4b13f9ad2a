// Snapshots that wrap another tool's state document (a Terraform state through `statekeeper
// serve`): the document is stored byte for byte, entries and outputs are read from it.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeSnapshot,
  decodeStoredSnapshot,
  documentSnapshot,
  encodeSnapshot,
  TERRAFORM_STATE_MEDIA_TYPE,
} from "../../src/snapshot/index.js";
import { assertThrowsCode } from "./helpers.js";

const FACTORY = { name: "webshop", version: "1.9.5", contentRevision: "" };

/** Terraform's own layout: two-space indents, its key order, Go's escaping of `<`. */
const STATE = `{
  "version": 4,
  "terraform_version": "1.9.5",
  "serial": 7,
  "lineage": "3f2a7c1e-8d0b-4c5e-9a61-2b7d0e4f9c11",
  "outputs": {
    "url": { "value": "https://shop.example/\\u003cindex\\u003e", "type": "string" },
    "db_password": { "value": "hunter2", "type": "string", "sensitive": true }
  },
  "resources": [
    {
      "mode": "managed",
      "type": "aws_db_instance",
      "name": "main",
      "provider": "provider[\\"registry.terraform.io/hashicorp/aws\\"]",
      "instances": [
        {
          "schema_version": 2,
          "attributes": { "id": "db-1", "password": "hunter2", "engine": "postgres" },
          "sensitive_attributes": [[{ "type": "get_attr", "value": "password" }]]
        }
      ]
    }
  ]
}
`;

const doc = (text = STATE) => ({ mediaType: TERRAFORM_STATE_MEDIA_TYPE, text });

test("a document round-trips byte for byte, and its view is what the document says", () => {
  const s = documentSnapshot(FACTORY, "prod", doc());
  const decoded = decodeSnapshot(encodeSnapshot(s));
  assert.equal(decoded.document?.text, STATE, "the exact text, escapes and layout included");
  assert.deepEqual(
    decoded.entries.map((e) => [e.address, e.kind, e.sensitiveOutputs]),
    [["aws_db_instance.main", "aws_db_instance", ["password"]]],
  );
  assert.equal(decoded.outputs?.db_password, "(sensitive)", "a sensitive output is masked in the view");
  assert.deepEqual(decoded.entries, s.entries);
  assert.deepEqual(encodeSnapshot(decoded), encodeSnapshot(s), "re-encoding a decoded revision is stable");
});

test("the encoding stores the document instead of entries, so a reader that does not know documents refuses it", () => {
  const encoded = JSON.parse(
    new TextDecoder().decode(encodeSnapshot(documentSnapshot(FACTORY, "prod", doc()))),
  );
  assert.equal(
    Object.hasOwn(encoded, "entries"),
    false,
    "no entries list an older reader could take as empty",
  );
  assert.equal(Object.hasOwn(encoded, "outputs"), false);
  assert.equal(encoded.document["media-type"], TERRAFORM_STATE_MEDIA_TYPE);
  assert.equal(encoded.document.text, STATE);
});

test("changing the entries or outputs of a document snapshot is refused: they are not stored", () => {
  const s = documentSnapshot(FACTORY, "prod", doc());
  const withEntry = { ...s, entries: [...s.entries, { address: "extra", type: "leaf" as const, kind: "k" }] };
  assertThrowsCode(() => encodeSnapshot(withEntry), "E_INVALID_SNAPSHOT", "change the document instead");
  const withOutput = { ...s, outputs: { ...s.outputs, added: 1 } };
  assertThrowsCode(() => encodeSnapshot(withOutput), "E_INVALID_SNAPSHOT");
  // The document itself may change: that is an update.
  const next = STATE.replace('"serial": 7', '"serial": 8').replace('"postgres"', '"mysql"');
  const updated = decodeSnapshot(encodeSnapshot(documentSnapshot(FACTORY, "prod", doc(next))));
  assert.equal(updated.entries[0]?.outputs?.engine, "mysql");
});

test("an unknown media type, a text that is not a state, and a stored revision with both entries and a document are refused", () => {
  assertThrowsCode(
    () => documentSnapshot(FACTORY, "prod", { mediaType: "text/plain", text: "{}" }),
    "E_INVALID_SNAPSHOT",
    "unknown document media type",
  );
  assertThrowsCode(
    () => documentSnapshot(FACTORY, "prod", doc("[1]")),
    "E_INVALID_SNAPSHOT",
    "not a Terraform state",
  );
  const both = JSON.parse(new TextDecoder().decode(encodeSnapshot(documentSnapshot(FACTORY, "prod", doc()))));
  both.entries = [];
  assertThrowsCode(() => decodeStoredSnapshot(JSON.stringify(both)), "E_INVALID_SNAPSHOT");
  const badDoc = { ...both, document: "text" };
  delete badDoc.entries;
  assertThrowsCode(() => decodeStoredSnapshot(JSON.stringify(badDoc)), "E_INVALID_SNAPSHOT");
});

test("an OpenTofu client-encrypted state is kept as it is, with no entries", () => {
  const encrypted =
    '{"serial":3,"lineage":"l-1","meta":{"key_provider.pbkdf2.main":"e30="},"encrypted_data":"AAEC","encryption_version":"v0"}';
  const decoded = decodeSnapshot(encodeSnapshot(documentSnapshot(FACTORY, "prod", doc(encrypted))));
  assert.equal(decoded.document?.text, encrypted);
  assert.deepEqual(decoded.entries, []);
});
