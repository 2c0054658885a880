"""What the model reads of a page: its title, URL, visible text (a window of it) and the
controls it can act on, each tagged with a ref (`e7`) that browser_click / browser_fill take.

One script runs in the page's main frame (`READ_PAGE`): it numbers the visible links, buttons,
inputs, text areas and selects in document order, marks each with the attribute
`data-agenthost-ref` (so `[data-agenthost-ref="e7"]` finds it again) and returns a window of
`document.body.innerText`, cut in the page, so a huge page never crosses the wire whole. The
text of frames (iframes) is not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

REF_ATTRIBUTE = "data-agenthost-ref"
REF_PATTERN = re.compile(r"^e[1-9][0-9]{0,5}$")

READ_PAGE = """
([offset, maxChars, maxControls]) => {
  const ATTR = "data-agenthost-ref";
  for (const old of document.querySelectorAll("[" + ATTR + "]")) old.removeAttribute(ATTR);
  const clean = (s, n) => String(s || "").replace(/\\s+/g, " ").trim().slice(0, n);
  const visible = (e) => {
    const box = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden";
  };
  const wanted = "a[href], button, input:not([type=hidden]), textarea, select, summary, " +
    "[role=button], [role=link], [role=checkbox], [role=tab], [contenteditable=true]";
  const controls = [];
  let total = 0;
  for (const e of document.querySelectorAll(wanted)) {
    if (!visible(e)) continue;
    total += 1;
    if (controls.length >= maxControls) continue;
    const ref = "e" + total;
    e.setAttribute(ATTR, ref);
    const tag = e.tagName.toLowerCase();
    const kind = tag === "a" ? "link" : tag === "input" ? "input " + e.type : tag;
    const isField = tag === "input" || tag === "textarea" || tag === "select";
    const name = clean(e.getAttribute("aria-label") || (isField ? "" : e.innerText) ||
      e.getAttribute("title") || e.getAttribute("alt"), 80);
    let line = "[" + ref + "] " + kind + (name ? ' "' + name + '"' : "");
    if (isField) {
      if (e.name) line += " name=" + clean(e.name, 40);
      if (e.placeholder) line += ' placeholder="' + clean(e.placeholder, 60) + '"';
      if (e.value && e.type !== "password") line += ' value="' + clean(e.value, 60) + '"';
    }
    if (tag === "a") line += " -> " + clean(e.href, 200);
    controls.push(line);
  }
  const text = document.body ? document.body.innerText : "";
  return {
    title: document.title, url: location.href, length: text.length,
    text: text.slice(offset, offset + maxChars), controls, total,
  };
}
"""


@dataclass(frozen=True, slots=True)
class PageView:
    """One reading of a page (what READ_PAGE returned)."""

    title: str
    url: str
    text: str
    offset: int
    length: int  # characters of the whole text
    controls: list[str]
    total_controls: int

    @classmethod
    def of(cls, raw: dict[str, Any], offset: int) -> PageView:
        return cls(
            title=str(raw.get("title") or ""),
            url=str(raw.get("url") or ""),
            text=str(raw.get("text") or ""),
            offset=offset,
            length=int(raw.get("length") or 0),
            controls=[str(line) for line in raw.get("controls") or []],
            total_controls=int(raw.get("total") or 0),
        )

    def render(self, *, controls: bool = True) -> str:
        lines = [f"Title: {self.title or '(none)'}", f"URL: {self.url}", ""]
        lines.append(self.text.strip() or "(the page shows no text)")
        end = self.offset + len(self.text)
        if self.offset or end < self.length:
            more = f"; browser_read(offset={end}) reads on" if end < self.length else ""
            lines.append(
                f"\n[characters {self.offset}-{end} of {self.length}{more}]",
            )
        if controls and self.controls:
            lines.append("\nControls (give the ref to browser_click or browser_fill):")
            lines.extend(self.controls)
            hidden = self.total_controls - len(self.controls)
            if hidden > 0:
                lines.append(f"[{hidden} more controls not listed]")
        return "\n".join(lines)


def ref_selector(ref: str) -> str:
    return f'[{REF_ATTRIBUTE}="{ref}"]'
