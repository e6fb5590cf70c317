// Starts Tokenmeter: loads the wasm-bindgen module and its .wasm, whose content-hashed names Trunk writes into
// <template id="tokenmeter-app"> (Trunk.toml, pattern_script). It is a file rather than Trunk's inline loader so
// that the page's Content-Security-Policy allows no inline script; names resolve against the page, so the site
// works from any host and path.

const app = document.getElementById("tokenmeter-app");
const url = (name) => new URL(app.dataset[name], document.baseURI).href;
try {
  const { default: init } = await import(url("js"));
  await init({ module_or_path: url("wasm") });
} catch (e) {
  document.body.textContent = `Tokenmeter could not start: ${e}`;
  throw e;
}
