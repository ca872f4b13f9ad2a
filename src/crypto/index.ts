export type { Encrypter } from "./types.js";
