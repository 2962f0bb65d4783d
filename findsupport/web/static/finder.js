// The finder page (/ and /embed): form -> /api/v1/search -> numbered list + map.
//
// Plain JavaScript, no build step. Provider-supplied text is only ever put on the
// page with textContent (never innerHTML), so a name or bio cannot inject markup.
// The query lives in the URL (shareable; back/forward re-run it). The list carries
// everything the map shows, so the page works when tiles or Leaflet cannot load.
//
// Layout: on a desktop the list scrolls beside a map that stays in view; in one
// column (phones, the embed) the form folds into a one-line summary after a
// search and focus moves to the results' heading. Cards and markers share their
// numbers and highlight each other. In an "in person or online" search the
// results are grouped "Near you" and "Online", each with its own count.

const root = document.getElementById("finder");
const config = {
  api: root.dataset.api,
  tileUrl: root.dataset.tileUrl,
  tileAttribution: root.dataset.tileAttribution,
  osAttribution: root.dataset.osAttribution,
  defaultRadius: root.dataset.defaultRadius,
  compact: root.dataset.compact === "true",
  maxMessage: root.dataset.maxMessage,
  maxLimit: root.dataset.maxLimit,
};
// Parameters the page passes to the API (DESIGN.md query fields the form offers).
// The order and the filters above the list are query parameters too (validated by the server).
const QUERY_PARAMS = ["postcode", "lon", "lat", "role", "event", "slots", "mode", "level", "radius_km", "sort", "has_room", "min_qualification"];
// Settings of the embed page itself (from widget.js), kept in its URL.
const EMBED_PARAMS = ["host", "view", "accent"];
// Decimal places kept of a browser location: about 100 m, plenty to find the
// nearest postcode, and no more of the coach's position than needed in a URL.
const LOCATION_DECIMALS = 3;
// How many wider radii the empty state asks about (each is one count request).
const WIDER_STEPS = 3;
// The layout is one column up to this width (finder.css says the same).
const ONE_COLUMN = window.matchMedia("(max-width: 800px)");
const GROUP_TITLES = { near: "Near you", online: "Online" };
// White text on the accent colour must keep WCAG AA contrast (4.5:1).
const MIN_CONTRAST = 4.5;
// Showing a marker inside a cluster: attempts, and how long each may take (animations included).
const REVEAL_TRIES = 4;
const REVEAL_WAIT_MS = 900;
// How long afterPaint waits for a frame where none is drawn (a tab in the background).
const MAX_FRAME_WAIT_MS = 100;
// The map's view before any search: all of Great Britain.
const COUNTRY_VIEW = { center: [54.5, -2.5], zoom: 5 };

const form = document.getElementById("search-form");
const postcodeInput = document.getElementById("postcode");
const postcodeError = document.getElementById("postcode-error");
const lonInput = document.getElementById("lon");
const latInput = document.getElementById("lat");
const statusLine = document.getElementById("status");
const summaryHeading = document.getElementById("results-summary");
const queryNote = document.getElementById("query-note");
const controls = document.getElementById("result-controls");
const sortSelect = document.getElementById("sort");
const roomBox = document.getElementById("has_room");
// "Online only" is the query's mode=online seen from the list (one parameter, not two): ticking it
// searches online, unticking goes back to the in-person or "either" search it came from.
const onlineBox = document.getElementById("online_only");
const modeSelect = document.getElementById("mode");
const qualificationSelect = document.getElementById("min_qualification");
const groupsBox = document.getElementById("result-groups");
const emptyState = document.getElementById("empty-state");
const moreButton = document.getElementById("more-results");
const radiusSelect = document.getElementById("radius_km");
const searchSummary = document.getElementById("search-summary");
const searchSummaryText = document.getElementById("search-summary-text");
const editButton = document.getElementById("edit-search");
const mapWrap = document.getElementById("map-wrap");
const fullFinderLink = document.getElementById("full-finder");

let labels = null;
let map = null;
let cluster = null;
let hereMarker = null;
let radiusRing = null;
let mapPlaced = false; // whether the map has a view yet (a page opened with a query waits for its results)
let unplacedMarkers = []; // made for the list, drawn on the map in one batch (drawMarkers)
let resizePending = false;
// The search of a page opened with a query, asked for at once (while the map is being set up):
// {query, answer}, taken by the runSearch that asks the same.
let earlySearch = null;
let shown = []; // [{result, card, marker, number}] in the order of the list
let current = null; // {params, nextOffset, total, totals, query, searchId}
let searchSerial = 0; // ignore answers to searches that were overtaken
let placeMode = "in_person"; // the last mode other than online, for unticking "Online only"

// ---------------------------------------------------------------- small DOM helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = true;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// The live region: loading is said to screen readers here and shown by the heading
// (so the page does not move); problems are shown here.
function announce(text, { loading = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle("visually-hidden", loading);
}

// A search's answer as getJSON gives it, or null when the finder could not be reached.
function requestSearch(query) {
  return getJSON(`${config.api}/search?${query}`).catch(() => null);
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = { title: "Unexpected answer", detail: `The server answered ${response.status} without JSON.` };
  }
  return { ok: response.ok, status: response.status, body };
}

function label(kind, code) {
  return (labels && labels[kind] && labels[kind][code]) || code;
}

function listPhrase(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function oneColumn() {
  return config.compact || ONE_COLUMN.matches;
}

// Resolves in a new task once the next frame is drawn (or after MAX_FRAME_WAIT_MS where frames
// are not drawn, as in a background tab): work split there leaves the browser room to render.
function afterPaint() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, MAX_FRAME_WAIT_MS);
  });
}

function inViewport(node) {
  const box = node.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight;
}

// ---------------------------------------------------------------- vocabulary
async function loadLabels() {
  const { ok, body } = await getJSON(`${config.api}/taxonomy`);
  const result = { roles: {}, events: {}, slots: {}, qualifications: {}, modes: {} };
  if (!ok) return result;
  for (const r of body.roles) result.roles[r.code] = r.label;
  for (const g of body.event_groups) {
    result.events[g.code] = g.label;
    for (const e of g.events) result.events[e.code] = e.label;
  }
  for (const s of body.slots) result.slots[s.code] = s.label;
  for (const q of body.qualifications) result.qualifications[q.code] = q.label;
  for (const m of body.modes) result.modes[m.code] = m.label;
  return result;
}

