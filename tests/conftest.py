"""Shared fixtures: one real index built from ``tests/data/corpus`` per test session, and the
Flask ``app``/``client``/``runner`` trio from Flask's tutorial, serving that index."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.build import BuildReport, build_index
from search.config import Settings

CORPUS = Path(__file__).parent / "data" / "corpus"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose index directory is a fresh session temp dir (see ``built_index``)."""
    return Settings.from_env(index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def built_index(settings: Settings) -> BuildReport:
    """Build the test corpus into ``settings.index_dir`` once per session; the build report."""
    return build_index([CORPUS], settings)


@pytest.fixture()
def app(settings: Settings, built_index: BuildReport):
    """The web app over the session index (the engine and model are opened for real)."""
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS": settings})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """One headless Debian Chromium per session, driven by selenium (skipped, with the reason,
    only when selenium or /usr/bin/chromedriver is missing: ``make browser-deps``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    if not CHROMEDRIVER.exists():
        pytest.skip(f"{CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to catch CSP violations
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
