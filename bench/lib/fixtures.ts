import { createHash } from "node:crypto";
import type { Entry, JsonObject, Snapshot } from "../../src/snapshot/index.js";

export const FACTORY = { name: "bench", version: "1.0.0", contentRevision: "0".repeat(40) };

/** Deterministic filler: a hex stream seeded by `seed`, so runs write the same bytes. */
function filler(seed: string, length: number): string {
  let out = "";
  let block = seed;
  while (out.length < length) {
    block = createHash("sha256").update(block).digest("hex");
    out += block;
  }
  return out.slice(0, length);
}

/**
 * One resource shaped like a Terraform/Pulumi EC2 instance: ~6.7 kB encoded, so 15 000 of them
 * make the "100 MB Terraform state" the issue talks about.
 */
export function makeEntry(i: number, generation = 0): Entry {
  const id = `i-${filler(`id${i}`, 17)}`;
  const inputs: JsonObject = {
    ami: `ami-${filler(`ami${i}`, 17)}`,
    instanceType: "t3.large",
    subnetId: `subnet-${filler(`sn${i % 16}`, 17)}`,
    tags: { Name: `web-${i}`, team: "platform", env: "prod", generation: String(generation) },
    userData: filler(`ud${i}`, 2400),
    vpcSecurityGroupIds: [0, 1, 2].map((k) => `sg-${filler(`sg${i}-${k}`, 17)}`),
    rootBlockDevice: { volumeSize: 50, volumeType: "gp3", encrypted: true, iops: 3000 },
  };
  const outputs: JsonObject = {
    id,
    arn: `arn:aws:ec2:eu-west-1:123456789012:instance/${id}`,
    privateIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    privateDns: `ip-10-0-${i & 255}.eu-west-1.compute.internal`,
    consoleOutput: filler(`co${i}-${generation}`, 2800),
    ebsBlockDevices: [0, 1].map((k) => ({
      deviceName: `/dev/sd${"fg"[k]}`,
      volumeId: `vol-${filler(`v${i}-${k}`, 17)}`,
    })),
    generation,
  };
  return {
    address: `aws:ec2/instance:Instance::web-${i}`,
    type: "leaf",
    kind: "aws:ec2/instance:Instance",
    schemaVersion: 1,
    sensitiveOutputs: ["consoleOutput"],
    inputs,
    outputs,
    dependsOn: [`aws:ec2/vpc:Vpc::main`],
  };
}

export function makeSnapshot(stack: string, entries: number, generation = 0): Snapshot {
  return {
    formatVersion: 1,
    factory: FACTORY,
    stack,
    generatedAt: new Date(1_700_000_000_000).toISOString(),
    entries: Array.from({ length: entries }, (_, i) => makeEntry(i, generation)),
    outputs: { endpoint: "https://example.invalid", entries },
  };
}

/** A fresh 32-byte key (the key encrypter's input); never printed. */
export function benchKey(): Uint8Array {
  return new Uint8Array(createHash("sha256").update(`bench-key-${process.pid}-${Date.now()}`).digest());
}