// ---------------------------------------------------------------- map
// Leaflet's CSS matters only to the map, which this script draws: loaded here, it
// does not hold up the first paint of the page.
function loadMapStyles() {
  const urls = (root.dataset.mapCss || "").split(" ").filter(Boolean);
  return Promise.all(urls.map((href) => new Promise((resolve) => {
    const link = el("link", { rel: "stylesheet", href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    document.head.prepend(link); // before finder.css, which overrides it
  })));
}

async function setUpMap() {
  if (!window.L || document.body.classList.contains("list-view")) {
    if (!window.L) document.getElementById("map-note").hidden = false;
    return;
  }
  await loadMapStyles();
  const initial = paramsFromUrl();
  const searching = Boolean(initial.get("postcode") || initial.get("lon"));
  // With a search on its way, the page is laid out again with Leaflet's styles in the browser's
  // own rendering step, not forced (and added to this task) by the map measuring its box.
  if (searching) await afterPaint();
  const L = window.L;
  // No fading tiles: each fade is a chain of animation frames on the main thread of a phone.
  map = L.map("map", { scrollWheelZoom: !config.compact, zoomSnap: 0.25, fadeAnimation: false });
  if (searching) {
    // Measured after the frame with the map's own elements is drawn, when the layout is fresh:
    // Leaflet keeps the size, and measuring it later, after the results are written, would lay
    // out the whole page again in the middle of drawing them.
    await afterPaint();
    map.getSize();
  } else {
    // No search yet: the whole country. (A page opened with a query waits for its results to
    // give the first view, fitMap: a view of the country first would load tiles for nothing.)
    placeMapOnCountry();
  }
  const tiles = L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 18 });
  tiles.once("tileerror", () => {
    document.getElementById("map-note").hidden = false;
  });
  tiles.addTo(map);
  // Plain text made safe for Leaflet's attribution (which is HTML).
  const os = document.createElement("span");
  os.textContent = config.osAttribution;
  map.attributionControl.addAttribution(os.innerHTML);
  cluster = L.markerClusterGroup({
    showCoverageOnHover: false,
    // Markers closer than their own width (and a cluster's) are clustered: no icon covers another,
    // and each keeps a 24 px target (WCAG 2.5.8).
    maxClusterRadius: 56,
    spiderfyOnMaxZoom: true,
    // A page holds at most a few dozen markers: keep them all, also outside the view
    // (phones drop them otherwise, and zoomToShowLayer then never calls back).
    removeOutsideVisibleBounds: false,
    iconCreateFunction: clusterIcon,
  });
  map.addLayer(cluster);
  // Sector centroids are shared: a cluster at the last zoom spiderfies instead.
  cluster.on("animationend spiderfied unspiderfied", refreshHighlights);
  // Pointing at a cluster highlights the cards it holds.
  const clusterCards = (event, on) => {
    for (const child of event.layer.getAllChildMarkers()) {
      const entry = shown.find((e) => e.marker === child);
      if (entry) entry.card.classList.toggle("highlight", on);
    }
  };
  cluster.on("clustermouseover", (event) => clusterCards(event, true));
  cluster.on("clustermouseout", (event) => clusterCards(event, false));
}

// A cluster shows the numbers of the results it holds ("2, 5"; "2, 5 +3").
function clusterIcon(group) {
  const numbers = group.getAllChildMarkers().map((m) => m.options.number).sort((a, b) => a - b);
  const text = numbers.length <= 3 ? numbers.join(", ") : `${numbers.slice(0, 2).join(", ")} +${numbers.length - 2}`;
  const html = el("span", { "data-count": numbers.length }, el("span", { "aria-hidden": "true", text }), el("span", { class: "visually-hidden", text: `Results ${listPhrase(numbers.map(String))}` }));
  const wrapper = el("div", {}, html);
  return window.L.divIcon({ html: wrapper.innerHTML, className: "num-cluster", iconSize: null, iconAnchor: [20, 17] });
}

function markerIcon(number, group) {
  const inner = el("div", {}, el("span", {}, el("b", { text: String(number) })));
  return window.L.divIcon({ html: inner.innerHTML, className: `num-marker ${group}`, iconSize: [30, 30], iconAnchor: [15, 36], popupAnchor: [0, -34] });
}

function popupContent(entry) {
  const { result } = entry;
  const box = el("div", { class: "popup" });
  const title = el("h3", { tabindex: "-1", text: `${entry.number}. ${result.name}` });
  box.append(title);
  const where = result.group === "online" ? `Online · based in the ${result.area} area` : `${result.area} · ${result.distance_km.toFixed(1)} km`;
  box.append(el("p", { class: "meta", text: where }));
  const reasons = cardReasons(result);
  if (reasons.length) {
    const ul = el("ul", { "aria-label": "Why this match" });
    for (const reason of reasons) ul.append(el("li", { text: reason }));
    box.append(ul);
  }
  const request = el("button", { type: "button", class: "primary", text: "Request an introduction" });
  request.addEventListener("click", () => {
    map.closePopup();
    openIntroduction(entry);
  });
  const back = el("button", { type: "button", class: "link-button", text: "Show in the list" });
  back.addEventListener("click", () => {
    map.closePopup();
    entry.card.scrollIntoView({ block: "start" });
    entry.card.querySelector("h3").focus({ preventScroll: true });
  });
  box.append(el("div", { class: "actions" }, request, back));
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      map.closePopup();
      entry.card.querySelector(".show-on-map").focus();
    }
  });
  return box;
}

