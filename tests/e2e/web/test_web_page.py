"""The web page in a real browser (Debian's Chromium through Playwright) against a real server."""

from __future__ import annotations

import re

import pytest
from support.browser import CHROMIUM, launch_chromium
from support.ci_guard import skip_unless_ci
from support.serving import register_champion, running_server, train_small_model

from imdbops.serving.app import create_app


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        skip_unless_ci("Debian's chromium is not installed here (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


@pytest.mark.browser
def test_page_predicts_and_shows_the_model_card(cfg, tmp_path, monkeypatch, browser_page):
    from playwright.sync_api import expect

    # MLflow's pip-requirements inference re-imports the model in a subprocess; not needed here.
    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    model, _ = train_small_model(n=800)
    register_champion(cfg, model, metrics={"roc_auc": 0.7123, "accuracy": 0.655})
    page = browser_page
    with running_server(create_app(cfg)) as srv:
        page.goto(srv.url + "/")
        page.wait_for_selector("body[data-ready='true']")

        # The model card comes from /api/v1/model: key numbers up front, the rest folded.
        expect(page.locator("#model-version")).to_have_text("1")
        expect(page.locator("#model-data")).to_have_text("0123456789ab")
        expect(page.locator("#key-metrics")).to_contain_text("0.712")
        expect(page.locator("#metrics")).to_be_hidden()
        page.get_by_text("All metrics and lineage").click()
        expect(page.locator("#metrics")).to_contain_text("roc_auc")
        expect(page.locator("#metrics")).to_contain_text("0.712")

        # Fill the form by hand and ask.
        page.get_by_label("Movie title").fill("The Matrix")
        page.get_by_label("Action", exact=True).check()
        page.get_by_label("Sci-Fi").check()
        page.get_by_label("Year (optional)").fill("1999")
        page.get_by_role("button", name="Predict").click()
        expect(page.locator("#verdict")).to_have_text(re.compile(r"Audiences will probably"))
        expect(page.locator("#probability")).to_have_text(re.compile(r"^\d{1,3}\.\d%$"))
        expect(page.locator("#answer-version")).to_have_text("1")
        shown = float(page.locator("#probability").inner_text().rstrip("%"))
        import httpx

        api = httpx.post(
            srv.url + "/api/v1/predict",
            json={"items": [{"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999}]},
        ).json()["data"]["predictions"][0]
        assert shown == pytest.approx(api["probability"] * 100, abs=0.06)
        width = page.locator("#bar-fill").evaluate("el => parseFloat(el.style.width)")
        assert width == pytest.approx(shown, abs=0.06)
        # The reasons under the answer are the API's explanation, signed.
        why = httpx.post(
            srv.url + "/api/v1/predict",
            json={
                "items": [{"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999}],
                "explain": True,
            },
        ).json()["data"]["predictions"][0]["explanation"]["reasons"]
        expect(page.locator("#reasons-box")).to_be_visible()
        expect(page.locator("#reasons li")).to_have_count(len(why))
        for i, reason in enumerate(why):
            label, value = reason.rsplit(" ", 1)
            expect(page.locator("#reasons li").nth(i)).to_have_text(f"{label} ({value})")
            css = "down" if value.startswith("-") else "up"
            expect(page.locator("#reasons li").nth(i)).to_have_class(css)
        page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)

        # An example fills the form.
        page.get_by_role("button", name="Fill the form with Toy Story").click()
        expect(page.get_by_label("Movie title")).to_have_value("Toy Story")
        expect(page.get_by_label("Animation")).to_be_checked()
        expect(page.get_by_label("Action", exact=True)).not_to_be_checked()

        # A 4xx from the API is shown as its message.
        page.evaluate("document.getElementById('title').removeAttribute('maxlength')")
        page.get_by_label("Movie title").fill("x" * 301)
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_role("alert")).to_contain_text("items[0].title")
        expect(page.get_by_role("alert")).to_contain_text("300 characters")
        expect(page.locator("#result")).to_be_hidden()
        page.screenshot(path=str(tmp_path / "web-page-error.png"), full_page=True)


# The page's own layout rule: no element pokes out of its parent's box (horizontally) and no
# box needs a horizontal scrollbar. Returns the offenders as "tag#id.class" strings.
OVERFLOW_JS = """(root) => {
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '');
  const bad = [];
  for (const el of [root, ...root.querySelectorAll('*')]) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (el !== root) {
      const p = el.parentElement.getBoundingClientRect();
      if (r.left < p.left - 0.5 || r.right > p.right + 0.5) bad.push(name(el) + ' outside ' + name(el.parentElement));
    }
    if (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'visible' && el.clientWidth > 0)
      bad.push(name(el) + ' scrolls');
    if (el.scrollWidth > el.clientWidth + 1 && el.children.length === 0 && el.clientWidth > 0)
      bad.push(name(el) + ' text overflows');
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) bad.push('the page scrolls sideways');
  return bad;
}"""


@pytest.mark.browser
def test_genres_the_model_never_saw_are_greyed_and_the_answer_lists_them(
    cfg, tmp_path, monkeypatch, browser_page
):
    from playwright.sync_api import expect

    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    model, _ = train_small_model(n=800)  # the bundled data: 7 genre flags
    register_champion(cfg, model)
    page = browser_page
    with running_server(create_app(cfg)) as srv:
        page.goto(srv.url + "/")
        page.wait_for_selector("body[data-ready='true']")
        horror = page.get_by_label("Horror")
        expect(horror).to_have_accessible_description(
            "Greyed genres: the serving model never saw them in training, so it ignores them."
        )
        chip = page.locator("#genre-list .chip", has=horror)
        expect(chip).to_have_class(re.compile(r"\bunknown\b"))
        expect(chip.locator("label")).to_have_attribute(
            "title", "The serving model never saw Horror in training, so it ignores it."
        )
        comedy_chip = page.locator("#genre-list .chip", has=page.get_by_label("Comedy"))
        expect(comedy_chip).not_to_have_class(re.compile(r"\bunknown\b"))
        assert page.locator("#genre-list .chip.unknown").count() == 21
        assert page.locator("#genre-list .chip:not(.unknown)").count() == 7
        expect(page.locator("#model-genres")).to_have_text(
            "Action, Animation, Comedy, Documentary, Drama, Romance, Short (7 of 28)"
        )
        # Greyed, not disabled: the colour differs from a known chip's.
        grey = chip.locator("label").evaluate("el => getComputedStyle(el).color")
        ink = comedy_chip.locator("label").evaluate("el => getComputedStyle(el).color")
        assert grey != ink

        page.get_by_label("Movie title").fill("Scary Movie 5")
        page.get_by_label("Comedy").check()
        horror.check()
        page.get_by_label("Sci-Fi").check()
        page.get_by_role("button", name="Predict").click()
        expect(page.locator("#ignored-genres")).to_have_text(
            "Ignored: Horror, Sci-Fi — the model never saw these genres in training, so the "
            "answer does not use them."
        )
        with_horror = page.locator("#probability").inner_text()
        page.screenshot(path=str(tmp_path / "web-unknown-genres.png"), full_page=True)
        horror.uncheck()
        page.get_by_label("Sci-Fi").uncheck()
        page.get_by_role("button", name="Predict").click()
        expect(page.locator("#ignored-genres")).to_be_hidden()
        assert page.locator("#probability").inner_text() == with_horror


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_the_model_card_fits_its_card_on_a_desktop_and_a_phone(
    cfg, tmp_path, monkeypatch, browser_page, width, height
):
    from playwright.sync_api import expect

    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    model, _ = train_small_model(n=800)
    # The pipeline's real metric names, long ones included.
    metrics = {
        "test_roc_auc": 0.6973,
        "test_accuracy": 0.6612,
        "test_rows": 7322.0,
        "baseline_logreg_roc_auc": 0.6841,
        "baseline_logreg_accuracy": 0.6398,
        "baseline_majority_roc_auc": 0.5,
        "baseline_majority_accuracy": 0.6011,
        "title_genres_roc_auc": 0.6712,
        "check_minimum_functionality_passed": 1.0,
        "test_average_precision": 0.7811,
    }
    register_champion(cfg, model, metrics=metrics)
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    with running_server(create_app(cfg)) as srv:
        page.goto(srv.url + "/")
        page.wait_for_selector("body[data-ready='true']")
        card = page.locator(".model-card")
        rows = card.locator("#key-metrics tbody tr")
        expect(rows.nth(0)).to_have_text(re.compile(r"ROC-AUC\s*0\.697\s*0\.684\s*0\.500"))
        expect(rows.nth(1)).to_have_text(re.compile(r"Accuracy\s*0\.661\s*0\.640\s*0\.601"))
        # One-word labels stay on one line (no "Accurac-y" on a phone).
        for label in ("ROC-AUC", "Accuracy", "Majority"):
            lines = card.locator("#key-metrics th", has_text=label).evaluate(
                "el => { const r = document.createRange(); r.selectNodeContents(el);"
                " return r.getClientRects().length; }"
            )
            assert lines == 1, (label, lines)
        expect(card.locator("#model-rows")).to_have_text("800 movies")
        expect(card.locator("#model-trained")).to_have_text("2026-01-01T00:00:00Z")
        page.get_by_text("All metrics and lineage").click()
        expect(card.locator("#metrics")).to_contain_text("check_minimum_functionality_passed")
        expect(card.locator("#metrics tr", has_text="test_rows")).to_contain_text("7,322")
        card.scroll_into_view_if_needed()
        shot = tmp_path / f"model-card-{width}.png"
        card.screenshot(path=str(shot))
        page.screenshot(path=str(tmp_path / f"page-{width}.png"), full_page=True)
        # The check itself catches an overflow: a wide unbreakable line in a narrow box.
        probe = (
            "el => { const d = document.createElement('div'); d.style.width = '40px';"
            " d.id = 'probe'; d.innerHTML = '<span style=\"white-space:nowrap\">"
            "a_very_long_metric_name_that_cannot_wrap</span>'; el.append(d);"
            " const found = (" + OVERFLOW_JS + ")(el); d.remove(); return found; }"
        )
        assert any("probe" in o for o in card.evaluate(probe))
        offenders = card.evaluate(OVERFLOW_JS)
        assert offenders == [], offenders
        assert page.locator("main").evaluate(OVERFLOW_JS) == []
        assert shot.stat().st_size > 5_000
