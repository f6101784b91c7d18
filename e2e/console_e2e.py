#!/usr/bin/env python3
"""End-to-end test of the operator console in a real browser (Debian's chromium, driven through
chromium-driver by Debian's python3-selenium), against a live `waybill serve` that
console-e2e.sh started and seeded. Each page visited is kept as a screenshot in ARTIFACTS.

Usage: console_e2e.py BASE_URL TOKENS_JSON ORDERS_JSON ARTIFACTS_DIR
"""
import json
import os
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

base, tokens_path, orders_path, artifacts = sys.argv[1:5]
tokens = json.load(open(tokens_path))
orders = json.load(open(orders_path))  # {"web": "W-...", "click-and-collect": "...", ...}
os.makedirs(artifacts, exist_ok=True)
failures = []
shots = []


def check(condition, what):
    print(("  ok   " if condition else "  FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    return driver


def shot(driver, name):
    path = os.path.join(artifacts, name + ".png")
    driver.save_screenshot(path)
    shots.append(path)


def sign_in(driver, role):
    driver.get(base + "/sign-in")
    field = driver.find_element(By.ID, "token")
    field.send_keys(tokens[role])
    field.submit()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "form.who")))


def accept_confirm(driver):
    WebDriverWait(driver, 10).until(EC.alert_is_present())
    driver.switch_to.alert.accept()


def submit(driver, button):
    asks = button.get_attribute("data-confirm")
    button.click()
    if asks:
        accept_confirm(driver)
    # While the next page loads, chromedriver may answer a probe with a bare WebDriverException
    # ("no such execution context"): keep waiting for the old page to go.
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(EC.staleness_of(button))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def scenario_admin(driver):
    print("admin: sign in, search by email, order page, hold and release, integration, inventory, live", flush=True)
    driver.get(base + "/orders")
    check("/sign-in" in driver.current_url, "a page before sign-in goes to the sign-in form")
    shot(driver, "01-sign-in")
    sign_in(driver, "admin")
    check(driver.current_url.endswith("/orders"), "signed in, back at the orders page")
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("waybill_console", {})
    check(session.get("httpOnly") is True and session.get("sameSite") == "Strict", "session cookie HttpOnly, SameSite=Strict")
    email = driver.find_element(By.NAME, "email")
    email.send_keys("ada@example.com")
    started = time.monotonic()
    email.submit()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "result-count")))
    check(orders["web"] in driver.page_source, "search by email finds the web order")
    check("Radia" not in driver.page_source, "and not another customer's")
    print(f"       (search page answered in {1000 * (time.monotonic() - started):.0f} ms, browser included)")
    shot(driver, "02-order-search")
    driver.find_element(By.LINK_TEXT, orders["web"]).click()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "order-status")))
    check("Routing decisions" in driver.page_source and "History" in driver.page_source, "order page: routing and history")
    shot(driver, "03-order")
    Select(driver.find_element(By.CSS_SELECTOR, "form[action$='/hold'] select[name=reason]")).select_by_visible_text("fraud")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/hold'] button"))
    check("Held " + orders["web"] in driver.page_source, "hold confirmed on the page")
    check("fraud" in driver.find_element(By.ID, "holds").text, "the hold is listed")
    shot(driver, "04-order-held")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/release'] button"))
    check("Released every hold" in driver.page_source, "release confirmed")
    check("None." in driver.find_element(By.ID, "holds").text, "no hold left")
    check("released" in driver.find_element(By.ID, "timeline").text.lower(), "history shows the release")
    driver.get(base + "/inventory?sku=TSHIRT-BLK-M")
    check("Per location" in driver.page_source, "inventory per location")
    shot(driver, "05-inventory")
    driver.get(base + "/integration")
    check("Change feed" in driver.page_source, "integration page")
    replay_dead_letter(driver)
    driver.get(base + "/live")
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "live-calls").text not in ("…", ""))
    check(driver.find_element(By.ID, "live-queue").text != "…", "live figures refresh without reloading")
    shot(driver, "07-live")
    driver.get(base + "/simulations")
    shot(driver, "08-simulations")
    driver.get(base + "/orders.csv?all=1")  # a download: the browser stays on the page
    # Keyboard: the skip link is the first stop and leads to the content.
    driver.get(base + "/orders")
    from selenium.webdriver.common.keys import Keys
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    check(driver.switch_to.active_element.get_attribute("class") == "skip", "Tab reaches the skip link first")