function addMarker(entry) {
  if (!map) return;
  const L = window.L;
  const { result } = entry;
  const marker = L.marker([result.location.lat, result.location.lon], {
    icon: markerIcon(entry.number, result.group),
    title: `${entry.number}. ${result.name}, ${result.area}`,
    number: entry.number,
    riseOnHover: true,
  });
  marker.bindPopup(() => popupContent(entry), { maxWidth: 280, autoPanPadding: [12, 12] });
  marker.on("click", () => select(entry));
  marker.on("mouseover", () => setHighlight(entry, true));
  marker.on("mouseout", () => setHighlight(entry, false));
  // A focused marker (Tab reaches them) highlights its card too.
  marker.on("add", () => {
    const icon = marker.getElement();
    if (!icon || icon.dataset.wired) return;
    icon.dataset.wired = "true";
    icon.dataset.number = String(entry.number);
    icon.addEventListener("focus", () => setHighlight(entry, true));
    icon.addEventListener("blur", () => setHighlight(entry, false));
  });
  entry.marker = marker;
  unplacedMarkers.push(marker);
}

function showHere(query, text) {
  if (!map) return;
  const L = window.L;
  clearHere();
  const location = [query.location.lat, query.location.lon];
  if (query.mode !== "online") {
    radiusRing = L.circle(location, {
      radius: Number(query.radius_km) * 1000, color: "#0b4f8a", weight: 2, dashArray: "6 6", fillOpacity: 0.04, interactive: false,
    }).addTo(map);
  }
  hereMarker = L.circleMarker(location, {
    radius: 8, color: "#1d1d1b", weight: 3, fillColor: "#ffdd00", fillOpacity: 1,
  }).addTo(map);
  hereMarker.bindTooltip(text);
}

function clearHere() {
  if (hereMarker) hereMarker.remove();
  if (radiusRing) radiusRing.remove();
  hereMarker = radiusRing = null;
}

function placeMapOnCountry() {
  if (!map || mapPlaced) return;
  map.setView(COUNTRY_VIEW.center, COUNTRY_VIEW.zoom);
  mapPlaced = true;
}

// Before the markers are drawn, from the results' coordinates; without animation, so
// the markers are clustered once at the new zoom rather than in every frame of a zoom.
function fitMap(results) {
  if (!map) return;
  const L = window.L;
  // Near results, the ring and the coach's point; far online providers only when
  // there is nothing near (they would shrink the neighbourhood to a dot).
  const near = results.filter((r) => r.group === "near");
  let bounds = radiusRing ? radiusRing.getLatLng().toBounds(2 * radiusRing.getRadius()) : null;
  for (const r of near.length || radiusRing ? near : results) {
    const point = L.latLng(r.location.lat, r.location.lon);
    bounds = bounds ? bounds.extend(point) : L.latLngBounds([point, point]);
  }
  if (hereMarker && !bounds) map.setView(hereMarker.getLatLng(), 11, { animate: false });
  else if (bounds) map.fitBounds(bounds.pad(0.05), { animate: false });
  else placeMapOnCountry();
  mapPlaced = true;
}

// The markers made since the last call, added to the clusters at once (one clustering pass,
// where one call per marker reclusters and animates each).
function drawMarkers() {
  if (!cluster || !unplacedMarkers.length) return;
  cluster.addLayers(unplacedMarkers);
  unplacedMarkers = [];
}

function clearMap() {
  unplacedMarkers = [];
  if (cluster) cluster.clearLayers();
  if (map) map.closePopup();
}

// ---------------------------------------------------------------- card <-> marker
function markerElement(entry) {
  if (!entry.marker || !cluster) return null;
  const visible = cluster.getVisibleParent(entry.marker);
  return visible ? visible.getElement() : null;
}

function setHighlight(entry, on) {
  entry.highlighted = on;
  entry.card.classList.toggle("highlight", on);
  const icon = markerElement(entry);
  if (icon) icon.classList.toggle("highlight", on || shown.some((e) => e !== entry && e.highlighted && markerElement(e) === icon));
}

function refreshHighlights() {
  for (const entry of shown) {
    const icon = markerElement(entry);
    if (icon) icon.classList.toggle("highlight", Boolean(entry.highlighted));
  }
  for (const entry of shown) if (entry.highlighted) setHighlight(entry, true);
}

function select(entry) {
  for (const other of groupsBox.querySelectorAll(".result.selected")) other.classList.remove("selected");
  entry.card.classList.add("selected");
}

function showOnMap(entry) {
  select(entry);
  if (!map || !entry.marker) return;
  // In one column the map is above the list: bring it into view first, so the
  // popup opens where the coach is looking.
  if (!inViewport(mapWrap)) mapWrap.scrollIntoView({ block: "start" });
  revealMarker(entry.marker, () => {
    entry.marker.openPopup();
    const title = document.querySelector(".leaflet-popup .popup h3");
    if (title) title.focus({ preventScroll: true });
  });
}

// zoomToShowLayer, again while it has not got there: in a small map a cluster's
// "zoom to bounds" can stop one level short and never call back.
function revealMarker(marker, done, tries = REVEAL_TRIES) {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    done();
  };
  cluster.zoomToShowLayer(marker, once);
  window.setTimeout(() => {
    if (called) return;
    called = true; // a late answer of this try is ignored; the next try calls back
    if (tries > 1) revealMarker(marker, done, tries - 1);
    else {
      map.setView(marker.getLatLng(), map.getMaxZoom());
      done();
    }
  }, REVEAL_WAIT_MS);
}

// ---------------------------------------------------------------- form <-> URL
function paramsFromForm() {
  const data = new FormData(form);
  const params = new URLSearchParams();
  const postcode = (data.get("postcode") || "").trim();
  if (postcode) params.set("postcode", postcode);
  else if (data.get("lon") && data.get("lat")) {
    params.set("lon", data.get("lon"));
    params.set("lat", data.get("lat"));
  }
  for (const name of ["role", "event", "level"]) {
    if (data.get(name)) params.set(name, data.get(name));
  }
  if (data.get("mode") && data.get("mode") !== "in_person") params.set("mode", data.get("mode"));
  if (data.get("radius_km") && data.get("radius_km") !== config.defaultRadius) params.set("radius_km", data.get("radius_km"));
  const slots = data.getAll("slots");
  if (slots.length) params.set("slots", slots.join(","));
  if (sortSelect.value !== "best") params.set("sort", sortSelect.value);
  if (qualificationSelect.value) params.set("min_qualification", qualificationSelect.value);
  if (roomBox.checked) params.set("has_room", "true");
  return params;
}

