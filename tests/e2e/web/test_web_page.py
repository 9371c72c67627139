"""The web page in a real browser (Debian's Chromium through Playwright) against a real server."""

from __future__ import annotations

import re

import pytest
from ci_guard import skip_unless_ci
from support.browser import CHROMIUM, launch_chromium
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

        # The model card comes from /api/v1/model.
        expect(page.locator("#model-version")).to_have_text("1")
        expect(page.locator("#model-data")).to_have_text("0123456789ab")
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
