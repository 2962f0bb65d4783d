// The operator's coverage map: a Leaflet choropleth of /operator/api/coverage (GeoJSON by district).
// Figures arrive small-count suppressed: a withheld count is a string such as "<5" and is drawn as "few".
const container = document.getElementById("coverage-map");
const status = document.getElementById("coverage-status");
const picker = document.getElementById("figure");
// Light to dark; classes are quantiles of the shown (numeric) values.
const COLOURS = ["#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"];
const WITHHELD_COLOUR = "#d9d9d9";

function say(text) {
  status.textContent = text;
}

// Shown counts arrive as numbers or digit strings ("12"); anything else ("<5") was withheld.
function count(value) {
  if (typeof value === "number") return value;
  return typeof value === "string" && /^\d+$/.test(value) ? Number(value) : null;
}

function breaks(values) {
  const sorted = values.map(count).filter((v) => v !== null).sort((a, b) => a - b);
  if (!sorted.length) return [];
  return COLOURS.slice(1).map((_, i) => sorted[Math.floor(((i + 1) * sorted.length) / COLOURS.length)]);
}

function colour(raw, limits) {
  const value = count(raw);
  if (value === null) return WITHHELD_COLOUR;
  let k = 0;
  while (k < limits.length && value >= limits[k]) k += 1;
  return COLOURS[k];
}

async function load() {
  container.style.height = "70vh"; // CSSOM, not a style attribute: the CSP allows it
  const answer = await fetch(container.dataset.api, { headers: { Accept: "application/geo+json" }, credentials: "same-origin" });
  if (!answer.ok) {
    let detail = `The coverage figures could not be loaded (error ${answer.status}).`;
    try {
      detail = (await answer.json()).detail || detail;
    } catch (ignored) {
      // not a problem document; keep the generic sentence
    }
    say(detail);
    container.hidden = true;
    return;
  }
  const collection = await answer.json();
  const map = L.map(container);
  L.tileLayer(container.dataset.tiles, { attribution: container.dataset.attribution, maxZoom: 18 }).addTo(map);
  let layer = null;
  function draw() {
    const figure = picker.value;
    const limits = breaks(collection.features.map((f) => f.properties[figure]));
    if (layer) layer.remove();
    layer = L.geoJSON(collection, {
      style: (f) => ({ color: "#555", weight: 0.5, fillOpacity: 0.7, fillColor: colour(f.properties[figure], limits) }),
      onEachFeature: (f, shape) => {
        const name = f.properties.district || f.properties.region || "";
        const label = document.createElement("span"); // text, never markup
        label.textContent = `${name}: ${f.properties[figure]}`;
        shape.bindTooltip(label);
      },
    }).addTo(map);
    say(`${collection.features.length} districts coloured by ${picker.options[picker.selectedIndex].text.toLowerCase()}.`);
  }
  picker.addEventListener("change", draw);
  draw();
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
  else map.setView([54.5, -2.5], 6);
}

window.addEventListener("load", () => {
  load().catch(() => say("The coverage figures could not be loaded."));
});