function paramsFromUrl() {
  const url = new URLSearchParams(window.location.search);
  const params = new URLSearchParams();
  for (const name of QUERY_PARAMS) {
    for (const value of url.getAll(name)) params.append(name, value);
  }
  return params;
}

function setSelect(select, value) {
  if (!value) {
    select.value = "";
    return;
  }
  if (![...select.options].some((o) => o.value === value)) {
    // A shared URL may carry a radius the menu does not list; offer it.
    select.append(el("option", { value, text: select === radiusSelect ? `${value} km` : value }));
  }
  select.value = value;
}

function fillForm(params) {
  postcodeInput.value = params.get("postcode") || "";
  lonInput.value = params.get("lon") || "";
  latInput.value = params.get("lat") || "";
  setSelect(document.getElementById("role"), params.get("role"));
  setSelect(document.getElementById("event"), params.get("event"));
  setSelect(document.getElementById("level"), params.get("level"));
  setSelect(radiusSelect, params.get("radius_km") || config.defaultRadius);
  setSelect(modeSelect, params.get("mode") || "in_person");
  const slots = new Set((params.getAll("slots").join(",") || "").split(",").filter(Boolean));
  for (const box of form.querySelectorAll('input[name="slots"]')) box.checked = slots.has(box.value);
  if (slots.size || params.get("level")) document.getElementById("more-options").open = true;
  setSelect(sortSelect, params.get("sort") || "best");
  setSelect(qualificationSelect, params.get("min_qualification"));
  roomBox.checked = ["true", "1", "yes", "on"].includes((params.get("has_room") || "").toLowerCase());
}

function pageUrl(params) {
  const url = new URL(window.location.href);
  const keep = new URLSearchParams();
  // The embed page keeps its own settings (host, view, accent) beside the query.
  for (const name of EMBED_PARAMS) if (url.searchParams.get(name)) keep.set(name, url.searchParams.get(name));
  for (const [key, value] of params) keep.append(key, value);
  url.search = keep.toString();
  return url;
}

// ---------------------------------------------------------------- the form folds away in one column
function collapseForm(query) {
  searchSummaryText.textContent = searchDescription(query);
  document.body.classList.add("form-collapsed");
  searchSummary.hidden = false;
  editButton.setAttribute("aria-expanded", "false");
}

function expandForm({ focus = false } = {}) {
  document.body.classList.remove("form-collapsed");
  searchSummary.hidden = true;
  editButton.setAttribute("aria-expanded", "true");
  if (focus) postcodeInput.focus();
}

function searchDescription(query) {
  const parts = [placeName(query)];
  parts.push(query.role ? label("roles", query.role) : "Any help");
  if (query.event) parts.push(label("events", query.event));
  parts.push(query.mode === "online" ? "Online" : `${label("modes", query.mode)}, ${query.radius_km} km`);
  return parts.join(" · ");
}

// ---------------------------------------------------------------- search
function clearResults() {
  groupsBox.replaceChildren();
  shown = [];
  emptyState.hidden = true;
  emptyState.replaceChildren();
  moreButton.hidden = true;
  summaryHeading.hidden = true;
  queryNote.hidden = true;
  controls.hidden = true;
  clearMap();
}

function clearPostcodeError() {
  postcodeError.replaceChildren();
  postcodeInput.removeAttribute("aria-invalid");
}

function describeQuery(query) {
  const who = query.role ? label("roles", query.role).toLowerCase() : "support";
  const what = query.event ? ` for ${label("events", query.event).toLowerCase()}` : "";
  return { who, what };
}

function placeName(query) {
  if (query.postcode) return query.resolved && query.resolved.postcode ? query.resolved.postcode : query.postcode;
  return query.resolved && query.resolved.postcode ? `your location (near ${query.resolved.postcode})` : "your location";
}

// The heading above the list: what was found, counted honestly for each group.
function summaryText(body) {
  const filters = [];
  if (body.query.has_room) filters.push("with room");
  if (body.query.min_qualification) filters.push(`${label("qualifications", body.query.min_qualification)} or above`);
  const text = summaryCounts(body);
  return filters.length ? `${text} (${filters.join(", ")})` : text;
}

function summaryCounts(body) {
  const q = body.query;
  const { who, what } = describeQuery(q);
  const place = placeName(q);
  const totals = body.totals || { near: q.mode === "online" ? 0 : body.total, online: q.mode === "online" ? body.total : 0 };
  const matches = (n) => `${n} ${n === 1 ? "match" : "matches"}`;
  if (q.mode === "online") {
    return body.total ? `${matches(body.total)} for online ${who}${what}` : `No online ${who}${what} yet`;
  }
  if (q.mode === "any") {
    if (!body.total) return `No ${who}${what} within ${q.radius_km} km of ${place} or online`;
    const near = totals.near ? `${totals.near} within ${q.radius_km} km of ${place}` : `none within ${q.radius_km} km of ${place}`;
    return `${matches(body.total)} for ${who}${what}: ${near}, ${totals.online} online`;
  }
  return body.total ? `${matches(body.total)} for ${who}${what} within ${q.radius_km} km of ${place}` : `No ${who}${what} within ${q.radius_km} km of ${place}`;
}

// "NE1 4ZZ is not a postcode we know. Did you mean A, B or C?": the buttons ask the question.
function withoutSuggestions(detail) {
  return detail.replace(/\s*Did you mean [^?]*\?\s*$/i, "").trim();
}

