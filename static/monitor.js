// The HR live monitoring panel (/monitor): one card per live interview, fed by /ws/monitor.
//
// Data flow: websocket message -> the card's model (plain fields) -> the card is marked dirty
// for the parts that changed -> one requestAnimationFrame redraws only those parts. Many
// events between two frames cost one redraw; nothing is drawn while the tab is hidden.
// Controls go to the JSON API with the session's CSRF token (from #monitor-config).
// Everything shown comes from the server as text (textContent only, never HTML).
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("monitor-config").textContent);
  // The page's words in its language: the server puts this page's translations in #candor-i18n
  // (server/i18n.py); a string without one stays as written. %(name)s is filled from `values`.
  const i18nNode = document.getElementById("candor-i18n");
  const MESSAGES = JSON.parse((i18nNode && i18nNode.textContent) || "{}");
  const _ = (msgid, values) => {
    const text = MESSAGES[msgid] || msgid;
    return values ? text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m)) : text;
  };
  const LABELS = Object.assign({
    invited: _("Invited"), consented: _("Consented"), connecting: _("Connecting"), live: _("Live now"),
    paused: _("Paused"), interrupted: _("Connection lost"), abandoned: _("Abandoned"), expired: _("Expired"),
    completed: _("Completed"),
  }, config.state_labels || {});
  // Card order: what needs HR's attention first.
  const RANK = { interrupted: 0, live: 1, paused: 2, connecting: 3, consented: 4, invited: 5 };
  // The state sets come from the server (server/interview_machine.py), defined there once.
  const STATES = config.states || {};
  const FINISHED = new Set(STATES.finished || []);
  const MEDIA_STATES = new Set(STATES.holds_media || []);
  const TRANSCRIPT_KEEP = 20; // finals kept per interview
  const TRANSCRIPT_SHOWN = 5; // finals shown
  const HISTORY_KEEP = 120; // score points kept per dimension (about 2 minutes at 1/s)
  const SPARK_POINTS = 60;
  const STALE_MEDIA_S = 3; // "last audio/video seen" turns red after this
  const CONNECT_WARN_S = 15; // connecting longer than this is a warning on the card
  const INTERVENTIONS_SHOWN = 10;
  const query = new URLSearchParams(location.search);
  const LINGER_MS = 1000 * Number(query.get("linger") || config.finished_linger_s || 60);
  const THUMB_MS = 1000 * Number(config.thumbnail_every_s || 1);

  const list = document.getElementById("mon-cards");
  const root = document.getElementById("monitor");
  const empty = document.getElementById("mon-empty");
  const feedStatus = document.getElementById("feed-status");
  const announcer = document.getElementById("mon-announcer");
  const template = document.getElementById("mon-card-template");

  const cards = new Map(); // interview id -> Card
  const stats = { events: 0, snapshots: 0, renders: 0, cardRenders: 0, connects: 0, closes: [], retries: [], feed: "connecting" };
  const dirty = new Set();
  let frame = 0;
  let orderDirty = false;

  // --- formatting ---------------------------------------------------------------------------

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const pct = (v) => (isNum(v) ? Math.round(v * 100) + "%" : "—");
  function clock(s) {
    if (!isNum(s)) return "—";
    s = Math.max(0, Math.round(s));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function ago(s) {
    if (!isNum(s)) return "—";
    return s < 10 ? _("%(time)s s ago", { time: s.toFixed(1) }) : _("%(time)s ago", { time: clock(s) });
  }
  function timeOf(ts) {
    if (!isNum(ts)) return "";
    // 24-hour, in the viewer's time zone like every other time on the HR pages.
    const d = new Date(ts * 1000);
    const zone = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { timeZoneName: "short" }).formatToParts(d)
      .find((p) => p.type === "timeZoneName");
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":") +
      (zone ? " " + zone.value : "");
  }
  function setText(el, text) {
    text = text == null ? "" : String(text);
    if (el.textContent !== text) el.textContent = text;
  }
  function toggle(el, cls, on) {
    if (el.classList.contains(cls) !== on) el.classList.toggle(cls, on);
  }

  // --- one interview ------------------------------------------------------------------------

  class Card {
    constructor(id) {
      this.id = id;
      this.d = { interview_id: id, candidate: null, job_title: null, state: null, reason: null, code: null, consent: null,
                 question_index: null, question_count: null, answered: null, elapsed_s: null, time_limit_s: null };
      this.questionText = null;
      this.questionTextIndex = null;
      this.progressAt = performance.now();
      this.stateSince = Date.now();
      this.transcript = [];
      this.partial = null;
      this.signals = null;
      this.scores = null;
      this.history = new Map(); // dimension_id -> [{t, score}]
      this.conn = null;
      this.connAt = 0;
      this.connTs = null;
      this.analysedFps = null;
      this.connectFailed = false; // media failed to connect and has not been live since
      this.connectFailReason = ""; // the server's words for why (its likely cause)
      this.interventions = [];
      this.lastSeq = null;
      this.busy = false;
      this.error = null;
      this.done = "";
      this.removeTimer = 0;
      this.thumbLoading = false;
      this.thumbOk = false;
      this.visible = true;
      this.detailFetched = false;

      const el = template.content.firstElementChild.cloneNode(true);
      el.id = "interview-" + id;
      el.dataset.interviewId = String(id);
      this.el = el;
      this.p = {};
      for (const part of el.querySelectorAll("[data-part]")) this.p[part.dataset.part] = part;
      this.sig = {};
      for (const dd of el.querySelectorAll("[data-signal]")) this.sig[dd.dataset.signal] = dd;
      this.cn = {};
      for (const dd of el.querySelectorAll("[data-conn]")) this.cn[dd.dataset.conn] = dd;
      this.buttons = {};
      for (const b of el.querySelectorAll("button[data-action]")) {
        this.buttons[b.dataset.action] = b;
        b.addEventListener("click", () => onAction(this, b.dataset.action, b));
      }
      this.scoreRows = new Map(); // dimension_id -> {li, fill, value, line}
      this.transcriptItems = [];
      for (let i = 0; i < TRANSCRIPT_SHOWN; i++) {
        const li = document.createElement("li");
        li.className = "mon-line-final";
        li.hidden = true;
        this.p.transcript.appendChild(li);
        this.transcriptItems.push(li);
      }
      this.p.thumb.addEventListener("load", () => {
        this.thumbLoading = false;
        this.thumbOk = true;
        this.p.thumb.hidden = false;
        this.p["thumb-placeholder"].hidden = true;
        this.el.classList.remove("mon-thumb-stale");
      });
      this.p.thumb.addEventListener("error", () => {
        this.thumbLoading = false;
        if (this.thumbOk) {
          this.el.classList.add("mon-thumb-stale"); // keep the last picture, marked old
        } else {
          this.p.thumb.hidden = true;
          this.p["thumb-placeholder"].hidden = false;
        }
      });
    }

    get name() { return this.d.candidate || _("Interview %(id)s", { id: this.id }); }
    get state() { return this.d.state || "connecting"; }
    get finished() { return FINISHED.has(this.state); }

    // The full description (snapshot entry, or a `session` event's `interview`).
    describe(d) {
      const prevState = this.d.state;
      for (const key of Object.keys(this.d)) if (key in d && key !== "interview_id") this.d[key] = d[key];
      if ("question_text" in d) { this.questionText = d.question_text; this.questionTextIndex = d.question_index; }
      if (d.code === "connect_timeout") { this.connectFailed = true; this.connectFailReason = d.reason || ""; }
      this.progressAt = performance.now();
      if (d.state !== prevState) {
        this.stateSince = Date.now() - 1000 * (isNum(d.interrupted_for_s) ? d.interrupted_for_s : 0);
      }
      if (Array.isArray(d.transcript)) this.transcript = d.transcript.filter((l) => l && l.text).slice(-TRANSCRIPT_KEEP);
      if ("partial" in d) this.partial = d.partial || null;
      if (d.signals) this.signals = d.signals;
      if (Array.isArray(d.scores)) this.setScores(d.scores, Date.now());
      if (d.connection) { this.conn = d.connection; this.connAt = performance.now(); }
      if (Array.isArray(d.interventions)) this.interventions = d.interventions.slice();
      this.lastSeq = null;
      if (this.finished) this.finish(); else this.unfinish();
      mark(this, "head", "progress", "clock", "transcript", "signals", "scores", "conn", "interventions", "controls");
    }

    setScores(scores, t) {
      this.scores = scores;
      for (const s of scores) {
        if (!isNum(s.score)) continue;
        let h = this.history.get(s.dimension_id);
        if (!h) this.history.set(s.dimension_id, (h = []));
        const last = h[h.length - 1];
        // At most one point a second: a burst of score events is one point.
        if (last && t - last.t < 900) last.score = s.score;
        else h.push({ t, score: s.score });
        if (h.length > HISTORY_KEEP) h.splice(0, h.length - HISTORY_KEEP);
      }
    }

    finish() {
      if (this.removeTimer) return;
      this.el.classList.add("mon-finished");
      this.removeTimer = setTimeout(() => removeCard(this.id), LINGER_MS);
    }

    unfinish() {
      if (!this.removeTimer) return;
      clearTimeout(this.removeTimer);
      this.removeTimer = 0;
      this.el.classList.remove("mon-finished");
    }

    elapsed() {
      let e = this.d.elapsed_s;
      if (!isNum(e)) return null;
      if (this.state === "live") e += (performance.now() - this.progressAt) / 1000; // counts between updates
      return isNum(this.d.time_limit_s) && this.d.time_limit_s > 0 ? Math.min(e, this.d.time_limit_s) : e;
    }

    mediaAge(field) {
      const c = this.conn;
      if (!c || !isNum(c[field])) return null;
      return c[field] + (this.state === "live" || this.state === "interrupted" ? (performance.now() - this.connAt) / 1000 : 0);
    }

    // --- drawing (only the parts marked dirty) --------------------------------------------

    render(parts) {
      stats.cardRenders++;
      if (parts.has("head")) this.renderHead();
      if (parts.has("progress")) this.renderProgress();
      if (parts.has("progress") || parts.has("clock")) this.renderClock();
      if (parts.has("transcript")) this.renderTranscript();
      if (parts.has("signals")) this.renderSignals();
      if (parts.has("scores")) this.renderScores();
      if (parts.has("conn") || parts.has("clock")) this.renderConn();
      if (parts.has("interventions")) this.renderInterventions();
      if (parts.has("controls") || parts.has("head")) this.renderControls();
    }

    renderHead() {
      const state = this.state;
      const el = this.el;
      if (el.dataset.state !== state) el.dataset.state = state;
      setText(this.p.candidate, this.name);
      setText(this.p.job, this.d.job_title || "");
      const badge = this.p.state;
      setText(badge, LABELS[state] || state);
      const cls = "state state-" + state;
      if (badge.className !== cls) badge.className = cls;
      setText(this.p.reason, this.d.reason || "");
      this.p.human.hidden = this.d.consent !== false;
      toggle(el, "mon-human-only", this.d.consent === false); // no analysis: no signals or scores to show
      // A completed interview leads to its report (HR reviews it there).
      const report = this.p.report;
      report.hidden = state !== "completed";
      if (state === "completed" && report.getAttribute("href") !== "/interviews/" + this.id + "/report") {
        report.setAttribute("href", "/interviews/" + this.id + "/report");
      }
      el.setAttribute("aria-label", this.name + (this.d.job_title ? ", " + this.d.job_title : "") + ": " + (LABELS[state] || state));
      this.p.controls.setAttribute("aria-label", _("Controls for %(name)s", { name: this.name }));
    }

    renderProgress() {
      const d = this.d;
      const count = isNum(d.question_count) ? d.question_count : null;
      const index = isNum(d.question_index) ? d.question_index : null;
      setText(this.p.question, index === null ? _("Not started") :
        count !== null && index >= count ? _("All questions done") :
        count !== null ? _("Question %(n)s of %(count)s", { n: index + 1, count }) : _("Question %(n)s", { n: index + 1 }));
      setText(this.p.answered, _("%(answered)s/%(count)s answered", { answered: isNum(d.answered) ? d.answered : 0, count: count ?? "?" }));
      const text = this.questionTextIndex === index ? this.questionText : null;
      setText(this.p["question-text"], text || "");
    }

    renderClock() {
      const limit = this.d.time_limit_s;
      const elapsed = this.elapsed();
      setText(this.p.time, clock(elapsed) + " / " + clock(limit));
      const bar = this.p["time-bar"];
      const frac = isNum(elapsed) && isNum(limit) && limit > 0 ? Math.min(1, elapsed / limit) : 0;
      const width = (frac * 100).toFixed(1) + "%";
      if (this.p["time-fill"].style.width !== width) this.p["time-fill"].style.width = width;
      toggle(bar, "mon-time-late", frac >= 0.8);
      if (isNum(limit)) bar.setAttribute("aria-valuemax", String(Math.round(limit)));
      bar.setAttribute("aria-valuenow", String(Math.round(elapsed || 0)));
      bar.setAttribute("aria-valuetext", _("%(used)s of %(limit)s", { used: clock(elapsed), limit: clock(limit) }));
      // Interrupted: said loudly, with the reason and how long ago. Media that does not connect
      // (still connecting after a while, or the server gave up) is a warning with what to do.
      const alert = this.p.alert;
      const since = (Date.now() - this.stateSince) / 1000;
      let warning = null;
      if (this.state === "interrupted") {
        warning = this.d.reason ? _("Connection lost %(time)s ago: %(reason)s", { time: clock(since), reason: this.d.reason })
          : _("Connection lost %(time)s ago", { time: clock(since) });
      } else if ((this.state === "connecting" || this.state === "consented") && this.connectFailed) {
        // It failed before and has not been live since: say so through the retries.
        warning = this.connectFailReason
          ? _("Camera and microphone could not connect (%(reason)s); the candidate’s page keeps retrying (they are told to try another network or browser).", { reason: this.connectFailReason })
          : _("Camera and microphone could not connect; the candidate’s page keeps retrying (they are told to try another network or browser).");
      } else if (this.state === "connecting" && since >= CONNECT_WARN_S) {
        warning = _("Camera and microphone not connected after %(time)s: the candidate’s network may block the media (they are told to try another network or browser).", { time: clock(since) });
      }
      toggle(alert, "mon-alert-warn", warning !== null && this.state !== "interrupted");
      if (warning !== null) {
        setText(alert, warning);
        if (alert.hidden) alert.hidden = false;
      } else if (!alert.hidden) {
        alert.hidden = true;
      }
    }

    renderTranscript() {
      const lines = this.transcript.slice(-TRANSCRIPT_SHOWN);
      this.transcriptItems.forEach((li, i) => {
        const line = lines[i];
        if (!line) { if (!li.hidden) li.hidden = true; return; }
        li.hidden = false;
        setText(li, line.text);
        const qi = isNum(line.question_index) ? _("Question %(n)s", { n: line.question_index + 1 }) : "";
        if (li.title !== qi) li.title = qi;
      });
      setText(this.p.partial, this.partial || ""); // keeps its line, so the card does not jump
    }

    renderSignals() {
      const s = this.signals || {};
      for (const [name, dd] of Object.entries(this.sig)) {
        const v = s[name];
        let text;
        if (name === "speech_rate_wpm") text = isNum(v) ? _("%(n)s wpm", { n: Math.round(v) }) : "—";
        else if (name === "word_count") text = isNum(v) ? String(Math.round(v)) : "—";
        else text = pct(v);
        setText(dd, text);
      }
      toggle(this.sig.face_present_ratio, "mon-bad", isNum(s.face_present_ratio) && s.face_present_ratio < 0.5);
      const hits = Object.entries(s)
        .filter(([k, v]) => k.startsWith("keyword_hits:") && isNum(v) && v > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => k.slice(13) + " ×" + Math.round(v));
      setText(this.p.keywords, hits.length ? hits.join(", ") : _("none yet"));
      const multi = isNum(s.multiple_faces_ratio) && s.multiple_faces_ratio > 0.05;
      this.p.multi.hidden = !multi;
      if (multi) setText(this.p.multi, _("More than one face in %(pct)s of frames", { pct: pct(s.multiple_faces_ratio) }));
    }

    renderScores() {
      const scores = this.scores || [];
      this.p["no-scores"].hidden = scores.length > 0;
      const seen = new Set();
      for (const s of scores) {
        seen.add(s.dimension_id);
        let row = this.scoreRows.get(s.dimension_id);
        if (!row) row = this.addScoreRow(s.dimension_id);
        setText(row.name, s.name || _("Dimension %(id)s", { id: s.dimension_id }));
        const score = isNum(s.score) ? Math.max(0, Math.min(100, s.score)) : null;
        setText(row.value, score === null ? "—" : String(Math.round(score)));
        const width = (score ?? 0).toFixed(1) + "%";
        if (row.fill.style.width !== width) row.fill.style.width = width;
        const h = (this.history.get(s.dimension_id) || []).slice(-SPARK_POINTS);
        const step = h.length > 1 ? 60 / (h.length - 1) : 0;
        const points = h.map((p, i) => (i * step).toFixed(1) + "," + (18 - (p.score / 100) * 16).toFixed(1)).join(" ");
        if (row.line.getAttribute("points") !== points) row.line.setAttribute("points", points);
      }
      for (const [id, row] of this.scoreRows) {
        if (!seen.has(id)) { row.li.remove(); this.scoreRows.delete(id); }
      }
    }

    addScoreRow(dimensionId) {
      const li = document.createElement("li");
      li.dataset.dimensionId = String(dimensionId);
      const name = document.createElement("span");
      name.className = "mon-score-name";
      const bar = document.createElement("span");
      bar.className = "mon-bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "mon-bar-fill";
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "mon-score-value";
      const NS = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(NS, "svg");
      svg.setAttribute("class", "mon-spark");
      svg.setAttribute("viewBox", "0 0 60 20");
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("aria-hidden", "true");
      const line = document.createElementNS(NS, "polyline");
      line.setAttribute("fill", "none");
      svg.appendChild(line);
      li.append(name, bar, value, svg);
      this.p.scores.appendChild(li);
      const row = { li, name, fill, value, line };
      this.scoreRows.set(dimensionId, row);
      return row;
    }

    renderConn() {
      const c = this.conn;
      const cn = this.cn;
      if (!c) {
        for (const dd of Object.values(cn)) setText(dd, "—");
        return;
      }
      const peer = c.peer_state || "?";
      setText(cn.link, peer + (c.ice_state ? " · ICE " + c.ice_state : ""));
      toggle(cn.link, "mon-bad", ["failed", "disconnected", "closed"].includes(c.peer_state) ||
        ["failed", "disconnected", "closed"].includes(c.ice_state));
      setText(cn.bitrate, isNum(c.bitrate_kbps) ? Math.round(c.bitrate_kbps) + " kbps" : "—");
      // packet_loss is a fraction (0-1) of packets lost.
      const loss = isNum(c.packet_loss) ? c.packet_loss : null;
      setText(cn.loss, (loss === null ? "—" : (loss * 100).toFixed(1) + "%") +
        (isNum(c.packets_lost) ? " (" + _("%(n)s lost", { n: c.packets_lost }) + ")" : ""));
      toggle(cn.loss, "mon-bad", loss !== null && loss > 0.05);
      // Only the newest frame is analysed (a few a second); the rest are skipped by design.
      setText(cn.frames, _("%(analysed)s analysed of %(received)s received", { analysed: c.frames_analysed ?? "—", received: c.frames_received ?? "—" }) +
        (this.analysedFps !== null ? " (" + this.analysedFps.toFixed(1) + "/s)" : "") +
        " · " + _("%(n)s skipped by design", { n: c.frames_dropped ?? "—" }) +
        // The process's frame budget: below the configured rate while speech recognition catches up.
        (isNum(c.analysis_fps_target) ? " · " + _("budget %(n)s/s", { n: c.analysis_fps_target.toFixed(1) }) : ""));
      const audioAge = this.mediaAge("last_audio_s_ago");
      const videoAge = this.mediaAge("last_video_s_ago");
      setText(cn.audio, _("last %(ago)s", { ago: ago(audioAge) }) + (isNum(c.audio_seconds) ? " · " + _("%(time)s total", { time: clock(c.audio_seconds) }) : ""));
      setText(cn.video, _("last %(ago)s", { ago: ago(videoAge) }) + (c.video_size ? " · " + (Array.isArray(c.video_size) ? c.video_size.join("×") : String(c.video_size).replace("x", "×")) : ""));
      toggle(cn.audio, "mon-bad", isNum(audioAge) && audioAge > STALE_MEDIA_S);
      toggle(cn.video, "mon-bad", isNum(videoAge) && videoAge > STALE_MEDIA_S);
      setText(cn.asr, isNum(c.asr_lag_s) ? c.asr_lag_s.toFixed(1) + " s" + (isNum(c.asr_rtf) ? " (RTF " + c.asr_rtf.toFixed(2) + ")" : "") : "—");
      toggle(cn.asr, "mon-bad", isNum(c.asr_lag_s) && c.asr_lag_s > STALE_MEDIA_S);
    }

    renderInterventions() {
      const ol = this.p.interventions;
      setText(this.p["intervention-count"], String(this.interventions.length));
      const latest = this.interventions[this.interventions.length - 1];
      setText(this.p["intervention-latest"], latest ? _("latest: %(what)s", { what: describeAction(latest) }) + (latest.note ? " “" + latest.note + "”" : "") : "");
      const items = this.interventions.slice(-INTERVENTIONS_SHOWN).reverse();
      ol.replaceChildren(...items.map((it) => {
        const li = document.createElement("li");
        li.dataset.action = it.action || "";
        const when = document.createElement("span");
        when.className = "muted small";
        when.textContent = timeOf(it.ts) + (it.user ? " · " + it.user : "");
        const what = document.createElement("strong");
        what.textContent = " " + describeAction(it);
        li.append(when, what);
        if (it.note) {
          const note = document.createElement("span");
          note.className = "mon-note";
          note.textContent = " “" + it.note + "”";
          li.appendChild(note);
        }
        return li;
      }));
    }

    renderControls() {
      const state = this.state;
      const b = this.buttons;
      const off = this.busy || this.finished;
      b.pause.hidden = state === "paused";
      b.resume.hidden = state !== "paused";
      b.pause.disabled = off || !["live", "connecting", "interrupted"].includes(state);
      b.resume.disabled = off;
      const running = MEDIA_STATES.has(state);
      for (const a of ["message", "extend", "skip", "redo", "end"]) b[a].disabled = off || !(running || a === "end" || a === "message");
      for (const a of Object.keys(b)) {
        const label = b[a].textContent + " (" + this.name + ")";
        if (b[a].getAttribute("aria-label") !== label) b[a].setAttribute("aria-label", label);
      }
      this.p.error.hidden = !this.error;
      setText(this.p.error, this.error || "");
      setText(this.p.done, this.done);
      this.el.setAttribute("aria-busy", this.busy ? "true" : "false");
    }
  }

  function describeAction(it) {
    switch (it.action) {
      case "pause": return _("Paused");
      case "resume": return _("Resumed");
      case "message": return _("Message");
      case "extend": return isNum(it.seconds) ? _("Extended by %(s)s s", { s: Math.round(it.seconds) }) : _("Extended");
      case "skip": return isNum(it.question_index) ? _("Skipped question %(n)s", { n: it.question_index + 1 }) : _("Skipped a question");
      case "redo": return isNum(it.question_index) ? _("Redo of question %(n)s", { n: it.question_index + 1 }) : _("Redo");
      case "end": return _("Ended the interview");
      default: return String(it.action || "Intervention");
    }
  }

  // --- the model and the frame -------------------------------------------------------------

  function mark(card, ...parts) {
    let set = card.dirtyParts;
    if (!set) set = card.dirtyParts = new Set();
    for (const p of parts) set.add(p);
    if (parts.includes("head")) orderDirty = true;
    dirty.add(card);
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    stats.renders++;
    for (const card of dirty) {
      const parts = card.dirtyParts;
      card.dirtyParts = null;
      if (parts && cards.get(card.id) === card) card.render(parts);
    }
    dirty.clear();
    if (orderDirty) reorder();
  }

  function sortKey(card) {
    return [card.finished ? 9 : (RANK[card.state] ?? 6), card.id];
  }

  function reorder() {
    orderDirty = false;
    const sorted = [...cards.values()].sort((a, b) => {
      const [ra, ia] = sortKey(a);
      const [rb, ib] = sortKey(b);
      return ra - rb || ia - ib;
    });
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    sorted.forEach((card, i) => {
      const at = list.children[i];
      if (at !== card.el) list.insertBefore(card.el, at || null);
    });
    if (focused && document.activeElement !== focused && document.contains(focused)) focused.focus({ preventScroll: true });
    empty.hidden = cards.size > 0 || root.dataset.loaded !== "true";
  }

  function cardFor(id, create) {
    let card = cards.get(id);
    if (!card && create) {
      card = new Card(id);
      cards.set(id, card);
      list.appendChild(card.el);
      if (observer) observer.observe(card.el);
      orderDirty = true;
    }
    return card;
  }

  function removeCard(id) {
    const card = cards.get(id);
    if (!card) return;
    cards.delete(id);
    if (observer) observer.unobserve(card.el);
    clearTimeout(card.removeTimer);
    card.el.remove();
    orderDirty = true;
    if (!frame) frame = requestAnimationFrame(render);
  }

  function announce(text) {
    // Re-set so the same words twice are announced twice.
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 30);
  }

  function stateChanged(card, state, reason, ts) {
    const previous = card.d.state;
    card.d.state = state;
    card.d.reason = reason ?? null;
    if (state !== previous) {
      card.stateSince = isNum(ts) ? Math.min(Date.now(), ts * 1000) : Date.now();
      if (previous !== null) announce(card.name + ": " + (LABELS[state] || state) + (reason ? ", " + reason : ""));
    }
    if (card.finished) card.finish(); else card.unfinish();
    if (state === "live") card.progressAt = performance.now();
    mark(card, "head", "clock", "controls");
  }

  // A card for an interview we had not heard of: fill its header from the API.
  async function fetchDetail(card) {
    if (card.detailFetched) return;
    card.detailFetched = true;
    try {
      const resp = await fetch("/api/interviews/" + card.id, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      const d = await resp.json();
      if (!card.d.candidate && d.candidate) card.d.candidate = d.candidate.name;
      if (!card.d.job_title && d.job) card.d.job_title = d.job.title;
      if (card.d.state === null && d.state) card.d.state = d.state;
      if (card.d.consent === null && typeof d.consent === "boolean") card.d.consent = d.consent;
      if (!isNum(card.d.question_count) && isNum(d.question_count)) card.d.question_count = d.question_count;
      if (!isNum(card.d.question_index) && isNum(d.question_index)) card.d.question_index = d.question_index;
      if (card.finished) card.finish();
      mark(card, "head", "progress", "controls");
    } catch (err) {
      // The events still fill the card.
    }
  }

  // Each analyser runs or fails on its own; say which is down (the interview goes on without it).
  function showAnalyzers(analyzers) {
    const box = document.getElementById("mon-analyzers");
    if (!box || !analyzers) return;
    const down = [];
    const vision = analyzers.vision || {};
    if (vision.status === "failed") down.push(_("Video analysis (face, eye contact, posture) is off: its models did not load."));
    for (const [lang, one] of Object.entries(analyzers.speech || {})) {
      if (one && one.status === "failed") down.push(_("Speech recognition for \"%(lang)s\" is off: its model did not load.", { lang }));
    }
    box.textContent = down.length ? down.join(" ") + " " + _("Interviews continue; ask the operator to run \"run.py models obtain\".") : "";
    box.hidden = !down.length;
    box.dataset.down = String(down.length);
  }

  function onSnapshot(msg) {
    stats.snapshots++;
    showAnalyzers(msg.analyzers);
    const seen = new Set();
    for (const d of msg.interviews || []) {
      const id = d.interview_id;
      if (!isNum(id)) continue;
      const known = cards.has(id);
      if (!known && FINISHED.has(d.state)) continue; // already over: nothing to watch
      seen.add(id);
      cardFor(id, true).describe(d);
    }
    // Gone while we were away (or finished): keep finished ones until they fade.
    for (const [id, card] of cards) if (!seen.has(id) && !card.finished) removeCard(id);
    root.dataset.loaded = "true";
    orderDirty = true;
    if (!frame) frame = requestAnimationFrame(render);
  }

  function onEvent(ev) {
    const id = ev.interview_id;
    if (!isNum(id)) return;
    if (ev.type === "session") {
      const what = ev.event || ev.action || ev.status;
      if (what === "closed") {
        const card = cards.get(id);
        if (card) {
          if (ev.state) stateChanged(card, ev.state, card.d.reason, ev.ts);
          card.finish();
          mark(card, "head", "controls");
        }
        return;
      }
      const card = cardFor(id, true);
      if (ev.interview) card.describe(ev.interview);
      else fetchDetail(card);
      return;
    }
    let card = cards.get(id);
    if (!card) {
      card = cardFor(id, true);
      fetchDetail(card);
    }
    if (isNum(ev.seq)) {
      if (card.lastSeq !== null && ev.seq <= card.lastSeq) return; // a duplicate
      card.lastSeq = ev.seq;
    }
    switch (ev.type) {
      case "state":
        card.d.code = ev.code || null;
        if (ev.code === "connect_timeout") { card.connectFailed = true; card.connectFailReason = ev.reason || ""; }
        if (ev.code === "consent_withdrawn") { card.d.consent = false; mark(card, "head"); } // human-only from now on
        if (ev.state === "live") card.connectFailed = false;
        stateChanged(card, ev.state, ev.reason, ev.ts);
        break;
      case "progress": {
        const d = card.d;
        const changed = ev.question_index !== d.question_index;
        for (const k of ["question_index", "question_count", "answered", "elapsed_s", "time_limit_s"]) if (k in ev) d[k] = ev[k];
        if ("question_text" in ev) { card.questionText = ev.question_text; card.questionTextIndex = ev.question_index; }
        if (changed) card.partial = null;
        card.progressAt = performance.now();
        mark(card, "progress", "clock", changed ? "transcript" : "progress");
        break;
      }
      case "transcript":
        if (ev.final) {
          if (ev.text) {
            card.transcript.push({ question_index: ev.question_index, text: ev.text, start_s: ev.start_s, end_s: ev.end_s });
            if (card.transcript.length > TRANSCRIPT_KEEP) card.transcript.splice(0, card.transcript.length - TRANSCRIPT_KEEP);
          }
          card.partial = null;
        } else {
          card.partial = ev.text || null;
        }
        mark(card, "transcript");
        break;
      case "signals":
        card.signals = ev.signals || {};
        mark(card, "signals");
        break;
      case "scores":
        card.setScores(ev.scores || [], Date.now());
        mark(card, "scores");
        break;
      case "connection": {
        const c = {};
        for (const [k, v] of Object.entries(ev)) if (!["type", "interview_id", "ts", "seq"].includes(k)) c[k] = v;
        // The analysed rate over the last two reports (event times, seconds).
        const prev = card.conn;
        if (prev && isNum(prev.frames_analysed) && isNum(c.frames_analysed) && isNum(card.connTs) && isNum(ev.ts) &&
            ev.ts > card.connTs) {
          card.analysedFps = Math.max(0, (c.frames_analysed - prev.frames_analysed) / (ev.ts - card.connTs));
        }
        card.connTs = ev.ts;
        card.conn = c;
        card.connAt = performance.now();
        mark(card, "conn");
        break;
      }
      case "intervention":
        card.interventions.push({ action: ev.action, note: ev.note, seconds: ev.seconds, user: ev.user,
                                  question_index: ev.question_index, ts: ev.ts });
        mark(card, "interventions");
        break;
      default:
        break;
    }
  }

  function onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch (err) { return; }
    if (!msg || typeof msg !== "object") return;
    stats.events++;
    if (msg.type === "snapshot") onSnapshot(msg);
    else onEvent(msg);
  }

  // --- the feed ------------------------------------------------------------------------------

  let ws = null;
  let failures = 0;
  let retryTimer = 0;

  function setFeed(state, text) {
    stats.feed = state;
    feedStatus.dataset.state = state;
    setText(feedStatus, text);
  }

  function connect() {
    retryTimer = 0;
    setFeed(failures ? "reconnecting" : "connecting", failures ? _("Reconnecting to the live feed…") : _("Connecting to the live feed…"));
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try {
      socket = new WebSocket(scheme + location.host + (config.ws_path || "/ws/monitor"));
    } catch (err) {
      scheduleReconnect(0, "");
      return;
    }
    ws = socket;
    stats.connects++;
    let gotSnapshot = false;
    socket.addEventListener("open", () => { if (ws === socket) setFeed("open", _("Live feed connected")); });
    socket.addEventListener("message", (m) => {
      if (ws !== socket) return;
      onMessage(m.data);
      if (!gotSnapshot && stats.snapshots > 0) { gotSnapshot = true; failures = 0; }
    });
    socket.addEventListener("close", (e) => {
      stats.closes.push({ code: e.code, reason: e.reason });
      if (stats.closes.length > 20) stats.closes.shift();
      if (ws !== socket) return;
      ws = null;
      scheduleReconnect(e.code, e.reason);
    });
  }

  function scheduleReconnect(code, reason) {
    if (retryTimer) return;
    failures++;
    // 1013 "too slow: reconnect": the server dropped us to catch up; come back quickly.
    const base = code === 1013 ? 250 : 500;
    const delay = Math.round(Math.min(15000, base * 2 ** Math.min(failures - 1, 6)) * (0.8 + Math.random() * 0.4));
    const seconds = Math.max(1, Math.round(delay / 1000));
    const why = code === 1013 ? _("The live feed fell behind; reconnecting in %(s)s s.", { s: seconds })
      : _("The live feed was interrupted; reconnecting in %(s)s s.", { s: seconds });
    const hint = failures >= 4 ? " " + _("If this goes on, reload the page or log in again.") : "";
    const text = why + hint;
    setFeed("reconnecting", text);
    stats.retries.push({ code, delay, text });
    if (stats.retries.length > 20) stats.retries.shift();
    retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener("pagehide", () => {
    if (ws) { const s = ws; ws = null; s.close(1000, "page closed"); }
  });

  // --- controls --------------------------------------------------------------------------------

  // A control that failed, in words, with why.
  const COULD_NOT = {
    pause: _("Could not pause: %(why)s"), resume: _("Could not resume: %(why)s"),
    message: _("Could not send the message: %(why)s"), extend: _("Could not extend: %(why)s"),
    skip: _("Could not skip: %(why)s"), redo: _("Could not redo: %(why)s"), end: _("Could not end: %(why)s"),
  };
  const couldNot = (action, why) => (COULD_NOT[action] || "%(why)s").replace("%(why)s", why);
  const ACTIONS = {
    pause: { title: _("Pause the interview"), submit: _("Pause"), path: "pause",
             help: _("The candidate sees that HR paused the interview; the question's timer stops."),
             note: _("Reason (optional)"), required: false, body: (note) => (note ? { reason: note } : {}) },
    message: { title: _("Send a message to the candidate"), submit: _("Send message"), path: "intervene",
               help: _("The candidate sees this message on their screen."),
               note: _("Message"), required: true, body: (note) => ({ action: "message", note }) },
    extend: { title: _("Give more time"), submit: _("Extend"), path: "intervene", seconds: true,
              help: _("Adds time to the current question."),
              note: _("Note (optional)"), required: false,
              body: (note, seconds) => ({ action: "extend", seconds, ...(note ? { note } : {}) }) },
    skip: { title: _("Skip the current question"), submit: _("Skip question"), path: "intervene",
            help: _("The question is marked skipped and the candidate moves on."),
            note: _("Reason"), required: true, body: (note) => ({ action: "skip", note }) },
    redo: { title: _("Redo the current question"), submit: _("Redo question"), path: "intervene",
            help: _("The candidate answers the question again; the earlier answer is set aside."),
            note: _("Reason"), required: true, body: (note) => ({ action: "redo", note }) },
    end: { title: _("End this interview now?"), submit: _("End interview"), path: "intervene", danger: true,
           help: _("This ends the interview for the candidate immediately. It cannot be undone."),
           note: _("Reason"), required: true, body: (note) => ({ action: "end", note }) },
  };

  const dialog = document.getElementById("action-dialog");
  const form = document.getElementById("action-form");
  const noteInput = document.getElementById("action-note");
  const secondsInput = document.getElementById("action-seconds");
  const dialogError = document.getElementById("action-error");
  const submitButton = document.getElementById("action-submit");
  let pending = null; // {card, action, opener}

  function onAction(card, action, button) {
    if (action === "resume") {
      send(card, "resume", "resume", {});
      return;
    }
    const spec = ACTIONS[action];
    pending = { card, action, opener: button };
    setText(document.getElementById("action-title"), spec.title);
    setText(document.getElementById("action-help"), card.name + (card.d.job_title ? " (" + card.d.job_title + ")" : "") + ". " + spec.help);
    setText(document.getElementById("action-note-label"), spec.note);
    setText(document.getElementById("action-note-hint"), spec.required ? _("Required. Kept with the interview's record.") : _("Kept with the interview's record."));
    noteInput.value = "";
    noteInput.required = spec.required;
    noteInput.removeAttribute("aria-invalid");
    document.getElementById("action-seconds-field").hidden = !spec.seconds;
    secondsInput.value = "60";
    submitButton.textContent = spec.submit;
    submitButton.classList.toggle("danger", !!spec.danger);
    submitButton.disabled = false;
    dialogError.hidden = true;
    dialog.dataset.action = action;
    dialog.dataset.interviewId = String(card.id);
    dialog.showModal();
    (spec.seconds ? secondsInput : noteInput).focus();
  }

  function closeDialog() {
    const opener = pending && pending.opener;
    pending = null;
    if (dialog.open) dialog.close();
    if (opener && document.contains(opener) && !opener.disabled && !opener.hidden) opener.focus();
  }

  document.getElementById("action-cancel").addEventListener("click", closeDialog);
  dialog.addEventListener("cancel", () => { pending = null; });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!pending) return;
    const { card, action } = pending;
    const spec = ACTIONS[action];
    const note = noteInput.value.trim();
    if (spec.required && !note) {
      showDialogError(_("%(field)s is required.", { field: spec.note }));
      noteInput.setAttribute("aria-invalid", "true");
      noteInput.focus();
      return;
    }
    let seconds = null;
    if (spec.seconds) {
      seconds = Number(secondsInput.value);
      if (!Number.isFinite(seconds) || seconds < 5 || seconds > 1800) {
        showDialogError(_("Extra time must be between 5 and 1800 seconds."));
        secondsInput.focus();
        return;
      }
    }
    submitButton.disabled = true;
    const ok = await send(card, action, spec.path, spec.body(note, seconds));
    submitButton.disabled = false;
    if (ok) closeDialog();
    else showDialogError(card.error || _("That did not work."));
  });

  function showDialogError(text) {
    dialogError.textContent = text;
    dialogError.hidden = false;
  }

  const DONE = { pause: _("Paused"), resume: _("Resumed"), message: _("Message sent"), extend: _("Time extended"),
                 skip: _("Question skipped"), redo: _("Question to be answered again"), end: _("Interview ended") };

  async function send(card, action, path, body) {
    card.busy = true;
    card.error = null;
    card.done = _("Sending…");
    mark(card, "controls");
    let ok = false;
    try {
      const resp = await fetch("/api/interviews/" + card.id + "/" + path, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": config.csrf_token },
        body: JSON.stringify(body),
      });
      let data = null;
      try { data = await resp.json(); } catch (err) { data = null; }
      if (resp.ok) {
        ok = true;
        card.done = DONE[action] + ".";
        if (data && typeof data.state === "string" && data.state !== card.d.state) stateChanged(card, data.state, card.d.reason, null);
      } else if (resp.status === 401) {
        card.error = _("Your session has ended. Log in again (reload the page) and retry.");
      } else {
        const message = data && data.error ? String(data.error) : _("the server answered %(status)s", { status: resp.status });
        card.error = couldNot(action, message.charAt(0).toLowerCase() + message.slice(1));
      }
    } catch (err) {
      card.error = couldNot(action, _("the server could not be reached. Check the connection and try again."));
    }
    if (!ok) card.done = "";
    card.busy = false;
    // Enabled again now, not at the next frame: the dialog's close hands focus back to the
    // button that opened it, and a still-disabled button cannot take it (keyboard users).
    card.renderControls();
    mark(card, "controls");
    return ok;
  }

  // --- clocks and thumbnails -------------------------------------------------------------------

  // Time used, "last seen Xs ago" and "lost for" move on their own between events.
  setInterval(() => {
    for (const card of cards.values()) {
      if (card.state === "live" || card.state === "interrupted" || card.state === "connecting" || card.conn) mark(card, "clock");
    }
  }, 500);

  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const e of entries) {
      const card = cards.get(Number(e.target.dataset.interviewId));
      if (card) card.visible = e.isIntersecting;
    }
  }) : null;

  function refreshThumbnails() {
    if (document.hidden) return;
    for (const card of cards.values()) {
      if (!card.visible || card.thumbLoading || !MEDIA_STATES.has(card.state)) continue;
      // No picture exists before the first video frame: do not ask (each ask would be a 404).
      const videoAge = card.mediaAge("last_video_s_ago");
      if (!isNum(videoAge) || videoAge > STALE_MEDIA_S) continue;
      card.thumbLoading = true;
      card.p.thumb.alt = _("Camera picture of %(name)s", { name: card.name });
      card.p.thumb.src = "/api/interviews/" + card.id + "/thumbnail.jpg?t=" + Date.now();
    }
  }
  setInterval(refreshThumbnails, THUMB_MS);

  // For tests and the curious: the model behind the cards.
  window.candorMonitor = {
    stats,
    ids: () => [...list.children].map((el) => Number(el.dataset.interviewId)),
    card: (id) => {
      const c = cards.get(id);
      return c && { ...c.d, question_text: c.questionText, transcript: c.transcript, partial: c.partial,
                    signals: c.signals, scores: c.scores, connection: c.conn, interventions: c.interventions,
                    history: Object.fromEntries([...c.history].map(([k, v]) => [k, v.map((p) => p.score)])) };
    },
    socket: () => ws,
  };

  connect();
})();
