// The report page: tick a key clip or an answer's recording as seen once its video has loaded
// (the server marked it seen when it served the media), offer to acknowledge one that fails to
// load, and enable the decision button when every answer is watched (its clips or its
// recording) and this user has written a note. The server enforces the same rule; the page
// works without this file.
"use strict";
(function () {
  // The page's words in its language (server/i18n.py puts them in #candor-i18n).
  const i18nNode = document.getElementById("candor-i18n");
  const MESSAGES = JSON.parse((i18nNode && i18nNode.textContent) || "{}");
  const _ = (msgid, values) => {
    const text = MESSAGES[msgid] || msgid;
    return values ? text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m)) : text;
  };
  const el = document.getElementById("report-config");
  if (!el) return;
  const config = JSON.parse(el.textContent);
  const seen = new Set(config.seen);
  const noted = config.noted;

  function watched(answer) {
    return seen.has(answer.recording) ||
      (answer.clips.length > 0 && answer.clips.every((id) => seen.has(id)));
  }

  function refresh() {
    let left = 0;
    for (const answer of config.answers) {
      const done = watched(answer);
      if (!done) left += 1;
      const item = document.querySelector(`[data-missing-answer="${CSS.escape(answer.key)}"]`);
      if (item) item.hidden = done;
    }
    const done = left === 0 && noted;
    const box = document.getElementById("review-missing");
    if (box) box.hidden = done;
    // A refusal shown after the last attempt no longer applies once the review is complete.
    const refusal = document.querySelector("#error-summary[data-gate]");
    if (refusal && done) refusal.hidden = true;
    const button = document.getElementById("decide");
    if (button) {
      button.disabled = !done;
      if (done) button.removeAttribute("aria-describedby");
    }
  }

  function markSeen(id) {
    if (seen.has(id)) return;
    seen.add(id);
    for (const tick of document.querySelectorAll(`[data-seen-for="${CSS.escape(id)}"]`)) {
      tick.textContent = "\u2713 " + _("Seen");
      tick.classList.add("is-seen");
    }
    const unplayable = document.querySelector(`[data-unplayable="${CSS.escape(id)}"]`);
    if (unplayable) unplayable.hidden = true;
    refresh();
  }

  for (const video of document.querySelectorAll("video[data-clip]")) {
    const id = video.dataset.clip;
    // Data arrived: the server has served the media, which is what marks it seen.
    video.addEventListener("loadeddata", () => markSeen(id));
    video.addEventListener("playing", () => markSeen(id));
    video.addEventListener("error", () => {
      if (seen.has(id)) return;
      const tick = document.querySelector(`[data-seen-for="${CSS.escape(id)}"]`);
      if (tick) tick.textContent = _("Could not load");
      // The server says why when asked to acknowledge it (and refuses if it does play).
      const unplayable = document.querySelector(`[data-unplayable="${CSS.escape(id)}"]`);
      if (unplayable) unplayable.hidden = false;
    });
  }
  refresh();
})();