function showProblem(problem, { focus = false } = {}) {
  const postcodeProblem = problem.field === "postcode" || /postcode|location/.test(problem.type || "");
  clearHere();
  const detail = problem.detail || problem.title || "The search could not be run.";
  if (!postcodeProblem) {
    announce(detail);
    return;
  }
  expandForm();
  clearPostcodeError();
  announce("");
  postcodeInput.setAttribute("aria-invalid", "true");
  const suggestions = problem.suggestions || [];
  postcodeError.append(el("p", { text: suggestions.length ? withoutSuggestions(detail) : detail }));
  if (suggestions.length) {
    const row = el("p", { class: "suggestions" }, "Did you mean ");
    suggestions.forEach((postcode, i) => {
      const button = el("button", { type: "button", class: "suggestion", text: postcode });
      button.addEventListener("click", () => {
        postcodeInput.value = postcode;
        lonInput.value = latInput.value = "";
        submitSearch();
      });
      row.append(button);
      if (i < suggestions.length - 2) row.append(", ");
      else if (i === suggestions.length - 2) row.append(" or ");
    });
    row.append("?");
    postcodeError.append(row);
  }
  if (focus) postcodeInput.focus();
}

function apiQuery(params, offset) {
  const query = new URLSearchParams(params);
  if (offset) query.set("offset", String(offset));
  return query;
}

async function runSearch(params, { append = false, focus = false } = {}) {
  const serial = ++searchSerial;
  const mode = params.get("mode") || "in_person";
  onlineBox.checked = mode === "online";
  if (mode !== "online") placeMode = mode;
  const offset = append && current ? current.nextOffset : 0;
  const query = apiQuery(params, offset);
  if (!append) {
    clearPostcodeError();
    emptyState.hidden = true;
  }
  announce(append ? "Loading more results…" : "Searching…", { loading: true });
  root.setAttribute("aria-busy", "true");
  if (append) moreButton.textContent = "Loading more results…";
  else {
    summaryHeading.hidden = false;
    summaryHeading.textContent = "Searching…";
    summaryHeading.classList.add("loading");
  }
  const early = earlySearch && earlySearch.query === query.toString() ? earlySearch.answer : null;
  earlySearch = null;
  const answer = (await (early || requestSearch(query))) || {
    ok: false, body: { detail: "The finder could not be reached; check your connection and try again." },
  };
  if (serial !== searchSerial) return;
  if (!answer.ok) {
    root.removeAttribute("aria-busy");
    summaryHeading.classList.remove("loading");
    clearResults();
    placeMapOnCountry();
    showProblem(answer.body, { focus });
    notifyResize();
    return;
  }
  const body = answer.body;
  const q = body.query;
  if (!append && map) {
    // The map moves to the new place in a task of its own, and the list and the markers
    // follow once that frame is drawn: each part is short enough not to hold up a tap.
    clearMap();
    showHere(q, `You searched here: ${placeName(q)}`);
    fitMap(body.results);
    await afterPaint();
    if (serial !== searchSerial) return;
  }
  // Still loading until the list is in: the heading keeps its look (and size) till then.
  root.removeAttribute("aria-busy");
  summaryHeading.classList.remove("loading");
  if (!append) clearResults();
  const fresh = body.results.map((result) => ({ result, card: null, marker: null, number: 0 }));
  const firstNew = shown.length;
  shown.push(...fresh);
  current = { params, nextOffset: offset + body.results.length, total: body.total, totals: body.totals, query: q, searchId: body.search_id };
  renderList(firstNew);
  moreButton.hidden = current.nextOffset >= body.total;
  moreButton.textContent = `Show more results (${shown.length} of ${body.total} shown)`;
  summaryHeading.hidden = false;
  summaryHeading.textContent = summaryText(body);
  controls.hidden = false; // also with no match: a filter may be why
  if (!append) {
    showCorrection(q, params);
    if (fullFinderLink) fullFinderLink.href = `${fullFinderLink.pathname}?${params}`;
    if (oneColumn()) collapseForm(q);
  }
  drawMarkers();
  if (body.total === 0) {
    announce("");
    showEmptyState(params, q);
  } else if (append) {
    announce(`Showing ${shown.length} of ${body.total}.`);
    const first = fresh.reduce((a, b) => (a && a.number < b.number ? a : b), null);
    if (first) first.card.querySelector("h3").focus();
  } else {
    announce("");
  }
  // Only when the coach searched: a shared link opens with the form folded and the
  // results' heading on the first screen already, so nothing needs to move.
  if (!append && focus) {
    // The coach acted: take them (and their screen reader) to what was found.
    summaryHeading.focus({ preventScroll: true });
    if (oneColumn() || !inViewport(summaryHeading)) summaryHeading.scrollIntoView({ block: "start" });
  }
  notifyHost({ type: "findsupport:search", total: body.total, totals: body.totals || null, shown: shown.length });
  notifyResize();
}

// After a typo fix the box shows what was searched for, and says so once.
function showCorrection(query, params) {
  const resolved = query.resolved || {};
  if (!query.postcode || !resolved.corrected || !resolved.postcode) return;
  postcodeInput.value = resolved.postcode;
  queryNote.hidden = false;
  queryNote.textContent = `“${query.postcode}” was read as ${resolved.postcode}.`;
  params.set("postcode", resolved.postcode);
  history.replaceState(null, "", pageUrl(params));
}

// Draw the list (from `from` on; everything when sorting or grouping moved cards) and make the
// markers (drawMarkers puts them on the map). Cards are built off the page and put in at once.
function renderList(from = 0) {
  const q = current.query;
  const grouped = q.mode === "any";
  const groups = grouped ? ["near", "online"] : [q.mode === "online" ? "online" : "near"];
  // The server's order (best match or nearest first) within each group.
  const ordered = groups.flatMap((g) => shown.filter((e) => !grouped || e.result.group === g));
  const renumber = ordered.some((entry, i) => entry.number !== 0 && entry.number !== i + 1);
  if (renumber || from === 0) {
    groupsBox.replaceChildren();
    clearMap();
    from = 0;
  }
  shown = ordered;
  shown.forEach((entry, i) => {
    entry.number = i + 1;
  });
  const totals = current.totals || {};
  for (const group of groups) {
    const entries = shown.filter((e) => !grouped || e.result.group === group);
    let list = groupsBox.querySelector(`ol[data-group="${group}"]`);
    if (!list) {
      if (grouped) {
        const count = totals[group] === undefined ? entries.length : totals[group];
        groupsBox.append(el("h3", { class: "group-heading", id: `group-${group}` }, `${GROUP_TITLES[group]} `, el("span", { class: "group-count", text: `(${count})` })));
      }
      list = el("ol", { class: "result-list", "data-group": group, "aria-labelledby": grouped ? `group-${group}` : "results-summary" });
      groupsBox.append(list);
    }
    const cards = document.createDocumentFragment();
    for (const entry of entries) {
      if (shown.indexOf(entry) < from) continue;
      entry.card = renderResult(entry, current.searchId);
      cards.append(entry.card);
      addMarker(entry);
    }
    list.append(cards);
  }
}

