// Wallet investigator page: plain JavaScript, no build step, no network beyond this server.
// Every value from the API is put on the page as text (textContent), never as HTML: addresses,
// persona names and flag notes come from outside and must not become markup.
"use strict";

(function () {
  const KEY_STORAGE = "wallet_pipeline.api_key";
  const LEVELS = ["Critical", "High", "Medium", "Low", "Minimal"];
  // Same bounds as logic/graph/risk.py (RiskConfig defaults), used only when the API sends no level.
  const LEVEL_BOUNDS = [[90, "Critical"], [75, "High"], [60, "Medium"], [40, "Low"], [0, "Minimal"]];
  const LEVEL_COLOURS = {
    Critical: "#b3122e", High: "#e0571b", Medium: "#c99a00", Low: "#3a86c8", Minimal: "#2e8b57",
  };
  // Keyed by the persona model's own spellings (wallet_pipeline/logic/personas); the API sends
  // the whole vocabulary with /overview, and probabilities come named the same way.
  const PERSONA_COLOURS = {
    "Whale": "#6a3d9a",
    "Active Retail Trader": "#1f78b4",
    "NFT Trader": "#e7298a",
    "Deposit Forwarder": "#ff7f00",
    "Dormant Holder": "#a6761d",
    "Spoofed Sender": "#e31a1c",
    "Receive-only": "#66a61e",
    "Inactive": "#999999",
    "Contract": "#17becf",
    "High-Frequency Bot": "#d95f02",
    "Institutional / Exchange": "#1b9e77",
    "Airdrop Farmer": "#b15928",
    "Mixed": "#7f7f7f",
  };
  const SPARE_COLOURS = ["#1b9e77", "#7570b3", "#d95f02", "#b15928", "#8dd3c7", "#bc80bd", "#fb9a99"];
  const KNOWN_PERSONAS = Object.keys(PERSONA_COLOURS);
  // Cytoscape's force layout (cose) took 0.4 s for 53 wallets but 23 s for 876 in headless Chromium;
  // above this many, rings by degree (hubs in the middle) lay out at once.
  const FORCE_LAYOUT_MAX_NODES = 300;
  const LABEL_MAX_NODES = 40;
  // Above this many links a large cluster's drawing keeps each wallet's strongest link inside its
  // sub-cluster, then the strongest others up to the limit: 1,500 edges still pan smoothly on a
  // laptop; 6,000 made a blur. Links between sub-clusters are bundled, one line per pair.
  const EDGE_LIMIT = 1500;
  const SMALL_GROUP = 3; // sub-clusters smaller than this are drawn together as "small sub-clusters"
  // A hub has at least HUB_MIN_LINKS links and HUB_TIMES the cluster's median links per wallet:
  // drawn large and labelled. A ring whose wallets all have 10 links has no hub; a star's centre
  // is one. The wallets whose one link goes to a hub (the 871 senders around one victim of a
  // poisoning ring) are drawn round it without 871 spokes, which only painted the middle grey.
  const HUB_MIN_LINKS = 10;
  const HUB_TIMES = 5;

  const $ = (sel) => document.querySelector(sel);
  const state = { cluster: null, clusterQuery: "", cy: null, walletCluster: null };

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "style") node.style.cssText = value; // CSSOM, which the page's CSP allows
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  function num(v, digits) {
    if (v === null || v === undefined || v === "") return "–";
    const n = Number(v);
    if (!Number.isFinite(n)) return String(v);
    if (Number.isInteger(n) && digits === undefined) return n.toLocaleString("en-US");
    return n.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 4 : digits });
  }

  function pct(p) {
    const n = Number(p);
    return Number.isFinite(n) ? (n * 100).toFixed(1) + "%" : "–";
  }

  function when(v) {
    if (!v) return "–";
    return String(v).replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
  }

  function short(address) {
    const s = String(address || "");
    return s.length > 16 ? s.slice(0, 8) + "…" + s.slice(-6) : s;
  }

  function levelOf(level, score) {
    if (level && LEVELS.includes(level)) return level;
    const n = Number(score);
    if (!Number.isFinite(n)) return null;
    for (const [bound, name] of LEVEL_BOUNDS) if (n >= bound) return name;
    return "Minimal";
  }

  function levelBadge(level, score) {
    const name = levelOf(level, score);
    return el("span", { class: "lvl lvl-" + (name ? name.toLowerCase() : "unknown"), text: name || "unknown" });
  }

  function parseMaybeJson(v) {
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v);
    } catch (_) {
      return v;
    }
  }

  function hashColour(text) {
    let h = 0;
    for (const c of String(text)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return SPARE_COLOURS[h % SPARE_COLOURS.length];
  }

  function personaColour(name) {
    if (!name) return "#c4cad3";
    return PERSONA_COLOURS[name] || hashColour(name);
  }

  function setStatus(text, kind) {
    const box = clear($("#status"));
    if (text) box.append(el("span", { class: kind || "info", text }));
  }

  // ---------------------------------------------------------------- API access

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function showKeyState(kind) {
    const span = $("#key-state");
    span.classList.remove("ok", "bad");
    if (kind === "bad") {
      span.textContent = "Key refused";
      span.classList.add("bad");
    } else if (apiKey()) {
      span.textContent = "Key set for this tab";
      span.classList.add("ok");
    } else {
      span.textContent = "No key";
    }
  }

  function detailText(body, status) {
    const detail = body && (body.detail !== undefined ? body.detail : body.message);
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      // FastAPI validation errors: [{loc: [...], msg: "..."}]
      return detail.map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "query" && p !== "path" && p !== "body").join(".") : "";
        return (where ? where + ": " : "") + (d.msg || JSON.stringify(d));
      }).join("; ");
    }
    if (detail) return JSON.stringify(detail);
    return "HTTP " + status;
  }

  async function request(path, options) {
    const headers = Object.assign({ Accept: "application/json" }, (options && options.headers) || {});
    const key = apiKey();
    if (key) headers["X-API-Key"] = key;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (err) {
      throw new ApiError(0, "The server did not answer: " + err.message);
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (_) { /* not JSON */ }
      if (response.status === 401 || response.status === 403) {
        showKeyState("bad");
        throw new ApiError(response.status, key
          ? "The API key was refused: check it and enter it again above."
          : "This needs an API key: enter it above.");
      }
      throw new ApiError(response.status, detailText(body, response.status));
    }
    return response;
  }

  async function api(path, options) {
    const response = await request(path, options);
    if (response.status === 204) return null;
    return response.json();
  }

  function seg(text) {
    return encodeURIComponent(String(text));
  }

  function fail(err) {
    setStatus(err.message || String(err), "error");
    if (err.status === 401 || err.status === 403) $("#api-key").focus();
  }

  // ---------------------------------------------------------------- routing

  const VIEWS = ["analyze", "clusters", "cluster", "flags"];

  function show(view) {
    for (const v of VIEWS) $("#view-" + v).hidden = v !== view;
    const navName = view === "cluster" ? "clusters" : view;
    document.querySelectorAll("[data-nav]").forEach((a) => {
      if (a.dataset.nav === navName) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
  }

  function route() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [pathPart, query] = hash.split("?");
    const parts = pathPart.split("/");
    const head = parts[0] || "analyze";
    const rest = parts.slice(1).join("/");
    setStatus("");
    if (head === "clusters") {
      show("clusters");
      loadClusters(new URLSearchParams(query || ""));
    } else if (head === "cluster" && rest) {
      show("cluster");
      loadCluster(decodeURIComponent(rest));
    } else if (head === "flags") {
      show("flags");
      loadAllFlags();
    } else {
      show("analyze");
      if (rest) {
        $("#overview").hidden = true;
        const address = decodeURIComponent(rest);
        $("#address").value = address;
        analyze(address);
      } else {
        $("#analysis").hidden = true;
        loadOverview();
      }
    }
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ---------------------------------------------------------------- risk gauge

  function gauge(container, score, level, label) {
    clear(container);
    const value = Number(score);
    const name = levelOf(level, score);
    const cx = 110, cy = 112, r = 90;
    const point = (v, radius) => {
      const a = Math.PI * (1 - Math.max(0, Math.min(100, v)) / 100);
      return [cx + radius * Math.cos(a), cy - radius * Math.sin(a)];
    };
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 220 130");
    svg.setAttribute("aria-hidden", "true");
    const bands = [[0, 40, "Minimal"], [40, 60, "Low"], [60, 75, "Medium"], [75, 90, "High"], [90, 100, "Critical"]];
    for (const [from, to, band] of bands) {
      const [x1, y1] = point(from, r);
      const [x2, y2] = point(to, r);
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", `M ${x1} ${y1} A ${r} ${r} 0 0 1 ${x2} ${y2}`);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", LEVEL_COLOURS[band]);
      path.setAttribute("stroke-width", band === name ? "18" : "12");
      path.setAttribute("opacity", band === name ? "1" : "0.35");
      svg.append(path);
    }
    if (Number.isFinite(value)) {
      const [nx, ny] = point(value, r - 16);
      const needle = document.createElementNS(ns, "line");
      needle.setAttribute("x1", cx);
      needle.setAttribute("y1", cy);
      needle.setAttribute("x2", nx);
      needle.setAttribute("y2", ny);
      needle.setAttribute("stroke", "#1b1f24");
      needle.setAttribute("stroke-width", "3");
      needle.setAttribute("stroke-linecap", "round");
      svg.append(needle);
      const hub = document.createElementNS(ns, "circle");
      hub.setAttribute("cx", cx);
      hub.setAttribute("cy", cy);
      hub.setAttribute("r", "5");
      hub.setAttribute("fill", "#1b1f24");
      svg.append(hub);
    }
    const text = Number.isFinite(value) ? value.toFixed(1) : "–";
    container.setAttribute("role", "img");
    container.setAttribute("aria-label", `${label}: ${text} of 100, ${name || "no level"}`);
    container.dataset.score = Number.isFinite(value) ? String(value) : "";
    container.dataset.level = name || "";
    container.append(svg, el("div", { class: "score", text: text + " / 100" }), levelBadge(name, score));
  }

  function breakdownRows(tbody, breakdown) {
    clear(tbody);
    const data = parseMaybeJson(breakdown);
    if (!data || typeof data !== "object" || !Object.keys(data).length) {
      tbody.append(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No breakdown" })));
      return;
    }
    let total = 0;
    for (const [factor, raw] of Object.entries(data)) {
      const f = raw && typeof raw === "object" ? raw : { value: raw };
      if (isNum(Number(f.points))) total += Number(f.points);
      tbody.append(el("tr", {},
        el("th", { scope: "row", text: factor.replace(/_/g, " ") }),
        el("td", { class: "num", text: num(f.value, 4) }),
        el("td", { class: "num", text: num(f.weight, 3) }),
        el("td", { class: "num", text: num(f.points, 1) }),
      ));
    }
    tbody.append(el("tr", {},
      el("th", { scope: "row", text: "total" }), el("td"), el("td"),
      el("td", { class: "num" }, el("strong", { text: num(total, 1) })),
    ));
  }

  // ---------------------------------------------------------------- analyze view

  function personaKey(name) {
    return String(name || "").toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
  }

  // The API keys probabilities by the p_<persona> column ("active_retail_trader"); show the name.
  const PERSONA_BY_KEY = Object.fromEntries(KNOWN_PERSONAS.map((p) => [personaKey(p), p]));
  function learnPersonas(names) {
    const list = $("#persona-names");
    for (const name of names || []) {
      PERSONA_BY_KEY[personaKey(name)] = name;
      if (![...list.options].some((o) => o.value === name)) list.append(el("option", { value: name }));
    }
  }

  // The API names probabilities as the persona model spells them; an older key is mapped to the
  // same spelling, never re-cased into a second one ("High frequency bot").
  function personaLabel(key) {
    return PERSONA_BY_KEY[personaKey(key)] || String(key);
  }

  function personaProbabilities(persona) {
    let probs = persona && persona.probabilities;
    if (!probs && persona) {
      probs = {};
      for (const [k, v] of Object.entries(persona)) if (k.startsWith("p_")) probs[k.slice(2)] = v;
    }
    return Object.entries(probs || {})
      .filter(([, p]) => p !== null && p !== undefined && Number.isFinite(Number(p)))
      .sort((a, b) => Number(b[1]) - Number(a[1]));
  }

  function renderPersona(persona) {
    const bars = clear($("#persona-bars"));
    $("#persona-name").textContent = (persona && persona.persona) || "No persona";
    $("#persona-confidence").textContent = persona && persona.confidence !== undefined && persona.confidence !== null
      ? "confidence " + pct(persona.confidence) : "";
    const probs = personaProbabilities(persona);
    if (!probs.length) {
      bars.append(el("li", { class: "muted", text: "The model gave no probabilities for this wallet." }));
      return;
    }
    const list = $("#persona-names");
    for (const [key, p] of probs) {
      const name = personaLabel(key);
      const width = Math.max(0, Math.min(100, Number(p) * 100));
      const isTop = persona && personaKey(key) === personaKey(persona.persona);
      bars.append(el("li", { class: isTop ? "top-persona" : null },
        el("span", { text: name }),
        el("span", { class: "track", role: "presentation" },
          el("span", { class: "fill", style: `width:${width.toFixed(1)}%;display:block` })),
        el("span", { class: "pct", text: pct(p) }),
      ));
      if (![...list.options].some((o) => o.value === name)) list.append(el("option", { value: name }));
    }
  }

  function renderWalletCluster(cluster) {
    const dl = clear($("#wallet-cluster"));
    const button = $("#open-wallet-cluster");
    state.walletCluster = cluster && cluster.cluster_id ? cluster.cluster_id : null;
    button.hidden = !state.walletCluster;
    if (!state.walletCluster) {
      dl.append(el("dt", { text: "Cluster" }), el("dd", { text: "Not in a cluster: no link to other wallets" }));
      return;
    }
    const facts = [
      ["Cluster", el("code", { text: cluster.cluster_id })],
      ["Sub-cluster", cluster.sub_cluster_id === null || cluster.sub_cluster_id === undefined ? "–" : String(cluster.sub_cluster_id)],
      ["Wallets", num(cluster.size)],
      ["Bridge wallet", cluster.is_bridge ? "yes" + (cluster.bridge_reason ? ` (${cluster.bridge_reason.replace(/_/g, " ")})` : "") : "no"],
      ["Cluster risk", el("span", {}, num(cluster.risk_score, 1) + " ", levelBadge(cluster.risk_level, cluster.risk_score))],
    ];
    for (const [k, v] of facts) dl.append(el("dt", { text: k }), el("dd", {}, v));
  }

  function renderEvidence(evidence) {
    const list = clear($("#evidence"));
    const hops = Array.isArray(evidence) ? evidence.slice() : [];
    hops.sort((a, b) => Number(a.hop) - Number(b.hop));
    if (!hops.length) {
      list.append(el("li", { class: "muted", text: "No evidence chain: the wallet is its cluster's anchor or is not clustered." }));
      return;
    }
    for (const h of hops) {
      const hashes = Array.isArray(h.evidence) ? h.evidence : parseMaybeJson(h.evidence);
      const hashList = el("ul", { class: "hashes", "aria-label": "Transactions" });
      for (const tx of Array.isArray(hashes) ? hashes : []) hashList.append(el("li", {}, el("code", { text: String(tx) })));
      list.append(el("li", { value: h.hop },
        el("div", { class: "hop-line" },
          el("code", { title: h.src, text: short(h.src) }),
          el("span", { "aria-hidden": "true", text: "→" }),
          el("span", { class: "sr-only", text: "to" }),
          el("code", { title: h.dst, text: short(h.dst) }),
          el("span", { class: "edge-type", text: h.edge_type || "link" }),
          el("span", { class: "muted", text: h.first_time ? "since " + when(h.first_time) : "" }),
        ),
        hashList.childElementCount ? hashList : el("p", { class: "help", text: "No transaction recorded for this hop." }),
      ));
    }
  }

  // An address the snapshot lacks is fetched from the source and given a persona only: it has
  // no cluster or risk until a pipeline run loads it.
  function renderLive(data) {
    const live = data.source && data.source !== "snapshot";
    $("#live-note").hidden = !live;
    const body = clear($("#live-features tbody"));
    if (!live) return;
    const reason = data.persona_reason ? " No persona: " + data.persona_reason + "." : "";
    $("#live-text").textContent = "Not in the published snapshot: fetched from the " + data.source +
      " source " + (data.computed_at ? when(data.computed_at) : "now") +
      ", features built by the pipeline's dbt models and scored by the promoted persona model. " +
      "Cluster and risk come with the next pipeline run that loads it." + reason;
    for (const [k, v] of Object.entries(data.features || {})) {
      body.append(el("tr", {}, el("th", { scope: "row", text: k }),
        el("td", { class: "num", text: v === null || v === undefined ? "–" : String(v) })));
    }
  }

  async function analyze(address) {
    const text = address.trim();
    $("#analysis").hidden = true;
    setStatus("Analyzing " + text + "…");
    try {
      const data = await api("/analyze/" + seg(text));
      const risk = data.wallet_risk || data.risk || {};
      // Membership (sub-cluster, bridge) and the cluster's own row may come apart or together.
      const membership = data.membership || {};
      const brief = data.cluster || {};
      const clusterId = membership.cluster_id ?? brief.cluster_id;
      const cluster = clusterId ? Object.assign({}, brief, membership, {
        cluster_id: clusterId,
        size: brief.size ?? membership.cluster_size,
        sub_cluster_id: membership.sub_cluster_id ?? brief.sub_cluster_id,
      }) : null;
      renderPersona(data.persona);
      gauge($("#risk-gauge"), risk.score ?? risk.risk_score, risk.level ?? risk.risk_level, "Wallet risk score");
      renderWalletCluster(cluster);
      breakdownRows($("#breakdown tbody"), risk.breakdown ?? risk.risk_breakdown);
      renderEvidence(data.evidence_chain ?? data.evidence);
      renderLive(data);
      $("#analysis").hidden = false;
      setStatus("Analysis of " + (data.checksum_address || data.address || text));
    } catch (err) {
      fail(err);
    }
  }

  // ---------------------------------------------------------------- landing view

  function tile(label, value, kind) {
    return el("div", { class: "tile" + (kind ? " " + kind : "") },
      el("span", { class: "value", text: num(value) }), el("span", { class: "label", text: label }));
  }

  function clusterRow(c) {
    const id = c.cluster_id ?? c.id;
    return el("tr", { "data-cluster": id },
      el("td", {}, el("a", { href: "#/cluster/" + seg(id), class: "mono", text: id })),
      el("td", { class: "num", text: num(c.size) }),
      el("td", { class: "num", text: num(c.risk_score, 1) }),
      el("td", {}, levelBadge(c.risk_level, c.risk_score)),
      el("td", { text: c.dominant_personas || "–" }),
      el("td", { text: when(c.last_active) }),
    );
  }

  function renderOverview(o) {
    learnPersonas(o.personas);
    $("#overview-snapshot").textContent = `Snapshot ${o.snapshot}` +
      (o.published_at ? `, published ${when(o.published_at)}` : "") +
      (o.newest_activity ? `; newest activity ${when(o.newest_activity)}` : "") + ".";
    const levels = o.clusters_by_risk_level || {};
    clear($("#overview-tiles")).append(
      tile("wallets", o.wallets),
      tile("wallets in clusters", o.wallets_clustered),
      tile("clusters", o.clusters),
      tile("Critical clusters", levels.Critical || 0, "critical"),
      tile("High clusters", levels.High || 0, "high"),
    );
    const tbody = clear($("#overview-levels tbody"));
    const wallets = o.wallets_by_risk_level || {};
    const scored = Math.max(1, Object.values(wallets).reduce((a, b) => a + Number(b || 0), 0));
    for (const level of LEVELS) {
      const share = Number(wallets[level] || 0) / scored;
      tbody.append(el("tr", {},
        el("th", { scope: "row" }, levelBadge(level)),
        el("td", { class: "num", text: num(levels[level] || 0) }),
        el("td", { class: "num", text: num(wallets[level] || 0) }),
        el("td", {},
          el("span", { class: "share", style: `width:${(share * 10).toFixed(2)}rem;background:${LEVEL_COLOURS[level]}` }),
          " " + pct(share)),
      ));
    }
    const bars = clear($("#overview-personas"));
    const byPersona = o.wallets_by_persona || [];
    const most = Math.max(1, ...byPersona.map((p) => Number(p.wallets)));
    for (const p of byPersona) {
      bars.append(el("li", {},
        el("span", {}, el("span", { class: "swatch", style: `background:${personaColour(p.persona)}` }), " " + p.persona),
        el("span", { class: "track", role: "presentation" },
          el("span", { class: "fill", style: `width:${(100 * Number(p.wallets) / most).toFixed(1)}%;display:block;background:${personaColour(p.persona)}` })),
        el("span", { class: "pct", text: num(p.wallets) }),
      ));
    }
    if (!byPersona.length) bars.append(el("li", { class: "muted", text: "No personas in this snapshot." }));
    const riskiest = clear($("#riskiest tbody"));
    for (const c of o.riskiest_clusters || []) riskiest.append(clusterRow(c));
    if (!(o.riskiest_clusters || []).length) {
      riskiest.append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No clusters in this snapshot." })));
    }
    const examples = clear($("#examples tbody"));
    for (const w of o.example_wallets || []) {
      examples.append(el("tr", {},
        el("td", {}, el("a", { href: "#/analyze/" + seg(w.address), class: "mono", text: w.address })),
        el("td", { text: w.persona || "–" }),
        el("td", { class: "num", text: num(w.risk_score, 1) }),
        el("td", {}, levelBadge(w.risk_level, w.risk_score)),
        el("td", { text: w.why }),
      ));
    }
    $("#overview").hidden = false;
  }

  async function loadOverview() {
    if (!apiKey()) return;
    const asked = location.hash;
    try {
      const data = await api("/overview");
      if (location.hash !== asked) return; // the investigator moved on meanwhile
      renderOverview(data);
      setStatus(`${num(data.wallets)} wallets and ${num(data.clusters)} clusters in the served snapshot`);
    } catch (err) {
      fail(err);
    }
  }

  // ---------------------------------------------------------------- cluster list

  const FILTERS = ["risk_min", "risk_level", "size", "active_within", "persona", "sort", "page_size"];

  function fillFilterForm(params) {
    const form = $("#filter-form");
    for (const name of FILTERS) {
      const field = form.elements[name];
      if (!field) continue;
      const value = params.get(name);
      if (name === "page_size") field.value = value || "25";
      else field.value = value || "";
    }
  }

  function filterQuery(page) {
    const form = $("#filter-form");
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = (form.elements[name].value || "").trim();
      if (value) params.set(name, value);
    }
    if (page && page > 1) params.set("page", String(page));
    return params;
  }

  async function loadClusters(params) {
    fillFilterForm(params);
    state.clusterQuery = params.toString();
    const tbody = clear($("#cluster-table tbody"));
    tbody.append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "Loading…" })));
    const query = new URLSearchParams(params);
    if (!query.get("page_size")) query.set("page_size", "25");
    try {
      const data = await api("/clusters" + (query.toString() ? "?" + query : ""));
      const items = Array.isArray(data) ? data : data.items || [];
      const total = Array.isArray(data) ? items.length : Number(data.total ?? items.length);
      const page = Number((data && data.page) || params.get("page") || 1);
      const size = Number((data && data.page_size) || query.get("page_size") || 25);
      clear(tbody);
      if (!items.length) {
        tbody.append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No cluster matches these filters." })));
      }
      for (const c of items) tbody.append(clusterRow(c));
      const pages = Math.max(1, Math.ceil(total / size));
      $("#cluster-caption").textContent = `${num(total)} cluster${total === 1 ? "" : "s"}`;
      const help = $("#active-help");
      help.textContent = data && data.newest_activity
        ? `"Active within" counts back from the snapshot's newest activity, ${when(data.newest_activity)}.` : "";
      $("#page-info").textContent = `Page ${page} of ${pages}`;
      $("#page-prev").disabled = page <= 1;
      $("#page-next").disabled = page >= pages;
      $("#page-prev").dataset.page = String(page - 1);
      $("#page-next").dataset.page = String(page + 1);
      setStatus(`${num(total)} clusters match`);
    } catch (err) {
      clear(tbody).append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "Could not load clusters." })));
      fail(err);
    }
  }

  // ---------------------------------------------------------------- cluster view

  const FACT_LABELS = {
    cluster_id: "Cluster", size: "Wallets", risk_score: "Risk score", risk_level: "Risk level",
    scam_rate: "Scam rate", reputation: "Median reputation", density: "Cohesion",
    known_scammers: "Known scammers", tokens_created: "Tokens created", scam_tokens: "Scam tokens",
    flagged_wallets: "Flagged wallets", first_seen: "First seen", last_active: "Last active",
    dominant_personas: "Dominant personas", sub_clusters: "Sub-clusters", bridge_wallets: "Bridge wallets",
  };
  const SKIP_FACTS = new Set([
    "risk_breakdown", "breakdown", "cluster_id", "risk_score", "risk_level", "members_shown", "dominant_personas",
  ]);

  function scalarFacts(obj) {
    const order = Object.keys(FACT_LABELS);
    const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
    return Object.entries(obj || {})
      .filter(([k, v]) => !SKIP_FACTS.has(k) && v !== null && v !== undefined && typeof v !== "object")
      .sort((a, b) => rank(a[0]) - rank(b[0]));
  }

  function renderClusterFacts(detail) {
    // GET /clusters/{id} puts the cluster's own row under "cluster"; accept it flat too.
    const row = [detail.cluster, detail.stats].find((v) => v && typeof v === "object") || {};
    const merged = Object.assign({}, detail, row);
    const score = merged.risk_score ?? (merged.risk && merged.risk.score);
    const level = merged.risk_level ?? (merged.risk && merged.risk.level);
    gauge($("#cluster-gauge"), score, level, "Cluster risk score");
    const dl = clear($("#cluster-facts"));
    for (const [k, v] of scalarFacts(merged)) {
      const label = FACT_LABELS[k] || k.replace(/_/g, " ");
      const shown = /time|seen|active|_at$/.test(k) ? when(v) : typeof v === "number" ? num(v, 4) : String(v);
      dl.append(el("dt", { text: label }), el("dd", { text: shown }));
    }
    const personas = $("#cluster-personas");
    clear(personas);
    if (merged.dominant_personas) personas.append(el("strong", { text: "Dominant personas: " }), merged.dominant_personas);
    const breakdown = merged.risk_breakdown ?? merged.breakdown ?? (merged.risk && merged.risk.breakdown);
    breakdownRows($("#cluster-breakdown tbody"), breakdown);
  }

  function genericTable(title, rows) {
    const cols = [];
    for (const r of rows.slice(0, 50)) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
    const table = el("table", { class: "data" },
      el("caption", { text: `${title} (${rows.length})` }),
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col", text: c.replace(/_/g, " ") })))));
    const body = el("tbody");
    for (const r of rows.slice(0, 50)) {
      body.append(el("tr", {}, cols.map((c) => {
        const v = r[c];
        const text = v === null || v === undefined ? "–"
          : Array.isArray(v) ? v.join(", ") || "–"
          : typeof v === "object" ? JSON.stringify(v)
          : /time|_at$|as_of|activity|seen/.test(c) ? when(v) : String(v);
        return el("td", { text });
      })));
    }
    table.append(body);
    if (rows.length > 50) table.append(el("tfoot", {}, el("tr", {}, el("td", { colspan: cols.length, class: "help", text: `first 50 of ${rows.length}; the export has all` }))));
    return table;
  }

  function renderClusterExtra(detail) {
    const box = clear($("#cluster-extra"));
    const skip = new Set(["wallets", "members", "cluster", "stats"]);
    for (const [k, v] of Object.entries(detail)) {
      if (skip.has(k)) continue;
      const value = parseMaybeJson(v);
      if (Array.isArray(value) && value.length) {
        const rows = value.map((r) => (r && typeof r === "object" ? r : { value: r }));
        box.append(genericTable(k.replace(/_/g, " "), rows));
      }
    }
    $("#cluster-extra-card").hidden = !box.childElementCount;
  }

  function memberRows(wallets) {
    const tbody = clear($("#members tbody"));
    if (!wallets.length) {
      tbody.append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No wallets listed" })));
      return;
    }
    const sorted = wallets.slice().sort((a, b) => Number(b.risk_score || 0) - Number(a.risk_score || 0));
    for (const w of sorted.slice(0, 200)) {
      const address = w.address ?? w.id;
      tbody.append(el("tr", {},
        el("td", {}, el("code", { text: address })),
        el("td", { text: w.persona || "–" }),
        el("td", { class: "num", text: num(w.risk_score, 1) }),
        el("td", {}, levelBadge(w.risk_level, w.risk_score)),
        el("td", { text: w.is_bridge ? "yes" : "" }),
        el("td", {}, el("button", {
          type: "button", class: "link", text: "Analyze",
          "aria-label": "Analyze wallet " + address,
          onclick: () => go("#/analyze/" + seg(address)),
        })),
      ));
    }
    if (sorted.length > 200) {
      tbody.append(el("tr", {}, el("td", { colspan: 6, class: "help", text: `200 riskiest of ${sorted.length} wallets shown; the export has all` })));
    }
  }

  function nodeInfo(data) {
    const box = clear($("#node-info"));
    if (!data) return;
    box.append(
      el("h4", { text: "Selected wallet" }),
      el("p", {}, el("code", { text: data.id })),
      el("p", {}, (data.persona || "no persona") + " · risk " + num(data.risk, 1) + " ",
        levelBadge(data.level, data.risk)),
      data.bridge ? el("p", { text: "Bridge wallet: links this cluster to another" }) : null,
      el("button", { type: "button", text: "Analyze this wallet", onclick: () => go("#/analyze/" + seg(data.id)) }),
    );
  }

  // A large cluster drawn readably: its sub-clusters as boxes packed around the busiest one, each
  // with its hubs (most links) in the middle and quieter wallets spiralling out; links inside a
  // sub-cluster sampled above EDGE_LIMIT, links between sub-clusters bundled into one line per pair.
  function groupedElements(nodes, edges, ids) {
    const degree = new Map();
    for (const e of edges) {
      for (const end of [String(e.source ?? e.src), String(e.target ?? e.dst)]) {
        degree.set(end, (degree.get(end) || 0) + 1);
      }
    }
    const sortedDegrees = nodes.map((n) => degree.get(String(n.id)) || 0).sort((a, b) => a - b);
    const median = sortedDegrees.length ? sortedDegrees[Math.floor(sortedDegrees.length / 2)] : 0;
    const hubMin = Math.max(HUB_MIN_LINKS, HUB_TIMES * median);
    const groupOf = new Map();
    const members = new Map();
    for (const n of nodes) {
      const g = n.sub_cluster_id === null || n.sub_cluster_id === undefined ? "none" : String(n.sub_cluster_id);
      if (!members.has(g)) members.set(g, []);
      members.get(g).push(n);
    }
    const small = [];
    for (const [g, list] of [...members]) {
      if (list.length < SMALL_GROUP || g === "none") {
        small.push(...list);
        members.delete(g);
      }
    }
    if (small.length) members.set("small", small);
    const groups = [...members].map(([g, list]) => {
      list.sort((a, b) => (degree.get(String(b.id)) || 0) - (degree.get(String(a.id)) || 0) || String(a.id).localeCompare(String(b.id)));
      for (const n of list) groupOf.set(String(n.id), g);
      const links = list.reduce((sum, n) => sum + (degree.get(String(n.id)) || 0), 0);
      // Sunflower spacing: wallet k sits at SPACING * sqrt(k); the disc's radius follows.
      return { g, list, links, radius: 14 * Math.sqrt(list.length) + 24 };
    });
    groups.sort((a, b) => b.links - a.links || b.list.length - a.list.length);
    // Pack the discs: the busiest at the centre, each next one at the first free spot of a spiral.
    const placed = [];
    for (const grp of groups) {
      let x = 0, y = 0;
      for (let t = 0; placed.length && t < 20000; t++) {
        const angle = t * 0.35, dist = 4 * t;
        x = dist * Math.cos(angle);
        y = dist * Math.sin(angle);
        // Boxes are squares around the discs: keep their corners apart too (radius * sqrt 2).
        if (placed.every((o) => Math.hypot(o.x - x, o.y - y) >= 1.42 * (o.radius + grp.radius) + 20)) break;
      }
      grp.x = x;
      grp.y = y;
      placed.push(grp);
    }
    const golden = Math.PI * (3 - Math.sqrt(5));
    const elements = [];
    for (const grp of groups) {
      const label = grp.g === "small" ? `small sub-clusters · ${grp.list.length} wallets`
        : `sub-cluster ${grp.g.length > 18 ? "…" + grp.g.slice(-8) : grp.g} · ${grp.list.length} wallets`;
      // Group boxes carry the fields the node style maps, so Cytoscape has no mapping to warn about.
      elements.push({
        group: "nodes",
        data: { id: "group:" + grp.g, label, isGroup: true, risk: 0, colour: "#eef2f7", border: "#b8c2ce" },
      });
      grp.list.forEach((n, k) => {
        const r = 14 * Math.sqrt(k + 0.5);
        elements.push({
          group: "nodes",
          data: Object.assign(nodeData(n, "group:" + grp.g), hubData(n, degree, hubMin)),
          position: { x: grp.x + r * Math.cos(k * golden), y: grp.y + r * Math.sin(k * golden) },
        });
      });
    }
    const inside = [];
    const between = new Map();
    let fanned = 0;
    const isLeafOfHub = (leaf, hub) => degree.get(leaf) === 1 && (degree.get(hub) || 0) >= hubMin;
    edges.forEach((e, i) => {
      const source = String(e.source ?? e.src);
      const target = String(e.target ?? e.dst);
      if (!ids.has(source) || !ids.has(target)) return;
      const a = groupOf.get(source), b = groupOf.get(target);
      if (a === b && (isLeafOfHub(source, target) || isLeafOfHub(target, source))) {
        fanned += 1;
      } else if (a === b) {
        inside.push({ i, source, target, type: e.edge_type || "", weight: Number(e.weight) || 0.5 });
      } else {
        const key = a < b ? a + "\u0000" + b : b + "\u0000" + a;
        if (!between.has(key)) between.set(key, { a: a < b ? a : b, b: a < b ? b : a, n: 0 });
        between.get(key).n += 1;
      }
    });
    let kept = inside;
    if (inside.length > EDGE_LIMIT) {
      // Each wallet's strongest link first, so no wallet looks unlinked; then the strongest rest.
      const byWeight = inside.slice().sort((x, y) => y.weight - x.weight || x.i - y.i);
      const chosen = new Set();
      const covered = new Set();
      for (const e of byWeight) {
        if (chosen.size >= EDGE_LIMIT) break;
        if (!covered.has(e.source) || !covered.has(e.target)) {
          chosen.add(e);
          covered.add(e.source);
          covered.add(e.target);
        }
      }
      for (const e of byWeight) {
        if (chosen.size >= EDGE_LIMIT) break;
        chosen.add(e);
      }
      kept = byWeight.filter((e) => chosen.has(e));
    }
    for (const e of kept) {
      elements.push({ group: "edges", data: { id: "e" + e.i, source: e.source, target: e.target, type: e.type, weight: e.weight } });
    }
    let bundledLinks = 0;
    for (const [key, bundle] of between) {
      bundledLinks += bundle.n;
      elements.push({
        group: "edges",
        data: { id: "bundle:" + key, source: "group:" + bundle.a, target: "group:" + bundle.b, n: bundle.n, weight: 1, label: String(bundle.n), isBundle: true },
      });
    }
    return {
      elements,
      groups: groups.length,
      inside: inside.length,
      kept: kept.length,
      bundles: between.size,
      bundledLinks,
      fanned,
    };
  }

  function hubData(n, degree, hubMin) {
    const links = degree.get(String(n.id)) || 0;
    return links >= hubMin ? { hub: true, hubLabel: `${short(n.id)} · ${num(links)} links` } : {};
  }

  function nodeData(n, parent) {
    const level = levelOf(n.risk_level, n.risk_score);
    return {
      id: String(n.id),
      parent: parent || undefined,
      label: short(n.id),
      persona: n.persona || null,
      risk: Number(n.risk_score) || 0,
      level,
      bridge: Boolean(n.is_bridge),
      colour: personaColour(n.persona),
      border: LEVEL_COLOURS[level] || "#8892a0",
    };
  }

  function renderGraph(graph) {
    const container = $("#network");
    if (state.cy) {
      state.cy.destroy();
      state.cy = null;
    }
    clear(container);
    nodeInfo(null);
    const nodes = (graph && graph.nodes) || [];
    const edges = (graph && graph.edges) || [];
    const note = $("#graph-note");
    note.textContent = `${num(nodes.length)} wallets, ${num(edges.length)} links. Click a wallet for its details; scroll to zoom.`;
    if (graph && (graph.truncated || graph.total_nodes > nodes.length)) {
      note.textContent += ` Showing ${num(nodes.length)} of ${num(graph.total_nodes)} wallets.`;
    }
    const legend = clear($("#persona-legend"));
    const seen = [...new Set(nodes.map((n) => n.persona || "no persona"))].sort();
    for (const p of seen) {
      legend.append(el("li", {}, el("span", { class: "swatch", style: `background:${personaColour(p === "no persona" ? null : p)}` }), p));
    }
    if (typeof window.cytoscape !== "function") {
      container.append(el("p", { class: "help", text: "The graph library did not load; the wallets are listed below." }));
      return;
    }
    const ids = new Set(nodes.map((n) => String(n.id)));
    const big = nodes.length > FORCE_LAYOUT_MAX_NODES;
    let elements = [];
    let grouped = null;
    if (big) {
      grouped = groupedElements(nodes, edges, ids);
      elements = grouped.elements;
      const boxes = grouped.groups === 1 ? "one box" : `${num(grouped.groups)} sub-cluster boxes, the busiest in the middle,`;
      const parts = [`Large cluster: ${num(nodes.length)} wallets drawn in ${boxes} with each box's hubs at its centre.`];
      if (grouped.fanned) {
        parts.push(`${num(grouped.fanned)} wallets whose only link is to a hub (a labelled large node) are drawn in its box without their own line.`);
      }
      if (grouped.kept < grouped.inside) {
        parts.push(`Showing ${num(grouped.kept)} of ${num(grouped.inside)} links inside sub-clusters (every wallet's strongest link, then the strongest others).`);
      } else if (grouped.inside) {
        parts.push(`Showing all ${num(grouped.inside)} ${grouped.fanned ? "other " : ""}links inside sub-clusters.`);
      }
      if (grouped.bundles) {
        parts.push(`${num(grouped.bundledLinks)} links between sub-clusters are drawn as ${num(grouped.bundles)} bundles labelled with their count.`);
      }
      parts.push(`All ${num(edges.length)} links are in the export.`);
      note.textContent = parts.join(" ");
    } else {
      for (const n of nodes) elements.push({ group: "nodes", data: nodeData(n) });
      edges.forEach((e, i) => {
        const source = String(e.source ?? e.src);
        const target = String(e.target ?? e.dst);
        if (!ids.has(source) || !ids.has(target)) return;
        elements.push({
          group: "edges",
          data: { id: "e" + i, source, target, type: e.edge_type || "", weight: Number(e.weight) || 0.5 },
        });
      });
    }
    state.cy = window.cytoscape({
      container,
      elements,
      style: [
        {
          selector: "node",
          style: {
            "background-color": "data(colour)",
            "border-color": "data(border)",
            "border-width": 3,
            // Smaller in a large cluster, so its links stay visible between the wallets.
            width: big ? "mapData(risk, 0, 100, 5, 12)" : "mapData(risk, 0, 100, 14, 42)",
            height: big ? "mapData(risk, 0, 100, 5, 12)" : "mapData(risk, 0, 100, 14, 42)",
            label: nodes.length <= LABEL_MAX_NODES ? "data(label)" : "",
            "font-size": 8,
            "text-valign": "bottom",
            "text-margin-y": 3,
            color: "#333",
          },
        },
        {
          selector: "node[?bridge]",
          style: { shape: "diamond", "border-style": "dashed", "border-width": 4 },
        },
        { selector: "node:selected", style: { "overlay-color": "#ffbf47", "overlay-opacity": 0.45, "overlay-padding": 6 } },
        {
          selector: "node[?hub]",
          style: {
            width: 26, height: 26, label: "data(hubLabel)", "font-size": 11, "font-weight": "bold",
            "text-valign": "bottom", "text-margin-y": 4, "text-background-color": "#ffffff",
            "text-background-opacity": 0.9, "text-background-padding": 2, "z-index": 10, "border-width": 3,
          },
        },
        {
          selector: "node[?isGroup]",
          style: {
            "background-color": "#eef2f7", "background-opacity": 0.6, "border-color": "#b8c2ce", "border-width": 1,
            shape: "round-rectangle", label: "data(label)", "font-size": 11, "text-valign": "top",
            "text-halign": "center", "text-margin-y": -4, color: "#3b4451", padding: 10,
          },
        },
        {
          selector: "edge",
          style: {
            width: "mapData(weight, 0, 1, 0.6, 3.5)",
            "line-color": "#9aa5b1",
            "curve-style": big ? "haystack" : "bezier",
            opacity: big ? 0.45 : 0.8,
          },
        },
        {
          selector: "edge[?isBundle]",
          style: {
            width: "mapData(n, 1, 200, 1.5, 12)", "line-color": "#5b6f8a", opacity: 0.55,
            "curve-style": "straight", label: "data(label)", "font-size": 10, color: "#1b1f24",
            "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 2,
          },
        },
      ],
      layout: big
        ? { name: "preset", fit: true, padding: 20 }
        : { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 8000, idealEdgeLength: () => 60 },
    });
    // The drawing, for the browser console and the browser tests (which check where hubs sit).
    window.__cy = state.cy;
    state.cy.on("tap", "node[!isGroup]", (evt) => nodeInfo(evt.target.data()));
    container.dataset.nodes = String(state.cy.nodes("[!isGroup]").length);
    container.dataset.edges = String(state.cy.edges("[!isBundle]").length);
    container.dataset.layout = big ? "grouped" : "force";
    if (grouped) {
      container.dataset.groups = String(grouped.groups);
      container.dataset.bundles = String(grouped.bundles);
      container.dataset.fanned = String(grouped.fanned);
      container.dataset.hubs = String(state.cy.nodes("[?hub]").length);
    }
  }

  async function loadCluster(id) {
    state.cluster = id;
    $("#cluster-title").textContent = "Cluster " + id;
    $("#back-to-list").href = "#/clusters" + (state.clusterQuery ? "?" + state.clusterQuery : "");
    $("#flag-result").textContent = "";
    delete $("#network").dataset.nodes;
    setStatus("Loading cluster " + id + "…");
    const base = "/clusters/" + seg(id);
    const [detail, graph] = await Promise.allSettled([api(base), api(base + "/graph")]);
    if (state.cluster !== id) return;
    if (detail.status === "rejected") {
      fail(detail.reason);
      return;
    }
    const d = detail.value || {};
    renderClusterFacts(d);
    renderClusterExtra(d);
    let wallets = d.wallets || d.members || [];
    if (graph.status === "fulfilled") {
      renderGraph(graph.value);
      const nodes = (graph.value && graph.value.nodes) || [];
      if (!wallets.length) wallets = nodes.map((n) => Object.assign({ address: n.id }, n));
      else {
        // Wallet rows from the detail may lack persona or bridge; the graph nodes have them.
        const byId = new Map(nodes.map((n) => [String(n.id), n]));
        wallets = wallets.map((w) => Object.assign({}, byId.get(String(w.address)) || {}, w));
      }
    } else {
      renderGraph({ nodes: [], edges: [] });
      $("#graph-note").textContent = "Network unavailable: " + graph.reason.message;
    }
    memberRows(wallets);
    setStatus("Cluster " + id);
    loadClusterFlags(id);
  }

  async function exportCluster(format) {
    const id = state.cluster;
    if (!id) return;
    setStatus(`Exporting ${format.toUpperCase()}…`);
    try {
      const response = await request(`/clusters/${seg(id)}/export?format=${seg(format)}`, { headers: { Accept: "*/*" } });
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
      const name = match ? decodeURIComponent(match[1]) : `cluster-${String(id).replace(/[^A-Za-z0-9_.-]/g, "_")}.${format}`;
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setStatus(`Exported ${name} (${num(blob.size)} bytes)`);
    } catch (err) {
      fail(err);
    }
  }

  // ---------------------------------------------------------------- flags

  function flagItems(data) {
    const items = Array.isArray(data) ? data : (data && (data.items || data.flags)) || [];
    // Newest first: the API lists them oldest first.
    const at = (f) => String(f.flagged_at || f.created_at || "");
    return items.slice().sort((x, y) => (at(x) < at(y) ? 1 : at(x) > at(y) ? -1 : 0));
  }

  function flagRow(f, withCluster) {
    const cells = [el("td", { text: when(f.flagged_at || f.created_at || f.at) })];
    if (withCluster) {
      cells.push(el("td", {}, el("a", { href: "#/cluster/" + seg(f.cluster_id), class: "mono", text: f.cluster_id })));
    }
    cells.push(el("td", { text: f.reason || "–" }), el("td", { text: f.note || "" }),
      el("td", { text: f.flagged_by || f.by || "–" }));
    return el("tr", {}, cells);
  }

  async function loadClusterFlags(id) {
    const tbody = clear($("#cluster-flags tbody"));
    try {
      const data = await api("/flags?cluster_id=" + seg(id));
      const mine = flagItems(data).filter((f) => f.cluster_id === undefined || String(f.cluster_id) === String(id));
      if (!mine.length) tbody.append(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No flags yet" })));
      for (const f of mine) tbody.append(flagRow(f, false));
    } catch (err) {
      tbody.append(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "Could not load flags: " + err.message })));
    }
  }

  async function submitFlag(event) {
    event.preventDefault();
    const id = state.cluster;
    const form = event.target;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const result = $("#flag-result");
    result.textContent = "Sending…";
    try {
      const body = { reason: form.elements.reason.value, note: form.elements.note.value.trim() };
      const flag = await api(`/clusters/${seg(id)}/flags`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const by = flag && (flag.flagged_by || flag.by);
      result.textContent = `Flag recorded: ${body.reason.replace(/_/g, " ")}` + (by ? ` by ${by}` : "");
      form.elements.note.value = "";
      await loadClusterFlags(id);
    } catch (err) {
      result.textContent = "Flag not recorded: " + err.message;
      if (err.status === 401 || err.status === 403) $("#api-key").focus();
    } finally {
      button.disabled = false;
    }
  }

  async function loadAllFlags() {
    const tbody = clear($("#all-flags tbody"));
    try {
      const items = flagItems(await api("/flags"));
      if (!items.length) tbody.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "No flags yet" })));
      for (const f of items) tbody.append(flagRow(f, true));
      setStatus(`${num(items.length)} flags`);
    } catch (err) {
      tbody.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "Could not load flags." })));
      fail(err);
    }
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    const datalist = $("#persona-names");
    for (const p of KNOWN_PERSONAS) datalist.append(el("option", { value: p }));

    $("#key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("#api-key").value.trim();
      if (value) sessionStorage.setItem(KEY_STORAGE, value);
      $("#api-key").value = "";
      showKeyState();
      setStatus(value ? "API key saved for this browser tab." : "Enter a key first.", value ? "info" : "error");
      if (value) route();
    });
    $("#key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyState();
      setStatus("API key forgotten.");
    });
    $("#analyze-form").addEventListener("submit", (event) => {
      event.preventDefault();
      go("#/analyze/" + seg($("#address").value.trim()));
    });
    $("#open-wallet-cluster").addEventListener("click", () => {
      if (state.walletCluster) go("#/cluster/" + seg(state.walletCluster));
    });
    $("#filter-form").addEventListener("submit", (event) => {
      event.preventDefault();
      go("#/clusters" + (filterQuery(1).toString() ? "?" + filterQuery(1) : ""));
    });
    $("#filter-form").addEventListener("reset", () => setTimeout(() => go("#/clusters"), 0));
    for (const id of ["#page-prev", "#page-next"]) {
      $(id).addEventListener("click", (event) => {
        const page = Number(event.currentTarget.dataset.page) || 1;
        const params = filterQuery(page);
        go("#/clusters" + (params.toString() ? "?" + params : ""));
      });
    }
    document.querySelectorAll("[data-export]").forEach((b) => {
      b.addEventListener("click", () => exportCluster(b.dataset.export));
    });
    $("#flag-form").addEventListener("submit", submitFlag);
    window.addEventListener("hashchange", route);
    showKeyState();
    route();
    if (!apiKey()) {
      setStatus("Enter your API key above to start.");
      $("#api-key").focus();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
