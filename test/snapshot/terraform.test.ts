import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  decodeSnapshot,
  diffSnapshots,
  type Entry,
  encodeSnapshot,
  MAX_JSON_DEPTH,
  SENSITIVE_MASK,
  validateSnapshot,
} from "../../src/snapshot/index.js";
import {
  parseTerraformState,
  TERRAFORM_STATE_MEDIA_TYPE,
  terraformView,
} from "../../src/snapshot/terraform.js";
import { assertThrowsCode, snapshotWith } from "./helpers.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "snapshot", "terraform");
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");
const WEBSHOP = fixture("webshop.tfstate");
const AWS = 'provider["registry.terraform.io/hashicorp/aws"]';

/** A minimal valid state around `resources` (and `extra` top-level fields). */
function stateWith(resources: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 4,
    terraform_version: "1.9.5",
    serial: 1,
    lineage: "3f0e6f1c-5a8b-4c2d-9e7f-112233445566",
    outputs: {},
    resources,
    ...extra,
  });
}

/** A managed root resource `type.name` with the given instances. */
const resource = (type: string, name: string, instances: unknown[], more: Record<string, unknown> = {}) => ({
  mode: "managed",
  type,
  name,
  provider: AWS,
  instances,
  ...more,
});

const byAddress = (entries: Entry[], address: string): Entry => {
  const e = entries.find((x) => x.address === address);
  assert.ok(e, `no entry ${address} among ${entries.map((x) => x.address).join(", ")}`);
  return e;
};

test("the media type", () => {
  assert.equal(TERRAFORM_STATE_MEDIA_TYPE, "application/vnd.terraform.state+json");
});

test("parseTerraformState reads lineage, serial, version and terraform_version", () => {
  assert.deepEqual(parseTerraformState(WEBSHOP), {
    lineage: "8d5b0c4e-2f3a-4b1c-9e7d-6a5f4c3b2a19",
    serial: 42,
    version: 4,
    terraformVersion: "1.9.5",
    encrypted: false,
  });
});

test("version and terraform_version are undefined when absent or of another type", () => {
  assert.deepEqual(parseTerraformState('{"lineage":"l","serial":0}'), {
    lineage: "l",
    serial: 0,
    version: undefined,
    terraformVersion: undefined,
    encrypted: false,
  });
  const odd = parseTerraformState('{"lineage":"l","serial":-0,"version":"4","terraform_version":1}');
  assert.equal(odd.version, undefined);
  assert.equal(odd.terraformVersion, undefined);
  assert.ok(Object.is(odd.serial, 0), "JSON -0 reads as 0");
});

test("every address form: root, count, for_each, nested module keys, data source, deposed", () => {
  const view = terraformView(WEBSHOP);
  assert.deepEqual(
    view.entries.map((e) => e.address),
    [
      "aws_db_instance.main",
      "aws_db_instance.main (deposed 1a2b3c4d)",
      'aws_iam_user.dev["alice"]',
      'aws_iam_user.dev["bob \\"the builder\\""]',
      "aws_instance.web[0]",
      "aws_instance.web[1]",
      "aws_s3_bucket.assets",
      "data.aws_ami.ubuntu",
      "module.net.aws_subnet.this",
      'module.net["eu"].module.subnets[0].aws_route_table.private[0]',
      'module.net["eu"].module.subnets[0].aws_route_table.private[1]',
      "null_resource.legacy",
    ],
  );
  assert.ok(view.entries.every((e) => e.type === "leaf"));
});

test("an instance entry: kind, schemaVersion, provider input, attributes as outputs, dependsOn", () => {
  const web1 = byAddress(terraformView(WEBSHOP).entries, "aws_instance.web[1]");
  assert.deepEqual(web1, {
    address: "aws_instance.web[1]",
    type: "leaf",
    kind: "aws_instance",
    schemaVersion: 1,
    inputs: { provider: AWS },
    outputs: {
      ami: "ami-0c1c30571d2dae5c9",
      id: "i-0fedcba9876543210",
      instance_type: "t3.micro",
      private_ip: "10.0.1.11",
    },
    dependsOn: ["data.aws_ami.ubuntu", "module.net.aws_subnet.this"],
  });
});

