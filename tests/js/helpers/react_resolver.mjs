// A module resolution hook for the tests: react.js imports the bare specifier "react", which
// Node would look for above reactive/static/reactive/; resolve it from tests/js/node_modules, so
// that the hooks and the tests share one copy of React.

const TESTS_PACKAGE = new URL("../package.json", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "react" || specifier.startsWith("react/")) {
    return nextResolve(specifier, { ...context, parentURL: TESTS_PACKAGE });
  }
  return nextResolve(specifier, context);
}