async function countFor(params) {
  const answer = await getJSON(`${config.api}/search/count?${params}`);
  return answer.ok ? answer.body.total : 0;
}

function relaxButton(text, params) {
  const button = el("button", { type: "button", class: "secondary", text });
  button.addEventListener("click", () => {
    fillForm(params);
    history.pushState(null, "", pageUrl(params));
    runSearch(params, { focus: true });
  });
  return button;
}

// Nothing found: the heading says so; this box offers what would find someone.
async function showEmptyState(params, query) {
  emptyState.hidden = false;
  emptyState.replaceChildren(el("p", { text: "Looking for wider searches that find someone…" }));
  const radius = Number(query.radius_km);
  const wider = [...radiusSelect.options].map((o) => Number(o.value)).filter((r) => r > radius).sort((a, b) => a - b).slice(0, WIDER_STEPS);
  const tries = query.mode === "online" ? [] : wider.map((r) => {
    const p = new URLSearchParams(params);
    p.set("radius_km", String(r));
    return { kind: "radius", radius: r, params: p };
  });
  if ((query.mode || "in_person") === "in_person") {
    const p = new URLSearchParams(params);
    p.set("mode", "any");
    tries.push({ kind: "online", params: p });
  }
  if (query.event) {
    const p = new URLSearchParams(params);
    p.delete("event");
    tries.push({ kind: "event", params: p });
  }
  if (query.has_room || query.min_qualification) {
    const p = new URLSearchParams(params);
    p.delete("has_room");
    p.delete("min_qualification");
    tries.push({ kind: "filters", params: p });
  }
  const serial = searchSerial;
  const counts = await Promise.all(tries.map((t) => countFor(t.params).catch(() => 0)));
  if (serial !== searchSerial) return;
  const offers = el("div", { class: "relax" });
  const radiusTry = tries.findIndex((t, i) => t.kind === "radius" && counts[i] > 0);
  if (radiusTry >= 0) {
    const t = tries[radiusTry];
    offers.append(relaxButton(`Widen to ${t.radius} km? (${counts[radiusTry]} there)`, t.params));
  }
  tries.forEach((t, i) => {
    // Nobody is near at this radius, so every match of an `any` search here helps online.
    if (t.kind === "online" && counts[i] > 0) offers.append(relaxButton(`Include online support? (${counts[i]} online)`, t.params));
    if (t.kind === "event" && counts[i] > 0) offers.append(relaxButton(`Any event? (${counts[i]})`, t.params));
    if (t.kind === "filters" && counts[i] > 0) offers.append(relaxButton(`Without the filters? (${counts[i]})`, t.params));
  });
  if (offers.children.length) {
    emptyState.replaceChildren(el("p", { text: "Try:" }), offers);
    announce(`Try: ${[...offers.children].map((b) => b.textContent).join("; ")}`);
  } else {
    emptyState.replaceChildren(el("p", { text: "Nobody matches nearby yet. Try a different event or kind of help, or online support." }));
  }
  notifyResize();
}

// ---------------------------------------------------------------- one result
// Reasons as shown: an online provider from afar says where they are based.
function cardReasons(result) {
  const reasons = [...result.reasons];
  if (result.group === "online" && !reasons.some((r) => r.endsWith(" km away"))) reasons.unshift(`based in the ${result.area} area`);
  return reasons;
}

// Whether the provider can take the coach now, and how soon they usually answer a request
// (the server sends replies_within_days only once enough requests were answered).  "Has room"
// is not repeated when a reason already says so ("has room for 3 more coaches").
function standingPhrases(result) {
  const phrases = [];
  if (result.spare_capacity > 0 && !result.reasons.some((r) => r.startsWith("has room"))) phrases.push("Has room");
  const days = result.replies_within_days;
  if (days) phrases.push(`Usually replies within ${days === 1 ? "1 day" : days + " days"}`);
  return phrases;
}

function renderResult(entry, searchId) {
  const { result } = entry;
  const id = `r-${result.position}`;
  const card = el("li", { class: `result group-${result.group}`, id, "data-number": entry.number });
  const heading = el("h3", { tabindex: "-1", id: `${id}-name` });
  heading.append(el("span", { class: "position", text: `${entry.number}. ` }), result.name);
  card.append(heading);
  const roles = result.roles.map((r) => label("roles", r)).join(", ");
  const reasons = cardReasons(result);
  // Where they are comes once: the first reason ("4.2 km away", "based in the NE21 4 area")
  // or, failing that, the meta line.
  const distanceInReasons = reasons.length > 0 && reasons[0].endsWith(" km away");
  const meta = [roles];
  if (result.group === "online") meta.push(distanceInReasons ? "online" : `online, ${result.distance_km.toFixed(1)} km from you`);
  else if (distanceInReasons) meta.push(result.area);
  else meta.push(result.area, `${result.distance_km.toFixed(1)} km`);
  card.append(el("p", { class: "meta", text: meta.join(" · ") }));
  if (reasons.length) {
    const list = el("ul", { class: "reasons", "aria-label": "Why this match" });
    for (const reason of reasons) list.append(el("li", { text: reason }));
    card.append(list);
  }
  const free = result.availability.map((s) => label("slots", s));
  card.append(el("p", { class: "availability", text: free.length ? `Free: ${listPhrase(free)}` : "Availability not given" }));
  const standing = standingPhrases(result);
  if (standing.length) card.append(el("p", { class: "standing", text: standing.join(" · ") }));
  const saysOnline = result.group === "online" || reasons.some((r) => r.includes("online"));
  if (result.online && !saysOnline) card.append(el("p", { class: "online", text: "Also offers online support" }));
  if (result.missing.length) {
    card.append(el("p", { class: "missing", text: `Not a full match: ${listPhrase(result.missing)}` }));
  }
  const details = el("div", { class: "details", id: `${id}-details`, hidden: true });
  const introId = `${id}-intro`;
  let intro = null;
  const detailsButton = el("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": details.id, text: "Details" });
  detailsButton.addEventListener("click", () => toggleDetails(result, searchId, details, detailsButton));
  const introButton = el("button", { type: "button", class: "primary request-intro", "aria-expanded": "false", "aria-controls": introId, text: "Request an introduction" });
  introButton.addEventListener("click", () => {
    // Made when first asked for: a form on every card would be most of the list's elements.
    if (!intro) {
      intro = introductionForm(result, searchId, introId);
      card.append(intro);
    }
    const open = intro.hidden;
    intro.hidden = !open;
    introButton.setAttribute("aria-expanded", String(open));
    if (open) intro.querySelector("input").focus();
    notifyResize();
  });
  const actions = el("div", { class: "actions" }, detailsButton, introButton);
  if (map) {
    const mapButton = el("button", { type: "button", class: "link-button show-on-map", text: "Show on map" });
    mapButton.addEventListener("click", () => showOnMap(entry));
    actions.append(mapButton);
  }
  card.append(actions, details);
  card.addEventListener("pointerenter", (event) => event.pointerType === "mouse" && setHighlight(entry, true));
  card.addEventListener("pointerleave", (event) => event.pointerType === "mouse" && setHighlight(entry, false));
  card.addEventListener("focusin", () => setHighlight(entry, true));
  card.addEventListener("focusout", (event) => {
    if (!card.contains(event.relatedTarget)) setHighlight(entry, false);
  });
  return card;
}

