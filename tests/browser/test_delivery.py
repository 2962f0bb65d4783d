"""The finder pages in a real Chromium, with the minified bundle, as axe-core sees them.

Leaflet's own style sheet shows attribution links without an underline, told
apart from the text around them by colour alone, which axe-core's
``link-in-text-block`` (WCAG 1.4.1) fails; finder.css underlines them (and
finder.js loads Leaflet's CSS before it, so ours wins).  And the whole page,
results and map drawn, has no violation of any rule axe-core runs by default,
its best practices included (one ``main`` landmark holding the content).
"""

from __future__ import annotations

import pytest

from browser.test_links import axe_script  # noqa: F401 (a fixture)

WAIT_MS = 15_000


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)], ids=["phone", "desktop"])
@pytest.mark.parametrize("path", ["/?postcode=NE1+4ST&role=mentor", "/embed?postcode=NE1+4ST&event=jumps"])
def test_attribution_links_are_told_apart_from_their_text(browser, live_server, axe_script, width, height, path):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)  # CSP bypassed only to inject axe-core
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(live_server.url + path)
        page.wait_for_selector(".result-card, .leaflet-marker-icon", timeout=WAIT_MS)
        links = page.locator(".leaflet-control-attribution a")
        assert links.count() >= 2  # Leaflet's and the map data's
        for index in range(links.count()):
            assert links.nth(index).evaluate("a => getComputedStyle(a).textDecorationLine") == "underline"
        page.add_script_tag(path=str(axe_script))
        result = page.evaluate(
            "async () => { const r = await axe.run('.leaflet-control-attribution', {runOnly: ['link-in-text-block']});"
            " return {violations: r.violations.length, incomplete: r.incomplete.length, passes: r.passes.length}; }"
        )
        # Without an underline axe-core cannot always tell (the control's background is see-through over
        # the map) and leaves the rule "incomplete"; an underline passes it outright.
        assert result == {"violations": 0, "incomplete": 0, "passes": 1}, result
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/?postcode=NE1+4ST&role=mentor", "/embed?postcode=NE1+4ST&event=jumps"])
def test_the_finder_has_no_axe_violation_on_a_phone(browser, live_server, axe_script, path):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + path)
        page.wait_for_selector("#finder[data-ready='true']", timeout=WAIT_MS)
        if "postcode" in path:
            page.wait_for_selector(".leaflet-marker-icon", timeout=WAIT_MS)
        page.add_script_tag(path=str(axe_script))
        violations = page.evaluate(
            "async () => (await axe.run(document)).violations.map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
        )
        assert violations == []
    finally:
        context.close()