def replay_dead_letter(driver):
    """The stand-in ERP refused the marketplace order's capture once: the bridge reports it as a
    dead letter; replaying it from the page delivers it (the ERP accepts it the second time)."""
    order = orders["marketplace"]
    deadline = time.monotonic() + 30
    while order not in driver.page_source and time.monotonic() < deadline:
        time.sleep(0.5)
        driver.get(base + "/integration")
    check(order in driver.page_source and ">refused<" in driver.page_source, "the refused event is listed as a dead letter with its order")
    check("unknown customer account" in driver.page_source, "with the ERP's reason")
    shot(driver, "06-integration-dead-letter")
    box = driver.find_element(By.CSS_SELECTOR, "input[name='events[]']")
    box.click()
    submit(driver, driver.find_element(By.CSS_SELECTOR, "button[name=selected]"))
    check("requested" in driver.find_element(By.CSS_SELECTOR, ".banner").text, "replay requested")
    deadline = time.monotonic() + 30
    while " replayed, " not in driver.page_source and time.monotonic() < deadline:
        time.sleep(0.5)
        driver.get(base + "/integration")
    done = re.search(r"(\d+) replayed, 0 still failing, 0 unknown", driver.page_source)
    check(done is not None and int(done.group(1)) >= 1, "the bridge replayed it (and the order's parked events) and reported the outcome")
    check("Dead letters waiting: <strong>0</strong>" in driver.page_source, "no dead letter left")
    shot(driver, "06-integration-replayed")


def scenario_store(driver):
    print("store: confirm a pickup from the STORE-NYC queue", flush=True)
    sign_in(driver, "nyc")
    driver.get(base + "/queues")
    order = orders["click-and-collect"]
    check(order in driver.page_source, "the pickup order waits in the store's queue")
    shot(driver, "09-store-queue")
    for label in ("Release", "Confirm pick", "Confirm pack", "Ready for pickup", "Collected"):
        row = driver.find_element(By.XPATH, f"//tr[td/a[text()='{order}']]")
        button = row.find_element(By.XPATH, ".//button")
        check(button.text == label, f"next step is {label}")
        submit(driver, button)
        check("banner ok" in driver.page_source, f"{label}: confirmed")
    check(order not in driver.find_element(By.TAG_NAME, "tbody").text, "collected: no longer in the queue")
    shot(driver, "10-store-queue-done")
    driver.get(base + "/queues?location=DC-RENO")
    check("403" in driver.page_source, "another location's queue is refused")


def scenario_channel(driver):
    print("channel: another channel's order by URL is not found", flush=True)
    sign_in(driver, "pos")
    driver.get(base + "/orders/" + orders["store-pos"])
    check("order-status" in driver.page_source, "its own order is shown")
    driver.get(base + "/orders/" + orders["web"])
    check("404" in driver.page_source and "ada@example.com" not in driver.page_source, "the web order is not found for a POS user")
    shot(driver, "11-channel-not-found")
    check("/integration" not in driver.page_source, "no integration menu for a channel")


for scenario in (scenario_admin, scenario_store, scenario_channel):
    driver = browser()
    try:
        scenario(driver)
    except Exception as error:  # a broken page: keep what the browser saw
        failures.append(f"{scenario.__name__}: {error!r}")
        print(f"  FAIL {scenario.__name__}: {error!r}", flush=True)
        shot(driver, f"failed-{scenario.__name__}")
    finally:
        driver.quit()

print("screenshots:", *shots, sep="\n  ")
if failures:
    print(f"{len(failures)} console e2e failures", file=sys.stderr)
    sys.exit(1)
print("console e2e: every check passed")
