/**
 * How a store wants the etag in `If-Match`. AWS S3 accepts the quoted ETag it returned;
 * Ceph RGW 16 compares against the unquoted value and refuses the quoted one with 412.
 */
export type EtagForm = "quoted" | "unquoted";

export const unquoteEtag = (etag: string): string => etag.replace(/^(W\/)?"(.*)"$/, "$2");
export const quoteEtag = (etag: string): string => `"${unquoteEtag(etag)}"`;
export const formatEtag = (etag: string, form: EtagForm): string =>
  form === "quoted" ? quoteEtag(etag) : unquoteEtag(etag);
export const sameEtag = (a: string, b: string): boolean => unquoteEtag(a) === unquoteEtag(b);
