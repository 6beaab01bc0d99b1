// Bundle the demo's React front end: src/main.jsx -> demo_project/static/demo/app.js.
//
//     node build.mjs            one production build (what `make frontend` runs)
//     node build.mjs --dev      React's development build, with a source map (more warnings)
//     node build.mjs --watch    development build, rebuilt on every change
//
// The app imports the bundled client as "reactive/client.js" and "reactive/react.js": an alias
// for reactive/static/reactive/ in this repository (a project of your own would point it at the
// installed package's static files, or import them by URL with an import map). react.js imports
// the bare specifier "react"; it lives outside this folder, so esbuild would not find
// node_modules/ by walking up from it: nodePaths adds ours to the places it looks.

import * as esbuild from "esbuild";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const watch = process.argv.includes("--watch");
const dev = watch || process.argv.includes("--dev");

const options = {
  entryPoints: [path.join(here, "src", "main.jsx")],
  outfile: path.join(repo, "demo_project", "static", "demo", "app.js"),
  bundle: true,
  format: "esm",
  target: "es2020",
  jsx: "automatic",
  alias: { reactive: path.join(repo, "reactive", "static", "reactive") },
  nodePaths: [path.join(here, "node_modules")],
  define: { "process.env.NODE_ENV": JSON.stringify(dev ? "development" : "production") },
  minify: !dev,
  sourcemap: dev ? "linked" : false,
  logLevel: "warning",
};

if (watch) {
  const context = await esbuild.context({ ...options, logLevel: "info" });
  await context.watch();
  console.log("watching demo_project/frontend/src and reactive/static/reactive for changes");
} else {
  await esbuild.build(options);
  if (!dev) rmSync(`${options.outfile}.map`, { force: true }); // left by an earlier --dev build
}
