// The monitoring page: fetch /api/v1/monitoring/summary and draw inline SVG charts.
// No libraries and no network beyond this server (the page must work offline).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 520, H = 180, PAD = { l: 44, r: 10, t: 10, b: 26 };

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, s, anchor = "start") {
  const t = el("text", { x, y, "text-anchor": anchor }, parent);
  t.textContent = s;
  return t;
}

function fmt(v, digits = 1, suffix = "") {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits) + suffix;
}

function frame(container, yMax, label, digits = null) {
  container.replaceChildren();
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, container);
  el("line", { class: "axis", x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b }, svg);
  el("line", { class: "axis", x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b }, svg);
  for (const f of [0, 0.5, 1]) {
    const y = H - PAD.b - f * (H - PAD.t - PAD.b);
    text(svg, PAD.l - 4, y + 3, fmt(yMax * f, digits ?? (yMax * f >= 10 ? 0 : 2)), "end");
  }
  return svg;
}

function xOf(i, n) {
  const span = W - PAD.l - PAD.r;
  return PAD.l + (n <= 1 ? span / 2 : (i / (n - 1)) * span);
}

function yOf(v, yMax) {
  return H - PAD.b - (yMax > 0 ? v / yMax : 0) * (H - PAD.t - PAD.b);
}

function timeLabels(svg, series) {
  if (!series.length) return;
  const hhmm = (s) => s.minute.slice(11, 16);
  text(svg, PAD.l, H - 8, hhmm(series[0]));
  if (series.length > 1) text(svg, W - PAD.r, H - 8, hhmm(series[series.length - 1]) + " UTC", "end");
}

function empty(container, message) {
  container.replaceChildren();
  const div = document.createElement("div");
  div.className = "empty";
  div.textContent = message;
  container.appendChild(div);
}

function barChart(container, series, key, label) {
  if (!series.length) return empty(container, "no requests in this window");
  const yMax = Math.max(1, ...series.map((s) => s[key]));
  const svg = frame(container, yMax, label, 0);
  const slot = (W - PAD.l - PAD.r) / series.length;
  series.forEach((s, i) => {
    const y = yOf(s[key], yMax);
    const bar = el("rect", {
      class: "bar", x: PAD.l + i * slot + slot * 0.1, y, width: Math.max(1, slot * 0.8), height: H - PAD.b - y,
    }, svg);
    el("title", {}, bar).textContent = `${s.minute}: ${s[key]}`;
  });
  timeLabels(svg, series);
}

function lineChart(container, series, keys, label, yMaxFixed = null) {
  if (!series.length) return empty(container, "no requests in this window");
  const values = series.flatMap((s) => keys.map((k) => s[k]).filter((v) => v !== null));
  const yMax = yMaxFixed ?? Math.max(1e-9, ...values) * 1.1;
  const svg = frame(container, yMax, label);
  for (const k of keys) {
    const pts = series
      .map((s, i) => (s[k] === null ? null : `${xOf(i, series.length).toFixed(1)},${yOf(s[k], yMax).toFixed(1)}`))
      .filter(Boolean);
    el("polyline", { class: `line-${k.split("_")[0]}`, points: pts.join(" ") }, svg);
    if (pts.length === 1) {
      const [x, y] = pts[0].split(",");
      el("circle", { cx: x, cy: y, r: 3, class: `line-${k.split("_")[0]}` }, svg);
    }
  }
  timeLabels(svg, series);
}

function featureChart(container, features) {
  const names = Object.keys(features).sort((a, b) => features[b].score - features[a].score);
  if (!names.length) return empty(container, "no per-feature scores");
  const FW = 1000, rowH = 16, h = names.length * rowH + 20, left = 150, right = FW - 80;
  container.replaceChildren();
  const svg = el("svg", { viewBox: `0 0 ${FW} ${h}`, role: "img", "aria-label": "per-feature drift scores" }, container);
  const max = Math.max(...names.map((n) => Math.max(features[n].score, features[n].threshold)), 1e-9);
  names.forEach((n, i) => {
    const f = features[n], y = 4 + i * rowH;
    text(svg, left - 6, y + 11, n, "end");
    el("rect", { class: "feat-bar" + (f.drifted ? " drifted" : ""), x: left, y, height: rowH - 4, width: Math.max(1, (f.score / max) * (right - left)) }, svg);
    const tx = left + (f.threshold / max) * (right - left);
    el("line", { class: "threshold", x1: tx, x2: tx, y1: y - 1, y2: y + rowH - 3 }, svg);
    text(svg, right + 4, y + 11, `${fmt(f.score, 3)}${f.drifted ? " ✱" : ""}`);
  });
  text(svg, left, h - 4, "bar: score (method in the report) · dashed: threshold · orange ✱: drifted");
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "?";
}

