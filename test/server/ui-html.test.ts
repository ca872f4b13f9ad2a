// The web view's HTML template: every interpolated value is escaped unless it is markup the
// template built itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { escapeHtml, html, query, raw } from "../../src/server/ui/html.js";

describe("web view: html template", () => {
  test("escapes text and attribute values", () => {
    const address = `<script>alert("x")</script>&'\``;
    const out = html`<td title="${address}">${address}</td>`.text;
    assert.equal(
      out,
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;</td>',
    );
    assert.ok(!out.includes("<script>"));
  });

  test("nests built markup as is, joins arrays, leaves out null/undefined/false", () => {
    const items = ["a<b", "c"].map((x) => html`<li>${x}</li>`);
    assert.equal(
      html`<ul>${items}</ul>${undefined}${null}${false}${0}`.text,
      "<ul><li>a&lt;b</li><li>c</li></ul>0",
    );
    assert.equal(html`${raw("<br>")}`.text, "<br>");
  });

  test("a plain string that looks like markup is still escaped", () => {
    const markup: unknown = "<b>bold</b>";
    assert.equal(html`${markup}`.text, "&lt;b&gt;bold&lt;/b&gt;");
    assert.equal(escapeHtml("\"'"), "&quot;&#39;");
  });

  test("query strings are encoded", () => {
    assert.equal(query({ address: "<x>&y=1", none: undefined }), "?address=%3Cx%3E%26y%3D1");
    assert.equal(query({}), "");
  });
});
