#!/usr/bin/env python3
"""Drives the TernFlux web gallery in a real browser (Debian's chromium + chromium-driver, via Selenium).

    browser_check.py URL SCREENSHOTS --batch ID --expect-error TEXT [--token TOKEN]

URL is the server (`ternflux serve`), SCREENSHOTS a folder for one PNG per page. The server must hold the
batch ID with at least one succeeded job (its image under the server's output root) and one failed job
whose error contains TEXT. The script: enters the token in the page's token field (when given; the page
must ask for it), checks the batch's row and progress bar on the batches page, opens the batch and checks
every thumbnail loaded (naturalWidth > 0) and the failed job's error is shown, submits an invalid batch
through the form and checks each line's error appears, submits a valid one and checks its page, cancels it
and checks the page says so. Exit 0 when every check passed, 1 with the failing check otherwise.
"""
import argparse
import base64
import os
import shutil
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 20


class CheckFailed(Exception):
    pass


def find_binary(names):
    for name in names:
        path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    raise CheckFailed("none of %s is installed (Debian: apt-get install chromium chromium-driver)" % ", ".join(names))


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = find_binary(["chromium", "/usr/bin/chromium", "chromium-browser"])
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    service = Service(executable_path=find_binary(["chromedriver", "/usr/bin/chromedriver"]))
    return webdriver.Chrome(service=service, options=options)


