"""axe-core 4 (vendored: tests/browser/vendor/axe.min.js) run in the page under test."""

from __future__ import annotations

from pathlib import Path

AXE_JS = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text()
#: Impacts that fail a page (issue 14): none of these may be reported.
BLOCKING = ("critical", "serious")


def violations(driver, impacts=BLOCKING) -> list[dict]:
    """axe's violations of the current page with one of `impacts`: `[{id, impact, help,
    nodes: [target selectors]}]`. The script is injected for the check only (not served)."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(AXE_JS)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                ", ".join(n["target"]) if isinstance(n["target"], list) else n["target"]
                for n in v["nodes"]
            ][:5],
        }
        for v in result
        if v["impact"] in impacts
    ]
