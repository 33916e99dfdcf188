"""The Model page's graph (Cytoscape.js) as the browser tests read and click it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from app import ids
from app import model_graph as mg
from tests.browser.driver import goto, wait_on

#: The Cytoscape instance drawing the graph (Cytoscape.js registers it on its container).
CY_JS = f"const cy = document.getElementById('{mg.GRAPH}')._cyreg.cy;"
#: The drawn nodes once the layout has placed them (every node inside the canvas), else null.
LAID_OUT_JS = f"""
const el = document.getElementById('{mg.GRAPH}');
const cy = el && el._cyreg && el._cyreg.cy;
if (!cy || !cy.nodes().length) return null;
const placed = cy.nodes().every(n => {{
    const p = n.renderedPosition();
    return p.x > 0 && p.y > 0 && p.x < cy.width() && p.y < cy.height();
}});
return placed ? {{ids: cy.nodes().map(n => n.id()), edges: cy.edges().length}} : null;
"""


def graph_drawn(browser, url: str) -> dict:
    goto(browser, url)
    return wait_on(browser, 30).until(lambda d: d.execute_script(LAID_OUT_JS))


def explorer_shows(browser, layer: str) -> None:
    wait_on(browser, 60).until(
        lambda d: (
            urlsplit(d.current_url).path == "/activations"
            and parse_qs(urlsplit(d.current_url).query).get("layer") == [layer]
            and d.find_element(By.ID, ids.ACT_LAYER).text.startswith(layer)
        )
    )


def click_node(browser, node: str) -> None:
    """Click the graph's node `node` with the mouse, where Cytoscape drew it."""
    canvas = browser.find_element(By.ID, mg.GRAPH)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    where = (
        CY_JS + "const p = cy.getElementById(arguments[0]).renderedPosition(); return [p.x, p.y];"
    )
    # where the node rests: on a loaded machine the layout or a viewport change can still be
    # moving it when the first position is read (a click there hits the empty canvas)
    seen: list = [None]

    def resting(d):
        now = d.execute_script(where, node)
        still, seen[0] = now == seen[0], now
        return now if still else False

    x, y = wait_on(browser, 30, poll=0.3).until(resting)
    size = canvas.size
    ActionChains(browser).move_to_element_with_offset(
        canvas, round(x - size["width"] / 2), round(y - size["height"] / 2)
    ).click().perform()
