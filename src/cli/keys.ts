import {
  awsKmsEncrypter,
  keyEncrypter,
  keyring,
  noopEncrypter,
  passphraseEncrypter,
} from "../crypto/index.js";
import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";

/** One key option as given on the command line; their order decides the keyring's primary. */
export interface KeySpec {
  kind: "key-env" | "passphrase-env" | "kms-key-id";
  value: string;
}

export interface KmsSettings {
  endpoint?: string | undefined;
  region?: string | undefined;
}

/** The env var read when no key option is given. */
export const DEFAULT_KEY_ENV = "STATEKEEPER_KEY";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function envVarName(flag: string, name: string): string {
  if (!ENV_NAME.test(name))
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      `${flag} takes the NAME of an environment variable (letters, digits, _), not its value`,
    );
  return name;
}

function encrypterFor(
  spec: KeySpec,
  kms: KmsSettings,
  env: NodeJS.ProcessEnv,
  flagPrefix: string,
): Encrypter {
  switch (spec.kind) {
    case "key-env":
      return keyEncrypter({ envVar: envVarName(`--${flagPrefix}key-env`, spec.value), env });
    case "passphrase-env": {
      const name = envVarName(`--${flagPrefix}passphrase-env`, spec.value);
      const passphrase = env[name];
      if (passphrase === undefined || passphrase === "")
        throw new StateKeeperError(
          "E_INVALID_CONFIG",
          `--${flagPrefix}passphrase-env: environment variable ${name} is not set`,
        );
      return passphraseEncrypter({ passphrase });
    }
    case "kms-key-id":
      return awsKmsEncrypter({
        keyId: spec.value,
        ...(kms.endpoint === undefined ? {} : { endpoint: kms.endpoint }),
        ...(kms.region === undefined ? {} : { region: kms.region }),
      });
  }
}

/**
 * The encrypter the key options describe: one key, or a keyring whose primary is the first key
 * given. `undefined` when no key option was given.
 */
export function encrypterFromSpecs(
  specs: readonly KeySpec[],
  kms: KmsSettings,
  env: NodeJS.ProcessEnv = process.env,
  flagPrefix = "",
): Encrypter | undefined {
  const [first, ...rest] = specs.map((s) => encrypterFor(s, kms, env, flagPrefix));
  if (first === undefined) return undefined;
  return rest.length === 0 ? first : keyring(first, ...rest);
}

/** Without key options: `STATEKEEPER_KEY` when it is set, else unencrypted (noop) envelopes. */
export function defaultEncrypter(env: NodeJS.ProcessEnv = process.env): Encrypter {
  const value = env[DEFAULT_KEY_ENV];
  return value === undefined || value === ""
    ? noopEncrypter()
    : keyEncrypter({ envVar: DEFAULT_KEY_ENV, env });
}