class Check:
    def __init__(self, driver, url, screenshots):
        self.driver = driver
        self.url = url.rstrip("/") + "/"
        self.screenshots = screenshots

    def step(self, message):
        print("ok:", message, flush=True)

    def wait(self, what, condition, timeout=TIMEOUT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(lambda d: condition())
        except TimeoutException:
            notice = self.js("const n = document.getElementById('notice'); return n && !n.hidden ? n.textContent : '';")
            raise CheckFailed("timed out after %d s waiting for %s%s" % (timeout, what, "; page notice: " + notice if notice else ""))

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def css(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def shot(self, name):
        path = os.path.join(self.screenshots, name)
        # The whole page, not just the window (the gallery may be taller), through Chrome's DevTools protocol.
        width = int(self.js("return document.documentElement.scrollWidth;"))
        height = min(int(self.js("return document.documentElement.scrollHeight;")), 4000)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        self.step("screenshot %s (%dx%d)" % (path, width, height))

    def go(self, fragment):
        self.driver.get(self.url + fragment)

    # ---- the checks ------------------------------------------------------------------------------

    def enter_token(self, token):
        self.go("#/")
        self.wait("the page to ask for a token", lambda: self.js("return !document.getElementById('token-form').hidden;"))
        self.driver.find_element(By.ID, "token-input").send_keys(token)
        self.driver.find_element(By.ID, "token-save").click()
        self.wait("the token to be taken", lambda: self.js("return !document.getElementById('token-state').hidden;"))
        self.step("the page asked for a token and took it")

    def batches_page(self, batch):
        self.go("#/")
        row_selector = '.batch-row[data-batch-id="%s"]' % batch
        self.wait("batch %s in the batches list" % batch, lambda: self.css(row_selector))
        width = self.wait("its progress bar to show succeeded jobs", lambda: self.js(
            "const s = document.querySelector(arguments[0] + ' .progress .seg-succeeded');"
            "return s && s.getBoundingClientRect().width > 0 ? s.getBoundingClientRect().width : false;", row_selector))
        bar = self.css(row_selector + " .progress")[0]
        done, total = int(bar.get_attribute("aria-valuenow")), int(bar.get_attribute("aria-valuemax"))
        if not (0 < done <= total):
            raise CheckFailed("progress bar says %d of %d done" % (done, total))
        self.step("batches page: batch %s with a progress bar (%d of %d done, succeeded segment %.0f px)" % (batch, done, total, width))
        self.shot("batches.png")
        self.css(row_selector + " a")[0].click()

    def batch_page(self, batch, expected_error):
        self.wait("the batch page", lambda: self.driver.current_url.endswith("#/batches/" + batch))
        self.wait("job cards in the gallery", lambda: self.css("#gallery .job-card"))
        succeeded = self.wait("the succeeded jobs' cards", lambda: self.css('#gallery .job-card[data-state="succeeded"]'))
        count = len(succeeded)
        loaded = self.wait("every thumbnail to load (naturalWidth > 0)", lambda: self.js(
            "const cards = document.querySelectorAll('#gallery .job-card[data-state=\"succeeded\"]');"
            "const imgs = document.querySelectorAll('#gallery .job-card[data-state=\"succeeded\"] img.thumb');"
            "if (imgs.length !== cards.length) return false;"
            "for (const i of imgs) { if (!i.complete || i.naturalWidth === 0) return false; }"
            "return Array.from(imgs).map(i => i.naturalWidth + 'x' + i.naturalHeight);"))
        self.step("gallery: %d thumbnails loaded (%s)" % (count, ", ".join(sorted(set(loaded)))))
        src = self.js("return document.querySelector('#gallery img.thumb').src;")
        if not src.startswith("blob:"):
            raise CheckFailed("a thumbnail's src is %r, not an object URL (the token would be in a URL)" % src)
        self.step("thumbnails are object URLs (%s…)" % src[:30])
        error = self.wait("the failed job's error", lambda: self.js(
            "const e = document.querySelector('#gallery .job-card[data-state=\"failed\"] .job-error li');"
            "return e ? e.textContent : false;"))
        if expected_error not in error:
            raise CheckFailed("the failed job shows %r, which does not contain %r" % (error, expected_error))
        self.step("failed job shows its error: %s" % error)
        self.shot("batch.png")

    def submit_form(self, text, name=None, steps=None, images=None, negative=None):
        self.go("#/submit")
        self.wait("the submit form", lambda: self.css("#submit-form"))
        for field, value in [("submit-text", text), ("submit-name", name), ("submit-steps", steps), ("submit-images", images),
                             ("submit-negative", negative)]:
            element = self.driver.find_element(By.ID, field)
            element.clear()
            if value is not None:
                element.send_keys(str(value))
        self.driver.find_element(By.ID, "submit-button").click()

    def invalid_submit(self):
        self.submit_form('{"prompt": "a fine line"}\n{"prompt": "too many steps", "steps": 500}\n{"prompt": 7}')
        items = self.wait("the line errors", lambda: self.js(
            "const l = document.querySelectorAll('#submit-errors li'); return l.length >= 2 ? Array.from(l).map(i => i.textContent) : false;"))
        if not (any(i.startswith("line 2:") and "steps" in i for i in items) and any(i.startswith("line 3:") and "prompt" in i for i in items)):
            raise CheckFailed("the form shows %r, not errors for lines 2 (steps) and 3 (prompt)" % items)
        if any(i.startswith("line 1:") for i in items):
            raise CheckFailed("the valid line 1 was reported: %r" % items)
        self.step("invalid batch: the form lists %s" % " | ".join(items))
        self.shot("submit.png")

    def valid_submit(self):
        self.submit_form("a green triangle\na yellow star", name="browser-check", steps=4, images=2, negative="blurry")
        self.wait("the new batch's page", lambda: "#/batches/" in self.driver.current_url)
        batch = self.driver.current_url.rsplit("/", 1)[-1]
        counts = self.wait("the new batch's counts", lambda: self.js(
            "const c = document.getElementById('batch-counts'); return c ? c.textContent : false;"))
        title = self.driver.find_element(By.ID, "batch-title").text
        if title != "browser-check" or not counts.startswith("4 jobs"):
            raise CheckFailed("the new batch page says %r / %r, expected 'browser-check' with 4 jobs (2 prompts × 2 images)" % (title, counts))
        self.wait("its 4 job cards", lambda: len(self.css("#gallery .job-card")) == 4)
        self.step("valid batch %s submitted through the form: %s" % (batch, counts))
        return batch

    def cancel(self, batch):
        button = self.driver.find_element(By.ID, "cancel-button")
        if not button.is_enabled():
            raise CheckFailed("the cancel button of the unfinished batch %s is disabled" % batch)
        button.click()
        counts = self.wait("the batch to show as canceled", lambda: self.js(
            "const c = document.getElementById('batch-counts'); return c && c.textContent.includes(' canceled') && "
            "!c.textContent.includes(' 0 canceled') ? c.textContent : false;"))
        self.wait("the cancel button to be disabled", lambda: not self.driver.find_element(By.ID, "cancel-button").is_enabled())
        self.wait("every job card to show canceled", lambda: len(self.css('#gallery .job-card[data-state="canceled"]')) == 4)
        self.step("canceled batch %s: %s" % (batch, counts))
        self.shot("canceled.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("screenshots")
    parser.add_argument("--batch", required=True, help="a batch with succeeded jobs and a failed one")
    parser.add_argument("--expect-error", required=True, help="text the failed job's error contains")
    parser.add_argument("--token", help="a submit token, entered through the page's token field")
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    started = time.time()
    driver = None
    try:
        driver = start_browser()
        check = Check(driver, args.url, args.screenshots)
        if args.token:
            check.enter_token(args.token)
            # The 401 that made the page ask for the token is in the console; it was the point. Drop it.
            driver.get_log("browser")
        check.batches_page(args.batch)
        check.batch_page(args.batch, args.expect_error)
        check.invalid_submit()
        batch = check.valid_submit()
        check.cancel(batch)
        # The browser logs every failed request as an error; only the invalid submit's 422 is expected.
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"
                and not ("/v1/batches " in e.get("message", "") and "status of 422" in e.get("message", ""))]
        if logs:
            raise CheckFailed("the browser console has errors: %s" % "; ".join(e.get("message", "") for e in logs))
        print("browser check passed in %.1f s" % (time.time() - started))
        return 0
    except CheckFailed as failure:
        print("browser check FAILED: %s" % failure, file=sys.stderr)
        if driver is not None:
            try:
                driver.save_screenshot(os.path.join(args.screenshots, "failure.png"))
            except Exception:
                pass
        return 1
    finally:
        if driver is not None:
            driver.quit()


if __name__ == "__main__":
    sys.exit(main())