// From a popup: open the card's introduction form and put the coach in it.
function openIntroduction(entry) {
  const button = entry.card.querySelector(".request-intro");
  if (!button) return; // already sent: the card says so
  if (button.getAttribute("aria-expanded") !== "true") button.click();
  entry.card.scrollIntoView({ block: "start" });
  const input = entry.card.querySelector("form.intro input");
  if (input) input.focus({ preventScroll: true });
}

async function toggleDetails(result, searchId, box, button) {
  const open = box.hidden;
  box.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (!open || box.dataset.loaded) {
    notifyResize();
    return;
  }
  box.replaceChildren(el("p", { text: "Loading…" }));
  const query = searchId ? `?${new URLSearchParams({ search_id: searchId })}` : "";
  const answer = await getJSON(`${config.api}/providers/${encodeURIComponent(result.id)}${query}`);
  if (!answer.ok) {
    box.replaceChildren(el("p", { class: "field-error", text: answer.body.detail || "Details could not be loaded." }));
    notifyResize();
    return;
  }
  const p = answer.body;
  const facts = el("dl", { class: "facts" });
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", { text: term }), el("dd", { text: String(value) }));
  };
  add("Qualification", p.qualification ? label("qualifications", p.qualification) : "Not given");
  add("Club", p.club);
  add("Helps with", p.roles.map((r) => label("roles", r)).join(", "));
  add("Events", p.events.map((e) => label("events", e)).join(", "));
  add("Free", p.availability.length ? p.availability.map((s) => label("slots", s)).join(", ") : "Not given");
  add("Travels", `up to ${p.travel_km} km from ${p.area}`);
  add("Online", p.online ? "Yes" : "No");
  add("Room for", p.spare_capacity === 1 ? "1 more coach" : `${p.spare_capacity} more coaches`);
  box.replaceChildren(facts);
  if (p.bio) box.append(el("p", { class: "bio", text: p.bio }));
  box.dataset.loaded = "true";
  notifyResize();
}

function field(id, text, control) {
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text }), control);
}

