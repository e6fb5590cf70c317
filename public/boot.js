// Starts Tokenmeter: loads the wasm-bindgen module and its .wasm, whose content-hashed names Trunk writes into
// <template id="tokenmeter-app"> (Trunk.toml, pattern_script). It is a file rather than Trunk's inline loader so
// that the page's Content-Security-Policy allows no inline script; names resolve against the page, so the site
// works from any host and path.

// plotters measures chart text in a <span> styled with setAttribute("style", …), which `style-src 'self'` refuses
// (the charts' labels would then be laid out with wrong sizes). The page's own scripts may set the same
// declarations through the CSSOM, which the policy does not govern; style attributes in markup stay refused.
const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (String(name).toLowerCase() === "style" && this.style instanceof CSSStyleDeclaration) {
    this.style.cssText = value;
  } else {
    setAttribute.call(this, name, value);
  }
};

const app = document.getElementById("tokenmeter-app");
const url = (name) => new URL(app.dataset[name], document.baseURI).href;
try {
  const { default: init } = await import(url("js"));
  await init({ module_or_path: url("wasm") });
} catch (e) {
  document.body.textContent = `Tokenmeter could not start: ${e}`;
  throw e;
}