function renderDrift(drift) {
  const status = document.getElementById("drift-status");
  const textEl = document.getElementById("drift-text");
  const link = document.getElementById("drift-report");
  const retrain = document.getElementById("drift-retrain");
  if (!drift) {
    status.textContent = "none";
    status.className = "badge";
    empty(document.getElementById("drift-features"), "no drift run yet");
    return;
  }
  status.textContent = drift.drift_detected ? "DRIFT" : "no drift";
  status.className = "badge " + (drift.drift_detected ? "drift" : "ok");
  const w = drift.window || {};
  textEl.textContent =
    `drift share ${fmt(drift.drift_share * 100, 0, "%")} (${drift.n_drifted} of ${drift.n_features} features; ` +
    `threshold ${fmt(drift.drift_threshold * 100, 0, "%")}) over ${w.n_predictions} predictions ` +
    `from ${when(w.start)} to ${when(w.end)}; model v${drift.model_version ?? "?"} against ` +
    `${drift.reference?.source || "?"}; checked ${when(drift.created_at)} (run ${drift.run_id}).`;
  const reasons = document.getElementById("drift-reasons");
  reasons.replaceChildren();
  for (const r of drift.reasons || []) {
    const li = document.createElement("li");
    li.dataset.reason = r.reason;
    li.textContent = `${r.reason.replace("_", " ")}: ${r.message}`;
    reasons.appendChild(li);
  }
  const u = drift.unknown_genres;
  const unknownEl = document.getElementById("drift-unknown-genres");
  unknownEl.textContent = u
    ? `genres the model never saw: ${fmt(u.share_any * 100, 1, "%")} of predictions carry one` +
      (Object.keys(u.per_genre || {}).length
        ? ` (${Object.entries(u.per_genre).map(([g, s]) => `${g} ${fmt(s * 100, 1, "%")}`).join(", ")})`
        : "") +
      `; threshold ${fmt(u.threshold * 100, 0, "%")}. The model knows: ${(u.known_genres || []).join(", ") || "?"}.`
    : "";
  link.href = drift.report_url || "/monitoring/report";
  link.hidden = false;
  featureChart(document.getElementById("drift-features"), drift.features || {});
  const r = drift.retrain;
  retrain.textContent = r
    ? `retrain: ${r.status}` + (r.decision ? ` · gate decision: ${r.decision.decision ?? r.decision.promoted ?? JSON.stringify(r.decision)}` : "")
    : "";
}

function calibrationChart(container, versions) {
  const withRows = versions.filter((v) => v.calibration.some((b) => b.rows));
  if (!withRows.length) return empty(container, "no prediction has a rating yet");
  const svg = frame(container, 1, "calibration: observed like-rate per probability decile", 1);
  const xOfP = (p) => PAD.l + p * (W - PAD.l - PAD.r);
  el("line", { class: "threshold", x1: xOfP(0), y1: yOf(0, 1), x2: xOfP(1), y2: yOf(1, 1) }, svg);
  withRows.forEach((v, i) => {
    const pts = v.calibration.filter((b) => b.rows);
    el("polyline", {
      class: `calib calib-${i % 4}`,
      points: pts.map((b) => `${xOfP(b.mean_predicted).toFixed(1)},${yOf(b.observed_rate, 1).toFixed(1)}`).join(" "),
    }, svg);
    for (const b of pts) {
      const dot = el("circle", { class: `calib calib-${i % 4}`, cx: xOfP(b.mean_predicted), cy: yOf(b.observed_rate, 1), r: 3 }, svg);
      el("title", {}, dot).textContent =
        `v${v.model_version} ${b.bin}: predicted ${fmt(b.mean_predicted, 2)}, observed ${fmt(b.observed_rate, 2)} (${b.rows} rows)`;
    }
  });
  text(svg, PAD.l, H - 8, "predicted 0");
  text(svg, W - PAD.r, H - 8, "1 · " + withRows.map((v) => `v${v.model_version}`).join(", "), "end");
}