function introductionForm(result, searchId, id) {
  const formEl = el("form", { class: "intro", id, hidden: true, novalidate: true, "aria-label": `Request an introduction to ${result.name}` });
  formEl.append(el("p", { class: "hint", text: `${result.name} receives your name and message and can accept or decline. E-mail addresses are shared only if they accept; you get a confirmation e-mail now.` }));
  const name = el("input", { name: "name", type: "text", autocomplete: "name", maxlength: "100", required: true });
  const email = el("input", { name: "email", type: "email", autocomplete: "email", maxlength: "254", required: true });
  const message = el("textarea", { name: "message", rows: "4", maxlength: config.maxMessage, required: true });
  const feedback = el("p", { class: "intro-status", role: "status", "aria-live": "polite" });
  const send = el("button", { type: "submit", class: "primary", text: "Send request" });
  formEl.append(field(`${id}-name`, "Your name", name), field(`${id}-email`, "Your e-mail address", email),
    field(`${id}-message`, "Message (what help you are looking for)", message), send, feedback);
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of [name, email, message]) input.removeAttribute("aria-invalid");
    const empty = [name, email, message].find((input) => !input.value.trim());
    if (empty) {
      empty.setAttribute("aria-invalid", "true");
      const fieldLabel = formEl.querySelector(`label[for="${empty.id}"]`).textContent.toLowerCase();
      feedback.textContent = `Please fill in ${fieldLabel}.`;
      empty.focus();
      return;
    }
    send.disabled = true;
    feedback.textContent = "Sending…";
    const payload = { provider_id: result.id, name: name.value, email: email.value, message: message.value };
    if (searchId) payload.search_id = searchId;
    let response;
    let body = {};
    try {
      response = await fetch(`${config.api}/introductions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      });
      body = await response.json();
    } catch (err) {
      response = { ok: false };
      body = { detail: "The request could not be sent; check your connection and try again." };
    }
    send.disabled = false;
    // 409: already requested (or no place left): say so instead of offering the button again.
    if (response.ok || response.status === 409) {
      const done = el("p", { class: "intro-done", role: "status", tabindex: "-1", text: body.detail });
      formEl.replaceWith(done);
      done.focus();
      const introButton = document.querySelector(`[aria-controls="${id}"]`);
      if (introButton) introButton.remove();
      if (response.ok) notifyHost({ type: "findsupport:introduction", provider_id: result.id });
    } else {
      feedback.textContent = body.detail || "The request could not be sent.";
      const bad = { name, email, message }[body.field];
      if (bad) {
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
      }
    }
    notifyResize();
  });
  return formEl;
}

// ---------------------------------------------------------------- embedding
// In a club's page (/embed from widget.js) the finder tells the host page its
// height and what happened, with postMessage, only to the origin the widget
// named (host=...), checked to be an origin. Messages carry no personal data:
// counts, and a provider's public id when an introduction was sent.
//   {type: "findsupport:resize", height}
//   {type: "findsupport:search", total, totals: {near, online} | null, shown}
//   {type: "findsupport:introduction", provider_id}
let hostOrigin = null;
function setUpEmbedding() {
  if (!config.compact) return;
  const settings = new URLSearchParams(window.location.search);
  if (settings.get("view") === "list") document.body.classList.add("list-view");
  applyAccent(settings.get("accent"));
  if (window.parent === window) return;
  const host = settings.get("host");
  if (!host) return;
  try {
    const origin = new URL(host).origin;
    if (origin === host && /^https?:$/.test(new URL(host).protocol)) hostOrigin = origin;
  } catch (err) {
    hostOrigin = null;
  }
  if (!hostOrigin) return;
  new ResizeObserver(notifyResize).observe(document.body);
  notifyResize();
}

// Measured in the next frame, once for all the changes made until then: measuring right
// after a change would make the browser lay the page out an extra time for each call.
function notifyResize() {
  if (!hostOrigin || resizePending) return;
  resizePending = true;
  requestAnimationFrame(() => {
    resizePending = false;
    notifyHost({ type: "findsupport:resize", height: Math.ceil(document.documentElement.getBoundingClientRect().height) });
  });
}

function notifyHost(message) {
  if (hostOrigin) window.parent.postMessage(message, hostOrigin);
}

// accent=#7a1f1f (or 7a1f1f): a club's colour for buttons and links. Only a hex
// colour is taken, darkened until white text on it keeps WCAG AA contrast.
function applyAccent(value) {
  const match = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(value || "");
  if (!match) return;
  let hex = match[1].toLowerCase();
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join("");
  let rgb = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  while (contrastWithWhite(rgb) < MIN_CONTRAST) rgb = rgb.map((c) => Math.floor(c * 0.9));
  const css = (c) => `rgb(${c.join(", ")})`;
  root.style.setProperty("--brand", css(rgb));
  root.style.setProperty("--brand-dark", css(rgb.map((c) => Math.floor(c * 0.75))));
}

function contrastWithWhite(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05);
}

// ---------------------------------------------------------------- wiring
function submitSearch() {
  const params = paramsFromForm();
  if (!params.get("postcode") && !params.get("lon")) {
    searchSerial += 1; // a search still on its way is no longer wanted
    root.removeAttribute("aria-busy");
    summaryHeading.classList.remove("loading");
    clearResults();
    clearHere();
    placeMapOnCountry();
    clearPostcodeError();
    announce("");
    postcodeInput.setAttribute("aria-invalid", "true");
    postcodeError.append(el("p", { text: "Enter a postcode (e.g. NE21 4LZ) or use your location." }));
    postcodeInput.focus();
    return;
  }
  history.pushState(null, "", pageUrl(params));
  runSearch(params, { focus: true });
}

function useLocation() {
  if (!navigator.geolocation) {
    announce("This browser cannot share a location; please type a postcode.");
    return;
  }
  announce("Finding your location…", { loading: true });
  navigator.geolocation.getCurrentPosition(
    (position) => {
      postcodeInput.value = "";
      lonInput.value = position.coords.longitude.toFixed(LOCATION_DECIMALS);
      latInput.value = position.coords.latitude.toFixed(LOCATION_DECIMALS);
      submitSearch();
    },
    () => announce("Your location is not available (permission refused or no signal); please type a postcode."),
    { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 },
  );
}

// The order and filters above the list search again at once; focus stays on the control.
function changeControls() {
  if (!current) return;
  // The search shown, with the new order and filters (not what may have been typed since).
  const params = new URLSearchParams(current.params);
  for (const name of ["sort", "has_room", "min_qualification", "mode"]) params.delete(name);
  const mode = onlineBox.checked ? "online" : placeMode;
  if (mode !== "in_person") params.set("mode", mode);
  setSelect(modeSelect, mode);
  if (sortSelect.value !== "best") params.set("sort", sortSelect.value);
  if (qualificationSelect.value) params.set("min_qualification", qualificationSelect.value);
  if (roomBox.checked) params.set("has_room", "true");
  history.pushState(null, "", pageUrl(params));
  runSearch(params);
}

async function start() {
  setUpEmbedding();
  const opening = paramsFromUrl();
  if (opening.get("postcode") || opening.get("lon")) {
    const query = apiQuery(opening, 0);
    earlySearch = { query: query.toString(), answer: requestSearch(query) };
  }
  [labels] = await Promise.all([loadLabels(), setUpMap()]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitSearch();
  });
  postcodeInput.addEventListener("input", () => {
    lonInput.value = latInput.value = "";
  });
  document.getElementById("use-location").addEventListener("click", useLocation);
  editButton.addEventListener("click", () => expandForm({ focus: true }));
  for (const control of [sortSelect, qualificationSelect, roomBox, onlineBox]) control.addEventListener("change", changeControls);
  moreButton.addEventListener("click", () => current && runSearch(current.params, { append: true }));
  ONE_COLUMN.addEventListener("change", () => {
    if (!oneColumn()) expandForm();
  });
  window.addEventListener("popstate", () => {
    const params = paramsFromUrl();
    fillForm(params);
    if (params.get("postcode") || params.get("lon")) runSearch(params);
    else {
      searchSerial += 1;
      clearResults();
      clearHere();
      placeMapOnCountry();
      expandForm();
      announce("");
    }
  });
  const initial = paramsFromUrl();
  fillForm(initial);
  if (initial.get("postcode") || initial.get("lon")) runSearch(initial);
  root.dataset.ready = "true";
}

start();
