"use strict";
// Plain JS, no build step: everything goes through the same JSON API as any other client.
const API = "/api/v1";
const EXAMPLES = [
  { title: "The Shawshank Redemption", genres: ["Drama"], year: 1994, runtime_minutes: 142 },
  { title: "Toy Story", genres: ["Animation", "Comedy", "Family"], year: 1995, runtime_minutes: 81 },
  { title: "Sharknado 4: The 4th Awakens", genres: ["Action", "Comedy", "Horror", "Sci-Fi"], year: 2016 },
  { title: "Amélie", genres: ["Comedy", "Romance"], year: 2001, runtime_minutes: 122 },
  { title: "Disaster Movie", genres: ["Comedy"], year: 2008, runtime_minutes: 87 },
];

const $ = (id) => document.getElementById(id);

async function call(path, options) {
  const response = await fetch(API + path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* non-JSON: handled below */ }
  if (!response.ok) {
    const message = body && body.message ? body.message : `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body.data;
}

function renderGenres(genres) {
  const list = $("genre-list");
  list.replaceChildren();
  for (const genre of genres) {
    const id = "genre-" + genre.toLowerCase().replace(/[^a-z]+/g, "-");
    const wrap = document.createElement("span");
    wrap.className = "chip";
    const box = document.createElement("input");
    box.type = "checkbox"; box.id = id; box.value = genre; box.name = "genres";
    const label = document.createElement("label");
    label.htmlFor = id; label.textContent = genre;
    wrap.append(box, label);
    list.append(wrap);
  }
}

// Genres the serving model learnt (from /model); the others are greyed: it ignores them.
function markUnknownGenres(known) {
  const note = $("unknown-genre-note");
  let any = false;
  for (const box of document.querySelectorAll("#genre-list input")) {
    const unknown = known !== null && !known.includes(box.value);
    const wrap = box.parentElement;
    const label = wrap.querySelector("label");
    wrap.classList.toggle("unknown", unknown);
    if (unknown) {
      any = true;
      label.title = `The serving model never saw ${box.value} in training, so it ignores it.`;
      box.setAttribute("aria-describedby", "unknown-genre-note");
    } else {
      label.removeAttribute("title");
      box.removeAttribute("aria-describedby");
    }
  }
  note.hidden = !any;
}

// The form's inputs come from the movie record (the same definition the API validates with):
// text fields before the genres, numbers in a row after them; ids are the CLI's flag names.
let FIELDS = [];

function inputId(field) {
  return field.flag.replace(/^--/, "");
}

function renderFields(record) {
  FIELDS = record.fields.filter((f) => f.model_input && f.kind !== "genres");
  const text = $("text-fields"), numbers = $("number-fields");
  text.replaceChildren(); numbers.replaceChildren();
  for (const field of FIELDS) {
    const id = inputId(field);
    const label = document.createElement("label");
    label.htmlFor = id; label.textContent = field.label || field.name;
    if (!field.required) {
      const hint = document.createElement("span");
      hint.className = "hint"; hint.textContent = "(optional)";
      label.append(" ", hint);
    }
    const input = document.createElement("input");
    input.id = id; input.name = field.name;
    if (field.kind === "integer" || field.kind === "number") {
      input.type = "number"; input.inputMode = field.kind === "integer" ? "numeric" : "decimal";
      input.step = field.kind === "integer" ? "1" : "any";
      if (field.minimum !== undefined) input.min = String(field.minimum);
      if (field.maximum !== undefined) input.max = String(field.maximum);
      const cell = document.createElement("div");
      cell.append(label, input);
      numbers.append(cell);
    } else {
      input.type = "text"; input.autocomplete = "off";
      if (field.max_length !== undefined) input.maxLength = field.max_length;
      if (field.required) input.required = true;
      if (field.example) input.placeholder = `e.g. ${field.example}`;
      text.append(label, input);
    }
  }
}

function selectedGenres() {
  return [...document.querySelectorAll("#genre-list input:checked")].map((b) => b.value);
}

function fill(example) {
  for (const field of FIELDS) $(inputId(field)).value = example[field.name] ?? "";
  for (const box of document.querySelectorAll("#genre-list input")) {
    box.checked = example.genres.includes(box.value);
  }
  $("title").focus();
}

function renderExamples() {
  const list = $("examples");
  for (const example of EXAMPLES) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button"; button.className = "example";
    button.textContent = `${example.title} (${example.year})`;
    button.setAttribute("aria-label", `Fill the form with ${example.title}`);
    button.addEventListener("click", () => fill(example));
    item.append(button);
    list.append(item);
  }
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function showAnswer(prediction) {
  const pct = Math.round(prediction.probability * 1000) / 10;
  const like = prediction.label === "like";
  $("verdict").textContent = like ? "✔ Audiences will probably like it" : "✘ Audiences will probably not like it";
  $("verdict").className = "verdict " + (like ? "like" : "dislike");
  $("probability").textContent = pct.toFixed(1) + "%";
  $("answer-version").textContent = prediction.model_version;
  const bar = $("bar");
  bar.setAttribute("aria-valuenow", String(pct));
  $("bar-fill").style.width = pct + "%";
  $("bar-fill").className = "bar-fill " + (like ? "like" : "dislike");
  const ignored = prediction.unknown_to_model || [];
  $("ignored-genres").textContent = ignored.length
    ? `Ignored: ${ignored.join(", ")} — the model never saw ${ignored.length === 1 ? "this genre" : "these genres"} in training, so the answer does not use ${ignored.length === 1 ? "it" : "them"}.`
    : "";
  $("ignored-genres").hidden = !ignored.length;
  showReasons(prediction.explanation);
  $("result").hidden = false;
}

// "Drama +0.12": the server's reasons, signed contributions to the model's log-odds.
function showReasons(explanation) {
  const list = $("reasons");
  list.replaceChildren();
  const reasons = explanation ? explanation.reasons || [] : [];
  for (const reason of reasons) {
    const li = document.createElement("li");
    const sign = reason.trim().split(" ").pop();
    li.className = sign.startsWith("-") ? "down" : "up";
    li.textContent = reason.replace(/ ([+-][0-9.]+)$/, " ($1)");
    list.append(li);
  }
  $("reasons-box").hidden = !reasons.length;
}

async function onSubmit(event) {
  event.preventDefault();
  $("error").hidden = true;
  const item = { genres: selectedGenres() };
  for (const field of FIELDS) {
    const value = $(inputId(field)).value;
    if (field.kind === "integer" || field.kind === "number") {
      if (value !== "") item[field.name] = Number(value);
    } else if (field.required || value !== "") {
      item[field.name] = value;
    }
  }
  const button = $("submit");
  button.disabled = true; button.textContent = "Predicting…";
  try {
    const ask = (explain) => call("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ items: [item], explain }),
    });
    let data;
    try {
      data = await ask(true);
    } catch (error) {
      // A model that cannot explain still answers (HTTP 409 names the reason).
      if (error.status !== 409 || !/cannot explain/.test(error.message)) throw error;
      data = await ask(false);
    }
    showAnswer(data.predictions[0]);
  } catch (error) {
    $("result").hidden = true;
    showError(error.message);
  } finally {
    button.disabled = false; button.textContent = "Predict";
  }
}

function formatMetric(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(3);  // counts: 7,322
}

// The pipeline logs test_<metric> and baseline_<name>_<metric>; hand-registered models may
// log bare names.
function metric(metrics, name) {
  for (const key of [`test_${name}`, name]) if (typeof metrics[key] === "number") return metrics[key];
  return null;
}

function cell(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function renderKeyMetrics(metrics) {
  const body = document.querySelector("#key-metrics tbody");
  body.replaceChildren();
  for (const [name, label] of [["roc_auc", "ROC-AUC"], ["accuracy", "Accuracy"]]) {
    const row = document.createElement("tr");
    row.append(
      cell("th", label, { scope: "row" }),
      cell("td", formatMetric(metric(metrics, name))),
      cell("td", formatMetric(metrics[`baseline_logreg_${name}`])),
      cell("td", formatMetric(metrics[`baseline_majority_${name}`])),
    );
    body.append(row);
  }
}

function renderAllMetrics(metrics) {
  const body = document.querySelector("#metrics tbody");
  body.replaceChildren();
  const names = Object.keys(metrics).sort();
  for (const name of names) {
    const row = document.createElement("tr");
    // Long snake_case names may break after an underscore on a phone, never mid-word.
    const th = cell("th", "", { scope: "row" });
    name.split("_").forEach((part, i, parts) => {
      th.append(part + (i < parts.length - 1 ? "_" : ""));
      if (i < parts.length - 1) th.append(document.createElement("wbr"));
    });
    row.append(th, cell("td", formatMetric(metrics[name])));
    body.append(row);
  }
  if (!names.length) $("metrics").replaceChildren("No metrics recorded.");
}

// The API keeps serving its champion while the registry (MLflow) is down; say so.
function registryNote(card) {
  const registry = card.registry || { reachable: true };
  if (registry.reachable) return "Serving the champion model.";
  const since = registry.down_since
    ? ` since ${new Date(registry.down_since * 1000).toLocaleTimeString("en")}`
    : "";
  return (
    `Serving champion version ${card.version}. The model registry is unreachable${since} ` +
    `(${registry.error}); a newly promoted champion is picked up once it answers again.`
  );
}

async function loadModelCard() {
  try {
    const card = await call("/model");
    const metrics = card.metrics || {};
    const short = (value, n) => (value ? String(value).slice(0, n) : "unknown");
    $("model-name").textContent = card.name;
    $("model-version").textContent = card.version;
    $("model-alias").textContent = card.alias || "champion";
    $("model-kind").textContent = card.model_kind || "unknown";
    $("model-trained").textContent = card.trained_at || "unknown";
    $("model-data").textContent = short(card.data_md5, 12);
    $("model-data").title = card.data_md5 || "";
    $("model-git").textContent = short(card.git_commit, 10);
    $("model-run").textContent = short(card.run_id, 12);
    $("model-run").title = card.run_id || "";
    const vocab = card.vocabulary;
    $("model-rows").textContent = vocab ? `${vocab.rows.toLocaleString("en")} movies` : "unknown";
    $("model-genres").textContent = card.known_genres
      ? `${card.known_genres.join(", ")} (${card.known_genres.length} of ${card.known_genres.length + card.unknown_genres.length})`
      : "unknown (all genres accepted)";
    renderKeyMetrics(metrics);
    renderAllMetrics(metrics);
    $("model-details").hidden = false;
    $("model-status").textContent = registryNote(card);
    markUnknownGenres(card.known_genres || null);
  } catch (error) {
    $("model-status").textContent = error.message;
  }
}

async function init() {
  renderExamples();
  $("predict-form").addEventListener("submit", onSubmit);
  try {
    const record = await call("/movie-record");
    renderFields(record);
    renderGenres(record.genres);
  } catch (error) {
    showError("Could not load the movie form: " + error.message);
  }
  await loadModelCard();
  // Refreshed now and then: a page left open learns of a new champion or a registry outage.
  setInterval(loadModelCard, 30000);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
