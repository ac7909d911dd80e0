import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { collectErrors, launchBrowser, screenshotPath, serveDirectory } from "./support/browser.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Every .html file under `directory`, relative to it. */
function htmlFiles(directory: string, prefix = ""): string[] {
  return readdirSync(join(directory, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) return htmlFiles(directory, path);
    return entry.name.endsWith(".html") ? [path] : [];
  });
}

/**
 * The docs site as `npm run docs` builds it (typedoc with the project's typedoc.json, written to a temporary
 * directory), served over HTTP and read in chromium: the index, an API page and the search.
 */
describe("the docs site in a browser (typedoc output, chromium)", () => {
  let out: string;
  let site: { url: string; close(): Promise<void> };
  let browser: { context: BrowserContext; close(): Promise<void> };
  let pages: string[];

  beforeAll(async () => {
    // Types are checked by tsc -b and docs:check; here only the pages matter.
    out = mkdtempSync(join(tmpdir(), "hybrid-llm-docs-"));
    await promisify(execFile)(process.execPath, [join(root, "node_modules/typedoc/bin/typedoc"), "--out", out, "--skipErrorChecking"], { cwd: root, maxBuffer: 16 << 20 });
    pages = htmlFiles(out);
    site = await serveDirectory(out);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (out !== undefined) rmSync(out, { recursive: true, force: true });
  });

  /** A page of the site and its errors; the site has no favicon, and the browser's request for one is no error of the docs. */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.context.newPage();
    await page.route("**/favicon.ico", (route) => route.fulfill({ status: 204 }));
    const errors = collectErrors(page);
    const response = await page.goto(`${site.url}/${path}`);
    expect(response?.status(), path).toBe(200);
    return { page, errors };
  }

  test("the index has the project's title and a navigation that links the packages", async () => {
    const { page, errors } = await open("index.html");
    expect(await page.title()).toMatch(/hybrid-llm/);
    // The navigation tree is filled by typedoc's script; every entry links a page that exists.
    const links = page.locator(".tsd-navigation a[href]");
    await expect.poll(() => links.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
    const targets = (await links.evaluateAll((anchors) => anchors.map((anchor) => anchor.getAttribute("href") ?? ""))).map((href) => href.split("#")[0]!).filter((href) => href !== "");
    for (const target of targets) expect(pages, target).toContain(new URL(target, `${site.url}/`).pathname.slice(1));
    expect(errors).toEqual([]);
    // The getting-started guide when the site has one, else the index.
    const guide = pages.find((path) => /getting[-_]started/i.test(path));
    if (guide !== undefined) await page.goto(`${site.url}/${guide}`);
    await page.screenshot({ path: screenshotPath("docs-getting-started.png"), fullPage: false });
    expect(errors).toEqual([]);
    await page.close();
  });

  test("the API page of Engine renders its members with no console error", async () => {
    const enginePage = pages.find((path) => /^classes\/(.*[._])?Engine\.html$/.test(path));
    expect(enginePage, pages.filter((path) => path.startsWith("classes/")).join(", ")).toBeDefined();
    const { page, errors } = await open(enginePage!);
    expect(await page.locator("h1").first().textContent()).toMatch(/\bEngine\b/);
    for (const member of ["generate", "stats", "dispose"]) await page.locator(`.tsd-panel h3`, { hasText: member }).first().waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  test("typing in the search box shows matching pages, and a result opens one", async () => {
    const { page, errors } = await open("index.html");
    const trigger = page.locator("#tsd-search-trigger");
    if (await trigger.isVisible()) await trigger.click();
    await page.locator("#tsd-search-input").fill("Engine");
    const result = page.locator("#tsd-search-results li a", { hasText: "Engine" }).first();
    await result.waitFor();
    await result.click();
    await page.waitForURL(/Engine/);
    expect(await page.locator("h1").first().textContent()).toMatch(/Engine/);
    expect(errors).toEqual([]);
    await page.close();
  });
});
