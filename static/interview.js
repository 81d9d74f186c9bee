// The candidate's interview page (/i/{token}): consent, camera and microphone check, then the live
// interview over WebRTC (media) and a websocket (questions, captions, state). Plain ES2020, no
// build step. Protocol: DESIGN.md "Outside surface".
//
// For tests, window.candor holds the page's state (see the report in tests/test_candidate_page.py),
// document.body.dataset.state mirrors candor.state, and ?raw_audio=1 turns off the browser's
// echo cancellation, noise suppression and gain control (tests assert on what is transcribed).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("candor-config").textContent || "{}");
  // The page's words in its language: the server puts this page's translations in #candor-i18n
  // (server/i18n.py); a string without one stays as written. %(name)s is filled from `values`.
  const MESSAGES = JSON.parse(($("candor-i18n") || {}).textContent || "{}");
  const _ = (msgid, values) => {
    const text = MESSAGES[msgid] || msgid;
    return values ? text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m)) : text;
  };
  const token = decodeURIComponent(location.pathname.split("/")[2] || "");
  const base = `/i/${encodeURIComponent(token)}`;
  const params = new URLSearchParams(location.search);
  const rawAudio = params.get("raw_audio") === "1";

  const BACKOFF_S = [1, 2, 4, 8, 10];
  const ICE_GATHER_CAP_MS = 2000;
  const NEXT_LOCK_MS = 3000;
  const CAPTION_LINES = 4;
  const KEEP = 500; // bounded logs in window.candor
  // An answered offer gets this long to bring media before the page offers again on the
  // server's say-so (the server's "interrupted" may still be on its way for the old connection).
  const MEDIA_PATIENCE_MS = 3000;
  // ...and a connection still being set up (ICE, DTLS) gets this long before it is replaced.
  const NEGOTIATE_MS = 10000;
  // A passing remark in the status line (next question, connected again...) fades after this.
  const DETAIL_FADE_MS = 15000;

  // The state sets are defined once, by the server (server/interview_machine.py), and come in the
  // page's config: finished, holds_media, started, resumable.
  const STATE_SETS = config.states || {};
  const FINISHED = new Set(STATE_SETS.finished || []);
  const RESUMABLE = new Set(STATE_SETS.resumable || []);
  const HOLDS_MEDIA = new Set(STATE_SETS.holds_media || []);
  const TERMINAL = new Set(["finished", "closed", "error"]);

  // The page's own states, as the status line names them.
  const STATUS_TEXT = {
    connecting: _("Connecting…"),
    live: _("Live: you are being recorded"),
    paused: _("Paused by the interviewer: the timer has stopped"),
    reconnecting: _("Connection lost: reconnecting…"),
    finished: _("Finished"),
    closed: _("Not connected"),
    error: _("Cannot continue"),
  };

  // What the server's codes (server/interview_machine.py TEXT) mean to the candidate: the one place
  // that turns a code into words. The page never shows the server's own "reason" text (and never
  // anything but these words for a state change); "" says nothing beyond the status line.
  const CODE_TEXT = {
    joined: "",
    consented: "",
    connecting: "",
    live: "",
    next_question: "",
    time_up: _("The time for the last question ran out, so the next one started."),
    completed: _("All questions are done."),
    network_lost: _("The connection was lost. Your time for this question has stopped; the page reconnects by itself."),
    media_back: _("You are connected again: the same question continues."),
    paused_by_interviewer: _("The interviewer paused the interview. Please wait: it continues when they resume it."),
    resumed_by_interviewer: _("The interviewer resumed the interview."),
    resumed_waiting_for_media: _("The interviewer resumed the interview. Reconnecting your camera and microphone…"),
    skipped_by_interviewer: _("The interviewer moved on to the next question."),
    redo_by_interviewer: _("The interviewer asked you to answer this question again. Its time starts again."),
    ended_by_interviewer: _("The interviewer ended the interview. Your answers have been sent to the hiring team."),
    connect_timeout: _("Your camera and microphone could not reach the interview server. This is usually the network: a company or school network, a VPN or a firewall can block video calls. The page keeps trying by itself. If it does not connect, try another network (for example your phone's hotspot), another browser (a current Chrome, Edge, Firefox or Safari), or contact the company that invited you."),
    pause_timeout: _("The interview was paused for too long, so it was closed. Contact the company that invited you if you want to continue."),
    abandoned: _("No camera or microphone signal arrived for too long, so the interview was closed. Contact the company that invited you if you want to try again."),
    expired: _("The deadline for this interview has passed. Contact the company that invited you."),
    reopened: _("The interviewer reopened your interview. Reconnecting…"),
    server_restarted: _("The interview server restarted. The page reconnects by itself; the interview continues where it stopped."),
    opened_elsewhere: _("You opened the interview in another window or tab, so this one stopped. Continue there, or reload this page to continue here."),
    link_reissued: _("The company sent you a new link for this interview, so this one no longer works. Open the newest link you received."),
    capacity: _("The interview server is busy right now. Please keep this page open: it keeps trying by itself, and the interview starts as soon as there is room."),
    finished: _("This interview has ended. If you think this is a mistake, contact the company that invited you."),
    too_many_messages: _("This window sent too many messages, so its connection was reset. Reconnecting…"),
    not_reading: _("Your connection was too slow to keep up, so it was reset. Reconnecting…"),
    refused: "",
  };
  // Codes that are not state-machine codes (server/consent.py), in the same voice.
  const CONSENT_TEXT = {
    consent_withdrawn: _("You withdrew your consent: nothing more is analysed by AI. The interview continues, and a person reviews it."),
  };
  // Codes that need the candidate's attention (the alert above the interview), not a remark.
  const ALERT_CODES = new Set(["capacity", "connect_timeout", "too_many_messages", "not_reading"]);
  // Several problems may be known at once: the alert shows the most important one.
  const NOTICE_ORDER = ["track", "connect", "busy", "socket", "media", "server"];

  // Everything a test (or a curious developer) may read; the page never reads it back.
  const candor = {
    state: "consent", // consent | devices | connecting | live | paused | reconnecting | finished | closed | error
    serverState: config.state || null, // the last session state the server sent
    serverCode: null, // the last machine code the server sent (see CODE_TEXT)
    serverReason: null, // kept for debugging only: never shown
    consent: null,
    biometric: null, // the separate biometric consent (profiles that ask for it), else null
    noticeVersion: config.notice_version || null, // the version of the notice this page shows
    withdrawn: false, // the candidate withdrew their consent during the interview
    rawAudio,
    question: null, // the last {type:"question", ...} message
    remaining: null, // seconds left on the current question (counts down only while live)
    captions: [], // final caption texts, oldest first
    partial: "", // the current partial caption
    lastMessage: null, // the last message from the server, any type
    messages: [], // every message from the server (bounded)
    hrMessage: null, // the last {type:"message"} text
    sent: [], // every message sent on the websocket (bounded)
    pc: null, // the current RTCPeerConnection
    ws: null, // the current WebSocket
    stream: null, // the local camera + microphone stream (kept across reconnects)
    pcState: "new", // the current pc's connectionState
    wsOpen: false,
    level: 0, // microphone level, 0..1
    levelPeak: 0, // highest level seen since the device check began
    deviceError: null, // null | "missing" | "denied" | "in-use" | "unsupported" | "other"
    deviceErrorName: null, // the DOMException name
    offerError: null, // the last error from POST /offer
    route: null, // the server process a busy one sent this interview to (nginx's ?via=), or null
    offers: 0, // offers sent
    wsConnects: 0, // websockets opened
    reconnects: 0, // reconnect attempts (websocket or media)
    closedReason: null,
    notices: {}, // what the alert knows about now, by kind (see NOTICE_ORDER)
    events: [], // [{t, what}] for debugging
  };
  window.candor = candor;

  // Several server processes behind nginx: one without room names another that has room, and
  // this page's websocket and offers go there (`?via=NAME`) from then on, also after a reload.
  const ROUTE_KEY = `candor-route:${token}`;
  try { candor.route = sessionStorage.getItem(ROUTE_KEY); } catch (_) { /* storage blocked */ }

  function routed(path) {
    return candor.route ? `${path}?via=${encodeURIComponent(candor.route)}` : path;
  }

  // A socket through the route that does not open is tried again through it: the process a
  // full one named may answer 503 for a moment (the interview is still moving from the full
  // one). Only after ROUTE_MISSES such sockets in a row does the page go back to nginx's hash.
  const ROUTE_MISSES = 3;
  let routeMisses = 0;

  function setRoute(name) {
    routeMisses = 0;
    candor.route = name;
    try {
      if (name) sessionStorage.setItem(ROUTE_KEY, name); else sessionStorage.removeItem(ROUTE_KEY);
    } catch (_) { /* storage blocked: this page still keeps it */ }
  }

  const el = {
    notice: $("notice"),
    steps: {
      consent: $("step-consent"), devices: $("step-devices"), interview: $("step-interview"),
      finished: $("step-finished"), closed: $("step-closed"),
    },
    consentYes: $("consent-yes"), consentNo: $("consent-no"), consentSummary: $("consent-summary"),
    preview: $("preview"), deviceStatus: $("device-status"), deviceError: $("device-error"),
    deviceErrorText: $("device-error-text"), retry: $("device-retry"), meter: $("mic-meter"),
    meterBar: $("mic-meter-bar"), join: $("join"),
    status: $("status"), statusText: $("status-text"), statusDetail: $("status-detail"), hrMessage: $("hr-message"),
    hrMessageText: $("hr-message-text"), progress: $("question-progress"), countdown: $("countdown"),
    questionText: $("question-text"), scenario: $("question-scenario"), scenarioText: $("question-scenario-text"), next: $("next"), selfView: $("self-view"),
    captions: $("captions"), partial: $("caption-partial"),
    finishedTitle: $("finished-title"), finishedText: $("finished-text"),
    closedTitle: $("closed-title"), closedText: $("closed-text"),
    biometric: $("biometric-consent"), withdrawBox: $("withdraw-box"), withdraw: $("withdraw"),
    withdrawConfirm: $("withdraw-confirm"), withdrawYes: $("withdraw-yes"), withdrawNo: $("withdraw-no"),
    withdrawnText: $("withdrawn-text"),
  };

  // The deadline in the candidate's own time zone (the server writes UTC).
  for (const t of document.querySelectorAll("time.when[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (Number.isNaN(d.getTime())) continue;
    t.title = t.textContent;
    // (dateStyle/timeStyle cannot be combined with timeZoneName: the parts are named instead.)
    t.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      year: "numeric", month: "long", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short",
    }).format(d);
  }

  function log(what) {
    candor.events.push({ t: Math.round(performance.now()), what });
    if (candor.events.length > KEEP) candor.events.shift();
  }

  function pushBounded(list, item) {
    list.push(item);
    if (list.length > KEEP) list.shift();
  }

  function hasHangul(text) {
    return /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/.test(text || "");
  }

  function setLangFor(node, text) {
    if (hasHangul(text)) node.setAttribute("lang", "ko");
    else node.removeAttribute("lang");
  }

  // The alert above the interview: one text per kind of problem, the most important one shown.
  function notice(kind, text) {
    if (text) candor.notices[kind] = text;
    else delete candor.notices[kind];
    const shown = NOTICE_ORDER.find((k) => candor.notices[k]);
    const value = shown ? candor.notices[shown] : "";
    el.notice.textContent = value;
    el.notice.hidden = !value;
    if (shown) el.notice.dataset.kind = shown;
    else delete el.notice.dataset.kind;
  }

  function clearNotices(...kinds) {
    for (const kind of kinds.length ? kinds : Object.keys(candor.notices)) delete candor.notices[kind];
    notice("", "");
  }

  // A remark under the status line: what the server's last code means (CODE_TEXT). Cleared when
  // the page's state changes for another reason; remarks made while live fade after a while.
  let detailTimer = null;

  function setDetail(text) {
    if (detailTimer) clearTimeout(detailTimer);
    detailTimer = null;
    el.statusDetail.textContent = text || "";
    el.statusDetail.hidden = !text;
    if (text && candor.state === "live") {
      detailTimer = setTimeout(() => { detailTimer = null; if (candor.state === "live") setDetail(""); }, DETAIL_FADE_MS);
    }
  }

  // --- screens -----------------------------------------------------------------------------

  function showStep(name, focusSelector) {
    for (const [key, section] of Object.entries(el.steps)) section.hidden = key !== name;
    const target = focusSelector ? el.steps[name].querySelector(focusSelector) : null;
    if (target) target.focus({ preventScroll: false });
  }

  function setState(state) {
    if (candor.state === state) return;
    log(`state ${candor.state} -> ${state}`);
    candor.state = state;
    document.body.dataset.state = state;
    el.status.dataset.state = state;
    el.statusText.textContent = STATUS_TEXT[state] || state;
    setDetail("");
    updateNextButton();
  }

  // The state shown during the interview, from the server's state and our own connections.
  function refreshLiveState() {
    if (TERMINAL.has(candor.state) || !joined) return;
    const media = candor.pcState;
    const lostMedia = media === "disconnected" || media === "failed" || media === "closed";
    let state;
    if (!candor.wsOpen || lostMedia || candor.serverState === "interrupted") state = "reconnecting";
    else if (candor.serverState === "paused") state = "paused";
    else if (candor.serverState === "live") state = "live";
    else state = "connecting";
    // Before the first connection, a closed socket or a pc still "new" is connecting, not lost.
    if (state === "reconnecting" && !everConnected) state = "connecting";
    setState(state);
  }

  // --- 1. consent --------------------------------------------------------------------------

  let audioContext = null;

  function ensureAudioContext() {
    // Made inside a click, so browsers that need a user gesture let it run.
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audioContext && Ctx) {
      try { audioContext = new Ctx(); } catch (err) { log(`AudioContext: ${err}`); }
    }
    if (audioContext && audioContext.state === "suspended") audioContext.resume().catch(() => {});
  }

  function choose(consent) {
    candor.consent = consent;
    candor.biometric = config.biometric_question && el.biometric ? consent && el.biometric.checked : null;
    try { sessionStorage.setItem(`candor-consent-${token}`, String(consent)); } catch (_) { /* private mode */ }
    updateWithdraw();
    ensureAudioContext();
    el.consentSummary.textContent = consent
      ? _("You chose the AI-assisted interview.")
      : _("You chose a human-only review: nothing is analysed by AI, a person reviews your recording.");
    setState("devices");
    showStep("devices", "h2");
    checkDevices();
  }

  el.consentYes.addEventListener("click", () => choose(true));
  el.consentNo.addEventListener("click", () => choose(false));

  // Withdrawing consent during the interview (a confirm step first): the server stops all
  // analysis at once and answers with the code consent_withdrawn; the interview goes on.
  function updateWithdraw() {
    el.withdrawBox.hidden = candor.consent !== true || candor.withdrawn;
    el.withdrawnText.hidden = !candor.withdrawn;
    if (el.withdrawBox.hidden) el.withdrawConfirm.hidden = true;
  }

  function onWithdrawn() {
    candor.withdrawn = true;
    candor.consent = false;
    try { sessionStorage.setItem(`candor-consent-${token}`, "false"); } catch (_) { /* private mode */ }
    updateWithdraw();
  }

  el.withdraw.addEventListener("click", () => {
    el.withdrawConfirm.hidden = false;
    el.withdrawYes.focus();
  });
  el.withdrawNo.addEventListener("click", () => {
    el.withdrawConfirm.hidden = true;
    el.withdraw.focus();
  });
  el.withdrawYes.addEventListener("click", () => {
    if (send({ type: "withdraw" })) {
      el.withdrawConfirm.hidden = true;
      log("withdraw sent");
    } else {
      notice("socket", _("Not connected to the interview server right now, so your withdrawal could not be sent. Try again in a moment."));
    }
  });

  // --- 2. camera and microphone ------------------------------------------------------------

  function mediaConstraints() {
    const processing = !rawAudio;
    return {
      video: { width: 640, height: 480, frameRate: 15 },
      audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
    };
  }

  function stopStream() {
    if (candor.stream) for (const track of candor.stream.getTracks()) track.stop();
    candor.stream = null;
    el.preview.srcObject = null;
    el.selfView.srcObject = null;
  }

  async function deviceErrorText(err) {
    const name = (err && err.name) || "Error";
    if (name === "NotFoundError" || name === "DevicesNotFoundError") {
      let missing = "both";
      try {
        const devices = await navigator.mediaDevices.enumerateDevices();
        const cams = devices.some((d) => d.kind === "videoinput");
        const mics = devices.some((d) => d.kind === "audioinput");
        if (!cams && mics) missing = "camera";
        else if (cams && !mics) missing = "microphone";
      } catch (_) { /* keep the general wording */ }
      const words = {
        camera: _("We could not find a camera. The interview needs both. Connect them (or check that they are switched on), then press \"Try again\"."),
        microphone: _("We could not find a microphone. The interview needs both. Connect them (or check that they are switched on), then press \"Try again\"."),
        both: _("We could not find a camera or a microphone. The interview needs both. Connect them (or check that they are switched on), then press \"Try again\"."),
      };
      return ["missing", words[missing]];
    }
    if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") {
      return ["denied", _("Access to the camera or microphone was denied. Allow this page to use them (in most browsers: the camera icon in the address bar, or the site settings), then press \"Try again\".")];
    }
    if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
      return ["in-use", _("Your camera or microphone is in use by another program, or could not be started. Close other programs that use them (for example a video call), then press \"Try again\".")];
    }
    if (name === "OverconstrainedError") {
      return ["other", _("Your camera does not support the video size this interview needs. Try another camera, then press \"Try again\".")];
    }
    return ["other", _("The camera or microphone could not be started (%(error)s). Press \"Try again\".",
      { error: `${name}${err && err.message ? `: ${err.message}` : ""}` })];
  }

  function showDeviceError(kind, text, name) {
    candor.deviceError = kind;
    candor.deviceErrorName = name || null;
    el.deviceError.dataset.error = kind;
    el.deviceErrorText.textContent = text;
    el.deviceError.hidden = false;
    el.deviceStatus.textContent = _("The camera and microphone are not working yet.");
    el.join.disabled = true;
    log(`device error ${kind} ${name || ""}`);
  }

  let checking = false;

  async function checkDevices() {
    if (checking) return;
    checking = true;
    try {
      stopMeter();
      stopStream();
      candor.deviceError = null;
      candor.deviceErrorName = null;
      el.deviceError.hidden = true;
      delete el.deviceError.dataset.error;
      el.join.disabled = true;
      el.deviceStatus.textContent = _("Asking your browser for the camera and microphone…");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        showDeviceError("unsupported", _("This browser cannot use a camera on this page. Open the link in a current version of Chrome, Edge, Firefox or Safari (the address must start with https)."), "Unsupported");
        return;
      }
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia(mediaConstraints());
      } catch (err) {
        const [kind, text] = await deviceErrorText(err);
        showDeviceError(kind, text, err && err.name);
        return;
      }
      if (!stream.getVideoTracks().length || !stream.getAudioTracks().length) {
        for (const t of stream.getTracks()) t.stop();
        showDeviceError("missing", _("The interview needs both a camera and a microphone. Connect the missing one, then press \"Try again\"."), "NotFoundError");
        return;
      }
      candor.stream = stream;
      for (const track of stream.getTracks()) {
        track.addEventListener("ended", () => onTrackEnded(track));
      }
      el.preview.srcObject = stream;
      el.preview.play().catch(() => {});
      startMeter(stream);
      el.deviceStatus.textContent = _("Your camera and microphone work. Check that your face is well lit and in the middle of the picture, and that the level moves when you speak.");
      el.join.disabled = false;
      log("devices ok");
    } finally {
      checking = false;
    }
  }

  function onTrackEnded(track) {
    log(`${track.kind} track ended`);
    if (candor.state === "devices") {
      showDeviceError("missing", track.kind === "video"
        ? _("Your camera stopped (unplugged or taken by another program). Reconnect it, then press \"Try again\".")
        : _("Your microphone stopped (unplugged or taken by another program). Reconnect it, then press \"Try again\"."), "Ended");
    } else if (joined && !TERMINAL.has(candor.state)) {
      notice("track", track.kind === "video"
        ? _("Your camera stopped. Reload this page to continue: your interview resumes where it stopped.")
        : _("Your microphone stopped. Reload this page to continue: your interview resumes where it stopped."));
    }
  }

  el.retry.addEventListener("click", () => { ensureAudioContext(); checkDevices(); });
  // A page opened without a click (a returning candidate) gets its audio running on the first one.
  document.addEventListener("click", () => { if (audioContext && audioContext.state === "suspended") audioContext.resume().catch(() => {}); });

  // The level meter: RMS of the microphone signal, on a log scale (-60 dBFS .. 0).
  let meterTimer = null;
  let meterSource = null;

  function startMeter(stream) {
    stopMeter();
    ensureAudioContext();
    if (!audioContext) return;
    try {
      meterSource = audioContext.createMediaStreamSource(stream);
      const analyser = audioContext.createAnalyser();
      analyser.fftSize = 2048;
      meterSource.connect(analyser);
      const buf = new Float32Array(analyser.fftSize);
      meterTimer = setInterval(() => {
        analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (let i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
        const rms = Math.sqrt(sum / buf.length);
        const db = rms > 0 ? 20 * Math.log10(rms) : -100;
        const level = Math.max(0, Math.min(1, (db + 60) / 60));
        candor.level = level;
        candor.levelPeak = Math.max(candor.levelPeak, level);
        const pct = Math.round(level * 100);
        el.meterBar.style.width = `${pct}%`;
        el.meter.dataset.level = String(pct);
        el.meter.dataset.peak = String(Math.round(candor.levelPeak * 100));
        el.meter.setAttribute("aria-valuenow", String(pct));
      }, 100);
    } catch (err) {
      log(`meter: ${err}`);
    }
  }

  function stopMeter() {
    if (meterTimer) clearInterval(meterTimer);
    meterTimer = null;
    if (meterSource) { try { meterSource.disconnect(); } catch (_) { /* already */ } }
    meterSource = null;
  }

  // --- 3. join -----------------------------------------------------------------------------

  let joined = false;
  let everConnected = false;

  el.join.addEventListener("click", () => {
    if (joined || !candor.stream) return;
    joined = true;
    el.join.disabled = true;
    stopMeter();
    el.selfView.srcObject = candor.stream;
    el.selfView.play().catch(() => {});
    showStep("interview", "#question-progress");
    setState("connecting");
    openSocket();
    connectMedia();
  });

  // Reconnect scheduling: one timer per channel. After a failure the delays back off 1, 2, 4, 8,
  // 10, 10... s; when the server says it needs a new connection now, `scheduleIn` plans an earlier
  // try (an earlier timer replaces a later one, never the other way round).
  const retry = {
    ws: { attempt: 0, timer: null, due: 0 },
    media: { attempt: 0, timer: null, due: 0 },
  };

  function scheduleIn(channel, fn, delayMs, why, countIt = true) {
    const r = retry[channel];
    if (TERMINAL.has(candor.state)) return;
    const due = performance.now() + delayMs;
    if (r.timer) {
      if (r.due <= due) return; // an earlier try is already planned
      clearTimeout(r.timer);
    }
    r.due = due;
    if (countIt) candor.reconnects += 1;
    log(`${channel}: retry in ${(delayMs / 1000).toFixed(1)} s (${why})`);
    r.timer = setTimeout(() => { r.timer = null; if (!TERMINAL.has(candor.state)) fn(); }, delayMs);
  }

  function schedule(channel, fn, why) {
    const r = retry[channel];
    if (r.timer || TERMINAL.has(candor.state)) return;
    const delay = BACKOFF_S[Math.min(r.attempt, BACKOFF_S.length - 1)];
    r.attempt += 1;
    scheduleIn(channel, fn, delay * 1000, why);
  }

  function cancelRetries() {
    for (const r of Object.values(retry)) { if (r.timer) clearTimeout(r.timer); r.timer = null; }
  }

  // The control websocket.
  function openSocket() {
    if (TERMINAL.has(candor.state)) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${routed(`${base}/ws`)}`);
    let opened = false;
    candor.ws = ws;
    candor.wsConnects += 1;
    ws.addEventListener("open", () => {
      if (candor.ws !== ws) return;
      candor.wsOpen = true;
      opened = true;
      routeMisses = 0;
      retry.ws.attempt = 0;
      log("ws open");
      clearNotices("socket");
      // Every new socket says start again: the server may be a new process that must hear the
      // candidate is back (it keeps the first consent choice).
      stateOnThisSocket = false;
      startSent = sendStart();
      refreshLiveState();
    });
    ws.addEventListener("message", (event) => {
      if (candor.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { log("ws: not JSON"); return; }
      onMessage(msg);
    });
    ws.addEventListener("close", (event) => {
      if (candor.ws !== ws) return;
      candor.wsOpen = false;
      log(`ws closed ${event.code} ${event.reason || ""}`);
      if (TERMINAL.has(candor.state)) return;
      // The close frame's reason is a code (the same as the last state message's).
      if (event.reason === "opened_elsewhere" || event.reason === "link_reissued") {
        closeForGood(event.reason);
        return;
      }
      // Never reached the process it was sent to: the hash's own choice again (a full process
      // sends it on once more).
      if (!opened && candor.route && ++routeMisses >= ROUTE_MISSES) {
        log(`route ${candor.route} dropped`);
        setRoute(null);
      }
      refreshLiveState();
      schedule("ws", openSocket, `websocket closed (${event.code})`);
    });
  }

  // A busy process named one with room: the websocket moves there now (the page says start
  // on the new socket, and that process asks for media when it has taken the interview).
  function followRoute(name) {
    if (!name || name === candor.route) return;
    log(`the server sends this interview to ${name}`);
    setRoute(name);
    const ws = candor.ws;
    candor.ws = null;
    candor.wsOpen = false;
    if (ws) { try { ws.close(); } catch (_) { /* already */ } }
    scheduleIn("ws", openSocket, 0, `moving to ${name}`, false);
  }

  let startSent = false;
  let lastStartAt = -Infinity;

  function send(msg) {
    const ws = candor.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    pushBounded(candor.sent, msg);
    return true;
  }

  function sendStart() {
    // The server records the notice version this page showed with the first answer.
    const msg = { type: "start", consent: candor.consent === true };
    if (candor.noticeVersion) msg.notice_version = candor.noticeVersion;
    // The language the notice was shown in; absent means English (server/jurisdictions.py).
    if (config.notice_language && config.notice_language !== "en") msg.notice_language = config.notice_language;
    if (config.biometric_question && candor.consent === true) msg.biometric_consent = candor.biometric === true;
    const ok = send(msg);
    if (ok) lastStartAt = performance.now();
    return ok;
  }

  // The server answers "start" with a state message. The first offer waits for it (at most a few
  // seconds), so the server knows the candidate's choice before it sets up the media.
  let startAcked = false;
  let ackWaiters = [];
  const START_ACK_CAP_MS = 3000;

  function onStartAcked() {
    startAcked = true;
    for (const resolve of ackWaiters) resolve();
    ackWaiters = [];
  }

  function waitForStartAck() {
    if (startAcked) return Promise.resolve();
    return new Promise((resolve) => {
      ackWaiters.push(resolve);
      setTimeout(resolve, START_ACK_CAP_MS);
    });
  }

  // The media: a new RTCPeerConnection with a new offer each time (the server replaces the old
  // one); the local stream stays.
  let connecting = false; // an offer is being made (from creating the pc to applying the answer)
  let lastAnswered = -Infinity; // when the current pc's offer was answered
  // Server states in which it has no media from this page and waits for a new connection:
  // "consented" (it gave up on the last one, or restarted before media came) and "interrupted"
  // (media lost, or the server restarted mid-interview).
  const NEEDS_MEDIA = new Set(["consented", "interrupted"]);

  function waitForIce(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") { resolve(); return; }
      const done = () => {
        if (pc.iceGatheringState !== "complete") return;
        pc.removeEventListener("icegatheringstatechange", done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => { pc.removeEventListener("icegatheringstatechange", done); resolve(); }, ICE_GATHER_CAP_MS);
      pc.addEventListener("icegatheringstatechange", done);
    });
  }

  async function preferResolution(pc) {
    for (const sender of pc.getSenders()) {
      if (!sender.track || sender.track.kind !== "video" || !sender.getParameters) continue;
      try {
        const p = sender.getParameters();
        p.degradationPreference = "maintain-resolution";
        await sender.setParameters(p);
      } catch (err) {
        log(`degradationPreference not set: ${err && err.name}`); // contentHint still applies
      }
    }
  }

  async function connectMedia() {
    if (connecting || TERMINAL.has(candor.state) || !candor.stream) return;
    connecting = true;
    const old = candor.pc;
    let pc = null;
    try {
      if (old) { try { old.close(); } catch (_) { /* already */ } }
      pc = new RTCPeerConnection({
        iceServers: Array.isArray(config.ice_servers) ? config.ice_servers : [],
        // "relay" (CANDOR_ICE_TRANSPORT_POLICY): media only through the TURN server.
        iceTransportPolicy: config.ice_transport_policy === "relay" ? "relay" : "all",
      });
      candor.pc = pc;
      candor.pcState = "new";
      for (const track of candor.stream.getTracks()) {
        if (track.kind === "video" && "contentHint" in track) track.contentHint = "detail";
        pc.addTransceiver(track, { direction: "sendonly", streams: [candor.stream] });
      }
      pc.addEventListener("connectionstatechange", () => onPcState(pc));
      await pc.setLocalDescription(await pc.createOffer());
      await Promise.all([waitForIce(pc), waitForStartAck()]);
      if (candor.pc !== pc) return;
      // Not in yet (the server was busy, gave up on the last connection, or restarted): say
      // start again with this try, so the server takes the candidate as soon as it has room.
      if ((candor.serverState === "consented" || candor.serverState === "invited")
          && performance.now() - lastStartAt > 1000) sendStart();
      const local = pc.localDescription;
      candor.offers += 1;
      let response;
      try {
        response = await fetch(routed(`${base}/offer`), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ sdp: local.sdp, type: local.type }),
          cache: "no-store",
          credentials: "same-origin",
        });
      } catch (err) {
        throw Object.assign(new Error("the server could not be reached"), { retry: true, unreachable: true });
      }
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      if (!response.ok) {
        const text = (body && body.error) || `${response.status} ${response.statusText}`;
        throw Object.assign(new Error(text), { status: response.status, retry: response.status >= 500 || response.status === 429 || response.status === 408, route: body && body.route });
      }
      if (candor.pc !== pc) return;
      await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
      lastAnswered = performance.now();
      wantedDuringOffer = false;
      candor.offerError = null;
      clearNotices("busy"); // the server took the connection: it had room
      await preferResolution(pc);
      log("answer applied");
    } catch (err) {
      onMediaError(err, pc);
    } finally {
      connecting = false;
    }
  }

  // The server said, on the socket that is open now, that it has no media from this page (a
  // busy server is retried with backoff instead, see onMediaError).
  function serverLacksMedia() {
    return candor.wsOpen && NEEDS_MEDIA.has(candor.serverState) && candor.serverCode !== "capacity";
  }

  // Whether a new offer is needed now (the timers ask when they fire: things may have mended).
  function mediaNeeded() {
    if (!joined || TERMINAL.has(candor.state) || !candor.stream) return false;
    if (!candor.pc || candor.offerError) return true; // no connection, or the last offer got no answer
    const s = candor.pcState;
    if (s === "failed" || s === "closed" || s === "disconnected") return true;
    // Our side may look fine while the server has nothing from us (it restarted, or gave up).
    if (!serverLacksMedia()) return false;
    const since = performance.now() - lastAnswered;
    if (since < MEDIA_PATIENCE_MS) return false; // just answered: the media is on its way
    if ((s === "new" || s === "connecting") && since < NEGOTIATE_MS) return false; // still setting up
    return true;
  }

  function retryMedia() {
    if (mediaNeeded()) connectMedia();
    else if (serverLacksMedia() && !connecting) {
      // The new connection is still being set up: look again shortly.
      scheduleIn("media", retryMedia, 1000, "waiting for the media to reach the server", false);
    }
  }

  // The server says it has no media from us: offer a new connection promptly (unless an offer
  // is on its way, or the last one was answered moments ago and may still bring media).
  let wantedDuringOffer = false; // the server asked while an offer was on its way

  function serverWantsMedia(why) {
    if (!joined || TERMINAL.has(candor.state)) return;
    if (connecting) { wantedDuringOffer = true; return; } // if that offer fails, the next comes soon
    const wait = Math.max(1000, MEDIA_PATIENCE_MS - (performance.now() - lastAnswered));
    scheduleIn("media", retryMedia, wait, why);
  }

  function onMediaError(err, pc) {
    const text = (err && err.message) || String(err);
    const status = (err && err.status) || null;
    candor.offerError = { status, error: text };
    log(`media error ${text}`);
    if (TERMINAL.has(candor.state)) return;
    if (pc && candor.pc === pc) candor.pcState = "failed";
    if (status === 409 || status === 410) { offerGone(status, text); return; }
    if (status === 404) {
      fail(_("This interview link no longer works"), _("The server said: %(text)s. If you think this is a mistake, contact the company that invited you.", { text }));
      return;
    }
    if (status && !err.retry) {
      fail(_("The video connection could not be set up"), _("The server said: %(text)s. Please reload the page; if it happens again, try another browser.", { text }));
      return;
    }
    if (status === 503) {
      notice("busy", CODE_TEXT.capacity);
      if (err.route) followRoute(err.route);
    } else if (err && err.unreachable) notice("media", _("The interview server cannot be reached right now. The page keeps trying by itself…"));
    else notice("media", _("The video connection could not be set up (%(text)s). Trying again…", { text }));
    refreshLiveState();
    schedule("media", retryMedia, text);
    // The server (on a socket that works) asked for a connection while this offer was out:
    // the backoff is for a server that is away or busy, not for this one.
    if (wantedDuringOffer && status !== 503 && serverLacksMedia()) scheduleIn("media", retryMedia, 1000, "the server asked for media");
    wantedDuringOffer = false;
  }

  // 409 or 410 from /offer: the interview takes no more media. Why comes from the server's state
  // (the socket says it), not from the words of the error.
  let goneTimer = null;

  function offerGone(status, text) {
    if (FINISHED.has(candor.serverState)) { endedByServer(candor.serverState, candor.serverCode); return; }
    if (status === 410) {
      fail(_("This interview link no longer works"), _("The server said: %(text)s. If you think this is a mistake, contact the company that invited you.", { text }));
      return;
    }
    // 409: the server refuses an offer only for a finished interview; its socket says how in a
    // moment (and ends the page); if it does not, the page ends by itself.
    if (goneTimer) return;
    goneTimer = setTimeout(() => {
      goneTimer = null;
      if (TERMINAL.has(candor.state)) return;
      if (FINISHED.has(candor.serverState)) endedByServer(candor.serverState, candor.serverCode);
      else fail(_("This interview has ended"), CODE_TEXT.finished, "closed");
    }, 3000);
  }

  function onPcState(pc) {
    if (candor.pc !== pc) return;
    candor.pcState = pc.connectionState;
    log(`pc ${pc.connectionState}`);
    if (pc.connectionState === "connected") {
      everConnected = true;
      retry.media.attempt = 0;
      clearNotices("media");
    } else if (pc.connectionState === "disconnected" || pc.connectionState === "failed") {
      // "disconnected" often heals by itself: the first retry waits a second and checks again.
      schedule("media", retryMedia, `pc ${pc.connectionState}`);
    }
    refreshLiveState();
  }

  // --- 4-6. messages from the server -------------------------------------------------------

  function onMessage(msg) {
    candor.lastMessage = msg;
    pushBounded(candor.messages, msg);
    switch (msg.type) {
      case "state": onServerState(msg); break;
      case "question": onQuestion(msg); break;
      case "caption": onCaption(msg.text || "", !!msg.final); break;
      case "message": onHrMessage(msg.text || ""); break;
      case "done": finish(candor.serverCode); break;
      case "error": notice("server", _("The server said: %(text)s", { text: msg.error || "error" })); break;
      default: break;
    }
  }

  // {type: "state", state, code, reason}: the page acts on the state and the code; the reason
  // (English for logs) is kept for debugging and never shown.
  function onServerState(msg) {
    const state = msg.state;
    const code = typeof msg.code === "string" ? msg.code : "";
    log(`server state ${state} (${code})`);
    candor.serverCode = code || null;
    candor.serverReason = msg.reason || null;
    if (state === "closed") {
      // The server is closing this window's socket and says why; the socket reconnects unless
      // the interview went on in another window.
      if (code === "opened_elsewhere" || code === "link_reissued") closeForGood(code);
      else if (CODE_TEXT[code]) notice("socket", CODE_TEXT[code]);
      return;
    }
    candor.serverState = state;
    stateOnThisSocket = true;
    if (startSent && state !== "invited") onStartAcked();
    if (FINISHED.has(state)) { endedByServer(state, code); return; }
    if (state === "live") {
      everConnected = true;
      clearNotices("busy", "connect", "media", "socket", "server");
    } else if (HOLDS_MEDIA.has(state)) {
      clearNotices("busy"); // the server holds a place for this interview now
    }
    if (code === "consent_withdrawn") onWithdrawn();
    if (code === "capacity" && !msg.route && lastAnswered > lastStartAt) {
      // The reply to a start sent before the server took this page's connection (the offer
      // went over HTTP and was answered first): out of date, the server's next state follows.
      log("a busy reply from before the connection was taken: ignored");
    } else if (code === "capacity") {
      notice("busy", CODE_TEXT.capacity);
      if (msg.route) followRoute(msg.route);
      else if (joined && !connecting) schedule("media", retryMedia, "the server is busy");
    } else if (code === "connect_timeout") {
      notice("connect", CODE_TEXT.connect_timeout);
    }
    if (NEEDS_MEDIA.has(state) && code !== "capacity") serverWantsMedia(`the server is ${state} (${code})`);
    refreshLiveState();
    setDetail(ALERT_CODES.has(code) ? "" : CODE_TEXT[code] || CONSENT_TEXT[code] || "");
    sendPendingFinish();
  }

  let nextLockTimer = null;
  let finishPendingOn = null; // the question index "Yes, finish" was pressed on, not yet sent
  let stateOnThisSocket = false; // the server has said its state on the current socket
  let countdownTimer = null;
  let lastTick = 0;

  function formatTime(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function onQuestion(msg) {
    const changed = !candor.question || candor.question.index !== msg.index;
    candor.question = msg;
    candor.remaining = typeof msg.remaining_s === "number" ? msg.remaining_s : msg.time_limit_s;
    lastTick = performance.now();
    // `number`/`count` leave out follow-ups skipped by rule (the server knows which were).
    const number = typeof msg.number === "number" ? msg.number : msg.index + 1;
    el.progress.textContent = _("Question %(n)s of %(count)s", { n: number, count: msg.count });
    // A situational question: the scenario is read first, above the question.
    el.scenarioText.textContent = msg.scenario || "";
    setLangFor(el.scenarioText, msg.scenario || "");
    el.scenario.hidden = !msg.scenario;
    el.questionText.textContent = msg.text || "";
    setLangFor(el.questionText, msg.text);
    const last = typeof msg.last === "boolean" ? msg.last : msg.index + 1 >= msg.count;
    el.next.textContent = last ? _("Finish") : _("Next");
    el.next.dataset.last = String(last);
    // HR's message belongs to the question it came with: a new question takes it away.
    if (candor.hrMessage) {
      if (hrMessageFor === null) hrMessageFor = msg.index; // it came before any question
      else if (msg.index !== hrMessageFor) onHrMessage("");
    }
    if (changed) {
      if (!finishConfirm.hidden) askToFinish(false); // the time ran out meanwhile
      unlockNext();
      clearCaptionLines();
      el.progress.focus({ preventScroll: true });
    }
    renderCountdown();
    if (!countdownTimer) countdownTimer = setInterval(tickCountdown, 250);
  }

  function tickCountdown() {
    const now = performance.now();
    const dt = (now - lastTick) / 1000;
    lastTick = now;
    if (candor.state === "live" && typeof candor.remaining === "number") {
      candor.remaining = Math.max(0, candor.remaining - dt);
    }
    renderCountdown();
  }

  function renderCountdown() {
    if (typeof candor.remaining !== "number") return;
    const seconds = Math.ceil(candor.remaining);
    el.countdown.textContent = candor.remaining > 0 ? formatTime(candor.remaining) : _("Time is up");
    el.countdown.dataset.remaining = String(seconds);
    el.countdown.classList.toggle("low", candor.remaining <= 10);
    el.countdown.classList.toggle("stopped", candor.state !== "live");
  }

  function updateNextButton() {
    el.next.disabled = !(candor.state === "live" && candor.question && !nextLockTimer);
    sendPendingFinish();
  }

  // "Yes, finish" pressed while the connection was down: the choice is kept and sent once the
  // server says, on a socket that is open now, that the interview is live again on the same
  // question (a new question, e.g. the time ran out, drops it).
  function sendPendingFinish() {
    if (finishPendingOn === null || el.next.disabled || !candor.wsOpen) return;
    if (!stateOnThisSocket || candor.serverState !== "live") return;
    const on = finishPendingOn;
    finishPendingOn = null;
    if (candor.question && candor.question.index === on) {
      log("sending the finish chosen while the connection was down");
      sendNext();
    }
  }

  function unlockNext() {
    if (nextLockTimer) clearTimeout(nextLockTimer);
    nextLockTimer = null;
    updateNextButton();
  }

  // Finishing cannot be undone: the last question's button asks first.
  const finishConfirm = $("finish-confirm");
  function askToFinish(open) {
    finishConfirm.hidden = !open;
    el.next.hidden = open;
    if (open) $("finish-no").focus(); else el.next.focus({ preventScroll: true });
  }
  $("finish-no").addEventListener("click", () => askToFinish(false));
  $("finish-yes").addEventListener("click", () => {
    askToFinish(false);
    log("finish chosen");
    if (sendNext() || !candor.question) return;
    finishPendingOn = candor.question.index;
    setDetail(_("Your answers are kept. The interview finishes as soon as the connection is back."));
  });

  el.next.addEventListener("click", () => {
    if (el.next.disabled || nextLockTimer) return;
    if (el.next.dataset.last === "true") { askToFinish(true); return; }
    sendNext();
  });

  function sendNext() {
    if (el.next.disabled || nextLockTimer) return false;
    if (!send({ type: "next" })) return false;
    // Locked until the next question arrives, or a few seconds (the server may have said no).
    nextLockTimer = setTimeout(unlockNext, NEXT_LOCK_MS);
    updateNextButton();
    return true;
  }

  function clearCaptionLines() {
    for (const line of el.captions.querySelectorAll(".iv-caption-final")) line.remove();
    candor.partial = "";
    el.partial.textContent = "";
  }

  function onCaption(text, final) {
    if (final) {
      candor.partial = "";
      el.partial.textContent = "";
      if (!text.trim()) return;
      pushBounded(candor.captions, text);
      const line = document.createElement("p");
      line.className = "iv-caption-final";
      line.textContent = text;
      setLangFor(line, text);
      el.captions.insertBefore(line, el.partial);
      const lines = el.captions.querySelectorAll(".iv-caption-final");
      for (let i = 0; i < lines.length - CAPTION_LINES; i++) lines[i].remove();
    } else {
      candor.partial = text;
      el.partial.textContent = text;
      setLangFor(el.partial, text);
    }
  }

  // HR's message to the candidate (meant to be shown; HR's private notes never come here).
  let hrMessageFor = null; // the question index the message came with (null: none on screen yet)

  function onHrMessage(text) {
    candor.hrMessage = text || null;
    hrMessageFor = text && candor.question ? candor.question.index : null;
    el.hrMessageText.textContent = text;
    setLangFor(el.hrMessageText, text);
    el.hrMessage.hidden = !text;
  }

  // --- the end -----------------------------------------------------------------------------

  function teardown() {
    cancelRetries();
    stopMeter();
    if (countdownTimer) clearInterval(countdownTimer);
    countdownTimer = null;
    if (nextLockTimer) clearTimeout(nextLockTimer);
    nextLockTimer = null;
    if (goneTimer) clearTimeout(goneTimer);
    goneTimer = null;
    el.next.disabled = true;
    if (candor.pc) { try { candor.pc.close(); } catch (_) { /* already */ } }
    candor.pcState = "closed";
    if (candor.ws) { try { candor.ws.close(1000, "finished"); } catch (_) { /* already */ } }
    candor.wsOpen = false;
    stopStream();
    if (audioContext) audioContext.close().catch(() => {});
    audioContext = null;
  }

  // The server's finished states (config.states.finished) end the page; the code says why.
  function endedByServer(state, code) {
    if (state === "completed") { finish(code); return; }
    if (state === "expired") { fail(_("This interview link has expired"), CODE_TEXT.expired, "closed"); return; }
    const text = code === "pause_timeout" || code === "abandoned" ? CODE_TEXT[code] : CODE_TEXT.finished;
    fail(_("This interview was closed"), text, "closed");
  }

  function finish(code) {
    if (TERMINAL.has(candor.state)) return;
    setState("finished");
    teardown();
    clearNotices();
    if (code === "ended_by_interviewer") el.finishedText.textContent = CODE_TEXT.ended_by_interviewer;
    showStep("finished", "h2");
  }

  function closeForGood(code) {
    if (TERMINAL.has(candor.state)) return;
    candor.closedReason = code || "closed";
    if (code === "link_reissued") fail(_("This link was replaced"), CODE_TEXT.link_reissued, "closed");
    else fail(_("This interview is open in another window"), CODE_TEXT.opened_elsewhere, "closed");
  }

  function fail(title, text, state = "error") {
    if (TERMINAL.has(candor.state)) return;
    setState(state);
    teardown();
    clearNotices();
    el.closedTitle.textContent = title;
    el.closedText.textContent = text;
    showStep("closed", "h2");
  }

  $("reload").addEventListener("click", () => location.reload());

  window.addEventListener("pagehide", () => {
    if (candor.ws && candor.ws.readyState === WebSocket.OPEN) {
      try { candor.ws.close(1001, "page closed"); } catch (_) { /* already */ }
    }
  });

  // --- start -------------------------------------------------------------------------------

  document.body.dataset.state = candor.state;
  if (RESUMABLE.has(config.state)) {
    // The candidate already chose (the server keeps the first choice); go to the device check.
    let stored = null;
    try { stored = sessionStorage.getItem(`candor-consent-${token}`); } catch (_) { /* private mode */ }
    candor.consent = stored === "true";
    updateWithdraw();
    el.consentSummary.textContent = _("Welcome back: your interview continues where it stopped.");
    setState("devices");
    showStep("devices");
    checkDevices();
  } else if (FINISHED.has(config.state)) {
    endedByServer(config.state, null);
  } else {
    showStep("consent");
  }
})();