test("a data source: kind is the type, schema version 0 and empty sensitive_attributes are omitted", () => {
  const ami = byAddress(terraformView(WEBSHOP).entries, "data.aws_ami.ubuntu");
  assert.equal(ami.kind, "aws_ami");
  assert.equal(ami.schemaVersion, undefined);
  assert.equal(ami.sensitiveOutputs, undefined);
  assert.equal(ami.dependsOn, undefined);
  assert.equal(ami.outputs?.most_recent, true);
});

test("a module provider configuration is kept as the provider input", () => {
  const rt = byAddress(
    terraformView(WEBSHOP).entries,
    'module.net["eu"].module.subnets[0].aws_route_table.private[1]',
  );
  assert.deepEqual(rt.inputs, { provider: `module.net["eu"].${AWS}.eu` });
  assert.equal(rt.kind, "aws_route_table");
});

test("a deposed object is its own entry next to the current one", () => {
  const entries = terraformView(WEBSHOP).entries;
  const current = byAddress(entries, "aws_db_instance.main");
  const deposed = byAddress(entries, "aws_db_instance.main (deposed 1a2b3c4d)");
  assert.equal(current.outputs?.identifier, "webshop");
  assert.equal(deposed.outputs?.identifier, "webshop-old");
  assert.equal(deposed.schemaVersion, 2);
  assert.deepEqual(deposed.dependsOn, ["aws_security_group.db"]);
});

test("sensitive_attributes paths mark their first get_attr step's attribute, sorted and unique", () => {
  const entries = terraformView(WEBSHOP).entries;
  assert.deepEqual(byAddress(entries, "aws_db_instance.main").sensitiveOutputs, ["password", "tags"]);
  assert.deepEqual(byAddress(entries, "aws_db_instance.main (deposed 1a2b3c4d)").sensitiveOutputs, [
    "password",
  ]);
});

test("sensitive_attributes of other shapes are tolerated; an empty path marks every attribute", () => {
  const getAttr = (value: unknown) => [{ type: "get_attr", value }];
  const paths = [
    getAttr("token"),
    getAttr("token"),
    getAttr("api_key"),
    [{ type: "index", value: { value: 0, type: "number" } }],
    getAttr(7),
    [{ type: "get_attr" }],
    "password",
    null,
    [null],
    [{ type: "get_attr", value: "nested" }, ...getAttr("ignored_deeper_step")],
  ];
  const entries = terraformView(
    stateWith([
      resource("x_secret", "a", [
        { attributes: { token: "t", api_key: "k", nested: {} }, sensitive_attributes: paths },
      ]),
      resource("x_secret", "b", [{ attributes: { z: 1, a: 2 }, sensitive_attributes: [[]] }]),
      resource("x_secret", "c", [{ attributes: { a: 1 }, sensitive_attributes: { password: true } }]),
    ]),
  ).entries;
  assert.deepEqual(byAddress(entries, "x_secret.a").sensitiveOutputs, ["api_key", "nested", "token"]);
  assert.deepEqual(byAddress(entries, "x_secret.b").sensitiveOutputs, ["a", "z"]);
  assert.equal(byAddress(entries, "x_secret.c").sensitiveOutputs, undefined);
});

test("a diff of two views masks sensitive attributes and still reports their change", () => {
  const after = WEBSHOP.replace('"password": "correct-horse-battery-staple"', '"password": "rotated-pw-9"')
    .replace('"engine_version": "16.3"', '"engine_version": "16.4"')
    .replace('"serial": 42', '"serial": 43');
  assert.notEqual(after, WEBSHOP);
  const snap = (text: string) => snapshotWith(terraformView(text).entries);
  const d = diffSnapshots(snap(WEBSHOP), snap(after));
  assert.deepEqual(
    d.changed.map((c) => c.address),
    ["aws_db_instance.main"],
  );
  assert.deepEqual(d.changed[0]?.outputs, [
    { path: "engine_version", before: "16.3", after: "16.4" },
    { path: "password", before: SENSITIVE_MASK, after: SENSITIVE_MASK },
  ]);
  assert.doesNotMatch(JSON.stringify(d), /horse|rotated-pw/);
});

