import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Hono } from "hono";

/**
 * The page's files (packages/server/ui), served as they are: no build step, no CDN, no framework. Path → content
 * type. Nothing else is served, so no request path ever reaches the file system.
 */
const files: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/ui/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** Paths of the page and its assets: public (they hold no secret; the page asks for the API key itself). */
export const webUiPaths: ReadonlySet<string> = new Set(Object.keys(files));

/**
 * Only this origin's scripts, styles and connections; no inline script, no frames, no form posts elsewhere: an
 * answer the page renders can never run as code or load anything.
 */
export const webUiContentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The ui directory: beside src/ when run from the sources, beside dist/ once built (both one package). */
function uiDirectory(): string {
  for (const relative of ["../../ui/", "../ui/"]) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${path}index.html`)) return path;
  }
  throw new Error("the web page's files (packages/server/ui) are missing from this installation");
}

/** Serves the page at `/` and its assets under `/ui/`, read once, with a Content-Security-Policy. */
export function registerWebUi(app: Hono): void {
  const directory = uiDirectory();
  const contents = new Map(Object.entries(files).map(([path, { file, type }]) => [path, { body: readFileSync(`${directory}${file}`), type }]));
  for (const [path, { body, type }] of contents) {
    app.get(path, (c) => {
      c.header("Content-Type", type);
      c.header("Content-Security-Policy", webUiContentSecurityPolicy);
      c.header("X-Content-Type-Options", "nosniff");
      c.header("Referrer-Policy", "no-referrer");
      c.header("Cache-Control", "no-cache");
      return c.body(new Uint8Array(body));
    });
  }
}