function renderPerformance(perf) {
  const status = document.getElementById("perf-status");
  if (!perf) {
    status.textContent = "none";
    status.className = "badge";
    empty(document.getElementById("perf-calibration"), "no performance report yet");
    return;
  }
  const drop = perf.verdict === "performance_drop";
  status.textContent = perf.verdict.replaceAll("_", " ");
  status.className = "badge " + (drop ? "drift" : "ok");
  const parts = (perf.versions || []).map((v) =>
    `v${v.model_version}: ${v.rows} rated, ROC-AUC ${fmt(v.metrics.roc_auc, 3)} (test ${fmt(v.test_metrics.roc_auc, 3)}), ` +
    `accuracy ${fmt(v.metrics.accuracy, 3)}, Brier ${fmt(v.metrics.brier, 3)}`);
  document.getElementById("perf-text").textContent =
    `${perf.rows_matched} stored predictions have a rating now; allowed drop ${fmt(perf.performance_drop, 2)}; ` +
    `checked ${when(perf.created_at)}. ` + parts.join(" · ");
  calibrationChart(document.getElementById("perf-calibration"), perf.versions || []);
  versionsTable(perf.versions || []);
}

function versionsTable(versions) {
  const table = document.getElementById("perf-versions");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const v of versions) {
    const vs = v.versus_holdout || {};
    const row = document.createElement("tr");
    row.dataset.version = v.model_version;
    for (const cell of [`v${v.model_version}`, String(vs.rows ?? v.rows), fmt(vs.realised, 3),
      fmt(vs.holdout, 3), fmt(vs.out_of_time_holdout, 3), fmt(vs.gap, 3)]) {
      const td = document.createElement("td");
      td.textContent = cell;
      row.append(td);
    }
    if (v.dropped) row.className = "dropped";
    body.append(row);
  }
  table.hidden = versions.length === 0;
}

function renderShadow(shadow) {
  const rows = document.getElementById("shadow-rows");
  rows.replaceChildren();
  if (!shadow) return;
  const cmp = shadow.comparisons || [];
  document.getElementById("shadow-text").textContent =
    `${shadow.paired_requests} shadow predictions paired with the champion's; ${cmp.length} comparison(s) ` +
    `with rated titles; checked ${when(shadow.created_at)}.`;
  for (const c of cmp) {
    const d = (c.difference || {})[shadow.metric];
    const ci = d ? ` (${fmt(d.difference, 4)}, CI [${fmt(d.ci_low, 4)}, ${fmt(d.ci_high, 4)}])` : " (no interval yet)";
    const li = document.createElement("li");
    li.textContent =
      `shadow v${c.shadow_version} vs champion v${c.champion_version} on ${c.titles} labelled titles: ` +
      `ROC-AUC ${fmt(c.shadow.roc_auc, 3)} vs ${fmt(c.champion.roc_auc, 3)}, log loss ${fmt(c.shadow.loss, 3)} vs ` +
      `${fmt(c.champion.loss, 3)}; ${shadow.metric} difference${ci}`;
    rows.appendChild(li);
  }
}

async function refresh() {
  const minutes = document.getElementById("minutes").value;
  try {
    const res = await fetch(`/api/v1/monitoring/summary?minutes=${minutes}`, { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = (await res.json()).data;  // the API's envelope
    const t = body.traffic;
    document.getElementById("card-total").textContent = t.total;
    document.getElementById("card-p50").textContent = fmt(t.p50_latency_ms, 1, " ms");
    document.getElementById("card-p99").textContent = fmt(t.p99_latency_ms, 1, " ms");
    document.getElementById("card-like").textContent = fmt(t.like_rate === null ? null : t.like_rate * 100, 1, "%");
    document.getElementById("card-versions").textContent =
      Object.entries(t.model_versions).map(([v, n]) => `v${v}: ${n}`).join(", ") || "–";
    barChart(document.getElementById("chart-requests"), t.series, "count", "requests per minute");
    lineChart(document.getElementById("chart-latency"), t.series, ["p50_latency_ms", "p99_latency_ms"], "latency");
    lineChart(document.getElementById("chart-likes"), t.series, ["like_rate"], "like-rate", 1);
    renderDrift(body.drift);
    renderPerformance(body.performance);
    renderShadow(body.performance && body.performance.shadow);
    const problems = document.getElementById("problems");
    problems.hidden = !t.problems.length;
    problems.textContent = t.problems.join("\n");
    document.getElementById("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
    document.body.dataset.loaded = "true";
  } catch (err) {
    document.getElementById("updated").textContent = "could not load the summary: " + err.message;
  }
}

document.getElementById("minutes").addEventListener("change", refresh);
refresh();
setInterval(refresh, 10000);