test("a provider change shows in a diff", () => {
  const before = stateWith([resource("aws_vpc", "main", [{ attributes: { id: "vpc-1" } }])]);
  const after = stateWith([
    resource("aws_vpc", "main", [{ attributes: { id: "vpc-1" } }], { provider: `${AWS}.west` }),
  ]);
  const d = diffSnapshots(
    snapshotWith(terraformView(before).entries),
    snapshotWith(terraformView(after).entries),
  );
  assert.deepEqual(d.changed[0]?.inputs, [{ path: "provider", before: AWS, after: `${AWS}.west` }]);
});

test("attributes_flat is used as the outputs when there are no attributes", () => {
  const legacy = byAddress(terraformView(WEBSHOP).entries, "null_resource.legacy");
  assert.deepEqual(legacy.outputs, {
    id: "5577006791947779410",
    "triggers.%": "1",
    "triggers.build": "2019-04-01",
  });
  assert.deepEqual(legacy.inputs, { provider: 'provider["registry.terraform.io/hashicorp/null"]' });
});

test("attributes win over attributes_flat; no attributes at all means no outputs", () => {
  const entries = terraformView(
    stateWith([
      resource("x_both", "a", [{ attributes: { id: "json" }, attributes_flat: { id: "flat" } }]),
      resource("x_none", "a", [{ schema_version: 3 }]),
      resource("x_empty", "a", [{ attributes: {} }]),
      resource("x_array", "a", [{ attributes: ["not", "an", "object"] }]),
    ]),
  ).entries;
  assert.deepEqual(byAddress(entries, "x_both.a").outputs, { id: "json" });
  assert.equal(byAddress(entries, "x_none.a").outputs, undefined);
  assert.equal(byAddress(entries, "x_none.a").schemaVersion, 3);
  assert.equal(byAddress(entries, "x_empty.a").outputs, undefined);
  assert.equal(byAddress(entries, "x_array.a").outputs, undefined);
});

test("root outputs: values by name, a sensitive one masked", () => {
  const view = terraformView(WEBSHOP);
  assert.deepEqual(view.outputs, {
    bucket_arn: "arn:aws:s3:::webshop-assets",
    db_password: SENSITIVE_MASK,
    web_ips: ["10.0.1.10", "10.0.1.11"],
  });
  assert.doesNotMatch(JSON.stringify(view.outputs), /horse/);
});

