// The /widget page: pick options, preview the widget, copy its <script> line.
//
// The preview is the real widget: widget.js inserted with the chosen data-
// attributes, exactly as a club's page would have it.

const root = document.getElementById("builder");
const form = document.getElementById("builder-form");
const snippet = document.getElementById("snippet");
const preview = document.getElementById("preview");
const copyButton = document.getElementById("copy-snippet");
const copyStatus = document.getElementById("copy-status");
const accentInput = document.getElementById("b-accent");
const accentPicker = document.getElementById("b-accent-picker");
const accentError = document.getElementById("b-accent-error");
const heightInput = document.getElementById("b-height");
const heightError = document.getElementById("b-height-error");

const ACCENT = /^#([0-9a-f]{6}|[0-9a-f]{3})$/i;
const HEIGHT = { min: 320, max: 1200 };
// Options in the order they appear in the line (data- attribute: form field).
const OPTIONS = ["postcode", "role", "event", "mode", "view", "height", "accent", "title"];
// Wait this long after typing before rebuilding the preview (each is a new frame).
const PREVIEW_DELAY_MS = 400;

function escapeAttribute(value) {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

// The chosen options, validated; invalid ones are left out and said so.
function options() {
  const data = new FormData(form);
  const chosen = {};
  for (const name of OPTIONS) {
    const value = String(data.get(name) || "").trim();
    if (value) chosen[name] = value;
  }
  if (chosen.view === "map") delete chosen.view;
  accentError.textContent = "";
  accentInput.removeAttribute("aria-invalid");
  if (chosen.accent) {
    const accent = chosen.accent.startsWith("#") ? chosen.accent : `#${chosen.accent}`;
    if (ACCENT.test(accent)) chosen.accent = accent.toLowerCase();
    else {
      accentError.textContent = `${chosen.accent} is not a hex colour; use six hex digits, e.g. #7a1f1f.`;
      accentInput.setAttribute("aria-invalid", "true");
      delete chosen.accent;
    }
  }
  heightError.textContent = "";
  heightInput.removeAttribute("aria-invalid");
  heightInput.disabled = chosen.view !== "list";
  if (chosen.view !== "list") delete chosen.height;
  else if (chosen.height) {
    const height = Number(chosen.height);
    if (!Number.isInteger(height) || height < HEIGHT.min || height > HEIGHT.max) {
      heightError.textContent = `The height must be a whole number of pixels from ${HEIGHT.min} to ${HEIGHT.max}.`;
      heightInput.setAttribute("aria-invalid", "true");
      delete chosen.height;
    }
  }
  return chosen;
}

function line(chosen) {
  const attributes = Object.entries(chosen).map(([name, value]) => ` data-${name}="${escapeAttribute(value)}"`).join("");
  return `<script src="${root.dataset.widgetSrc}"${attributes} async></script>`;
}

function showPreview(chosen) {
  const script = document.createElement("script");
  script.src = root.dataset.widgetSrc;
  for (const [name, value] of Object.entries(chosen)) script.setAttribute(`data-${name}`, value);
  preview.replaceChildren(script);
}

let timer = null;
function update({ now = false } = {}) {
  const chosen = options();
  snippet.value = line(chosen);
  copyStatus.textContent = "";
  window.clearTimeout(timer);
  timer = window.setTimeout(() => showPreview(chosen), now ? 0 : PREVIEW_DELAY_MS);
}

async function copy() {
  try {
    await navigator.clipboard.writeText(snippet.value);
    copyStatus.textContent = "Copied. Paste it into your page where the finder should appear.";
  } catch (err) {
    // No clipboard access (permissions, plain http): select it for Ctrl+C.
    snippet.focus();
    snippet.select();
    copyStatus.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy it.";
  }
}

form.addEventListener("input", (event) => {
  if (event.target === accentPicker) accentInput.value = accentPicker.value;
  if (event.target === accentInput && ACCENT.test(accentInput.value)) accentPicker.value = accentInput.value.length === 7 ? accentInput.value : accentPicker.value;
  update();
});
form.addEventListener("change", () => update());
form.addEventListener("submit", (event) => event.preventDefault());
copyButton.addEventListener("click", copy);
document.addEventListener("findsupport:search", (event) => {
  copyStatus.textContent = "";
  root.dataset.lastSearchTotal = String(event.detail.total);
});
update({ now: true });
root.dataset.ready = "true";