test("outputs without a value or of the wrong shape are left out; an output named __proto__ stays an output", () => {
  const view = terraformView(
    stateWith([], {
      outputs: JSON.parse(
        '{"__proto__":{"value":{"polluted":true},"type":"dynamic"},"a":{"type":"string"},"b":"x","c":{"value":null,"sensitive":"yes"}}',
      ),
    }),
  );
  assert.deepEqual(Object.keys(view.outputs), ["__proto__", "c"]);
  assert.equal(view.outputs.c, null, "only sensitive: true masks");
  assert.equal(Object.getPrototypeOf(view.outputs), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("an OpenTofu client-encrypted state: header read, no entries, no outputs", () => {
  const body = fixture("opentofu-encrypted.tfstate");
  assert.deepEqual(parseTerraformState(body), {
    lineage: "0f4c2f7a-3c1e-4e59-b1a4-5d8e9c0b7a21",
    serial: 3,
    version: undefined,
    terraformVersion: undefined,
    encrypted: true,
  });
  const view = terraformView(body);
  assert.equal(view.header.encrypted, true);
  assert.deepEqual(view.entries, []);
  assert.deepEqual(view.outputs, {});
});

test("encrypted needs both encrypted_data and encryption_version; resources are then not read", () => {
  const r = [resource("aws_vpc", "main", [{ attributes: { id: "vpc-1" } }])];
  assert.equal(parseTerraformState(stateWith(r, { encrypted_data: "AAAA" })).encrypted, false);
  assert.equal(parseTerraformState(stateWith(r, { encryption_version: "v0" })).encrypted, false);
  assert.equal(terraformView(stateWith(r, { encrypted_data: "AAAA" })).entries.length, 1);
  const both = terraformView(stateWith(r, { encrypted_data: "AAAA", encryption_version: "v0" }));
  assert.equal(both.header.encrypted, true);
  assert.equal(both.entries.length, 0);
});

test("refusals: empty, not JSON, not an object, never quoting the body", () => {
  const refused = (body: string, ...fragments: string[]) => {
    assertThrowsCode(
      () => parseTerraformState(body),
      "E_INVALID_ARGUMENT",
      "not a Terraform state",
      ...fragments,
    );
    assertThrowsCode(() => terraformView(body), "E_INVALID_ARGUMENT", "not a Terraform state", ...fragments);
  };
  refused("", "the body is empty");
  refused(" \n\t", "the body is empty");
  refused('{"lineage":"l","serial":1,"password":hunter2}', "the body is not valid JSON");
  refused('{"lineage":"l","serial":1}{}', "the body is not valid JSON");
  refused("[1,2]", "the body is an array, not a JSON object");
  refused('"hunter2"', "the body is a string, not a JSON object");
  refused("null", "the body is null, not a JSON object");
  refused("42", "the body is a number, not a JSON object");
  refused("true", "the body is a boolean, not a JSON object");
  assert.throws(
    () => parseTerraformState('{"lineage":"l","serial":1,"password":hunter2}'),
    (e: Error) => !e.message.includes("hunter2"),
  );
});

test("refusals: lineage missing, empty or not a string", () => {
  const refused = (doc: Record<string, unknown>, fragment: string) =>
    assertThrowsCode(() => parseTerraformState(JSON.stringify(doc)), "E_INVALID_ARGUMENT", fragment);
  refused({ serial: 1 }, '"lineage" is missing');
  refused({ serial: 1, lineage: "" }, '"lineage" must be a non-empty string, found an empty string');
  refused({ serial: 1, lineage: 7 }, '"lineage" must be a non-empty string, found a number');
  refused({ serial: 1, lineage: null }, '"lineage" must be a non-empty string, found null');
  refused({ serial: 1, lineage: ["a"] }, '"lineage" must be a non-empty string, found an array');
  refused({ serial: 1, lineage: { id: "a" } }, '"lineage" must be a non-empty string, found an object');
});

test("refusals: serial missing, negative, fractional, too large or not a number, never quoting it", () => {
  const refused = (serialJson: string | undefined, fragment: string) => {
    const body = serialJson === undefined ? '{"lineage":"l"}' : `{"lineage":"l","serial":${serialJson}}`;
    assertThrowsCode(
      () => parseTerraformState(body),
      "E_INVALID_ARGUMENT",
      "not a Terraform state",
      fragment,
    );
  };
  refused(undefined, '"serial" is missing');
  refused('"7"', '"serial" must be a non-negative integer, found a string');
  refused("-1", '"serial" must be a non-negative integer, found a negative number');
  refused("1.5", '"serial" must be a non-negative integer, found a fractional number');
  refused(
    "9007199254740992",
    '"serial" must be a non-negative integer, found a number above 9007199254740991',
  );
  refused("1e400", '"serial" must be a non-negative integer, found a number above 9007199254740991');
  refused("-0.5", '"serial" must be a non-negative integer, found a negative number');
  refused("null", '"serial" must be a non-negative integer, found null');
  refused("true", '"serial" must be a non-negative integer, found a boolean');
  assert.throws(
    () => parseTerraformState('{"lineage":"l","serial":"31337"}'),
    (e: Error) => !e.message.includes("31337"),
  );
});

test("refusals: input that is not text", () => {
  for (const input of [undefined, new Uint8Array([123, 125]), 42])
    assertThrowsCode(
      () => parseTerraformState(input as unknown as string),
      "E_INVALID_ARGUMENT",
      "a Terraform state must be given as text",
    );
});

test("a junk resource list is skipped without throwing", () => {
  const view = terraformView(stateWith([1, null, { type: "x" }, "s"]));
  assert.deepEqual(view.entries, []);
  assert.equal(view.header.serial, 1);
});

test("resources and instances that cannot be addressed are skipped, the rest kept", () => {
  const good = { attributes: { id: "ok" } };
  const entries = terraformView(
    stateWith([
      resource("x_ok", "a", [good]),
      resource("x_bad", "no_instances", {} as unknown as unknown[]),
      resource("", "empty_type", [good]),
      resource("x_bad", "", [good]),
      { ...resource("x_bad", "unknown_mode", [good]), mode: "ephemeral" },
      { ...resource("x_bad", "no_mode", [good]), mode: undefined },
      resource("x_bad", "numeric_module", [good], { module: 3 }),
      resource("x_ok", "root_module_null", [good], { module: null }),
      resource("x_ok", "b", [
        null,
        7,
        "instance",
        [good],
        { ...good, index_key: true },
        { ...good, index_key: 1.5 },
        { ...good, index_key: { k: 1 } },
        { ...good, deposed: 12345678 },
        { ...good, index_key: 2 },
        { ...good, index_key: "k", deposed: "" },
        { ...good, schema_version: -1, dependencies: ["x_ok.a", 3, null] },
        { ...good, index_key: 4, schema_version: 1.5, dependencies: "x_ok.a" },
      ]),
      resource("x_ok", "c", [
        { index_key: 0, attributes: null, attributes_flat: "id=1", sensitive_attributes: 5 },
      ]),
    ]),
  ).entries;
  assert.deepEqual(
    entries.map((e) => e.address),
    ["x_ok.a", "x_ok.b", 'x_ok.b["k"]', "x_ok.b[2]", "x_ok.b[4]", "x_ok.c[0]", "x_ok.root_module_null"],
  );
  assert.deepEqual(byAddress(entries, "x_ok.b").dependsOn, ["x_ok.a"]);
  assert.equal(byAddress(entries, "x_ok.b").schemaVersion, undefined);
  assert.equal(byAddress(entries, "x_ok.b[4]").schemaVersion, undefined);
  assert.equal(byAddress(entries, "x_ok.b[4]").dependsOn, undefined);
  assert.deepEqual(byAddress(entries, "x_ok.c[0]"), {
    address: "x_ok.c[0]",
    type: "leaf",
    kind: "x_ok",
    inputs: { provider: AWS },
  });
});

test("odd top-level shapes yield an empty view, never an error", () => {
  for (const extra of [
    { resources: null, outputs: null },
    { resources: {}, outputs: [] },
    { resources: "none", outputs: "none" },
    { resources: undefined, outputs: undefined },
  ]) {
    const view = terraformView(stateWith(undefined, extra));
    assert.deepEqual(view.entries, []);
    assert.deepEqual(view.outputs, {});
  }
});

test("duplicate addresses are kept with ' (duplicate N)' suffixes, never colliding", () => {
  const inst = (id: string) => ({ attributes: { id } });
  const entries = terraformView(
    stateWith([
      resource("x", "a", [inst("1"), inst("2")]),
      resource("x", "a (duplicate 3)", [inst("genuine")]),
      resource("x", "a", [inst("3")]),
      resource("x", "a", [inst("4")]),
    ]),
  ).entries;
  assert.deepEqual(
    entries.map((e) => [e.address, e.outputs?.id]),
    [
      ["x.a", "1"],
      ["x.a (duplicate 2)", "2"],
      ["x.a (duplicate 3)", "genuine"],
      ["x.a (duplicate 4)", "3"],
      ["x.a (duplicate 5)", "4"],
    ],
  );
});

test("a snapshot built from the view validates (deep), encodes and decodes back", () => {
  const view = terraformView(WEBSHOP);
  const s = snapshotWith(view.entries, { outputs: view.outputs });
  assert.doesNotThrow(() => validateSnapshot(s, { deep: true }));
  const decoded = decodeSnapshot(encodeSnapshot(s));
  assert.deepEqual(decoded.entries, view.entries);
  assert.deepEqual(decoded.outputs, view.outputs);
});

test("values nested deeper than a snapshot can hold read as a marker; the snapshot still encodes", () => {
  let deep: unknown = "bottom";
  for (let i = 0; i < MAX_JSON_DEPTH + 50; i++) deep = i % 2 === 0 ? [deep] : { d: deep };
  const text = stateWith([resource("x_deep", "a", [{ attributes: { deep, shallow: { ok: [1] } } }])], {
    outputs: { deep: { value: deep, type: "dynamic" }, fine: { value: [[1]], type: "dynamic" } },
  });
  const view = terraformView(text);
  const entry = byAddress(view.entries, "x_deep.a");
  assert.equal(entry.outputs?.deep, "(nested too deeply to show)");
  assert.deepEqual(entry.outputs?.shallow, { ok: [1] });
  assert.equal(view.outputs.deep, "(nested too deeply to show)");
  assert.deepEqual(view.outputs.fine, [[1]]);
  const s = snapshotWith(view.entries, { outputs: view.outputs });
  assert.doesNotThrow(() => validateSnapshot(s, { deep: true }));
  assert.doesNotThrow(() => encodeSnapshot(s));
});

test("values just under the depth limit are kept as they are", () => {
  let value: unknown = 1;
  for (let i = 0; i < MAX_JSON_DEPTH - 8; i++) value = [value];
  const view = terraformView(stateWith([resource("x", "a", [{ attributes: { value } }])]));
  const entry = byAddress(view.entries, "x.a");
  assert.ok(Array.isArray(entry.outputs?.value));
  assert.doesNotThrow(() => encodeSnapshot(snapshotWith(view.entries)));
});

test("an attribute named __proto__ stays an attribute and the snapshot validates", () => {
  const text =
    '{"lineage":"l","serial":1,"resources":[{"mode":"managed","type":"x","name":"a","instances":[{"attributes":{"__proto__":{"admin":true},"id":"1"},"sensitive_attributes":[[{"type":"get_attr","value":"__proto__"}]]}]}]}';
  const entry = byAddress(terraformView(text).entries, "x.a");
  assert.deepEqual(Object.keys(entry.outputs ?? {}), ["__proto__", "id"]);
  assert.deepEqual(entry.sensitiveOutputs, ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  assert.doesNotThrow(() => validateSnapshot(snapshotWith([entry]), { deep: true }));
});

test("a 15 000-resource state is viewed whole; 15 000 instances at one address get distinct suffixes", () => {
  const resources = [];
  for (let i = 0; i < 15_000; i++) {
    const attributes: Record<string, unknown> = { id: `i-${i}`, tags: { Name: `web-${i}`, env: "prod" } };
    for (let k = 0; k < 40; k++)
      attributes[`attr_${k}`] = k % 4 === 0 ? [{ cidr: "10.0.0.0/16", k }] : "v".repeat(40);
    resources.push(
      resource("aws_instance", `web${i % 100}`, [{ index_key: i, schema_version: 1, attributes }], {
        module: `module.app${i % 7}`,
      }),
    );
  }
  const text = stateWith(resources);
  assert.ok(text.length > 30_000_000, `fixture is ${text.length} chars`);
  const view = terraformView(text);
  assert.equal(view.entries.length, 15_000);
  assert.equal(new Set(view.entries.map((e) => e.address)).size, 15_000);

  // Every instance at one address (how fast this is belongs to `npm run bench`, not to a test).
  const same = stateWith(
    Array.from({ length: 15_000 }, () => resource("x", "a", [{ attributes: { id: "1" } }])),
  );
  const dupes = terraformView(same).entries;
  assert.equal(dupes.length, 15_000);
  assert.equal(dupes.at(-1)?.address, "x.a (duplicate 9999)", "sorted by code point");
  assert.equal(new Set(dupes.map((e) => e.address)).size, 15_000);
});
