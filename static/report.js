// The report page: tick a key clip as seen once its video has loaded (the server marked it seen
// when it served the media), and enable the decision button when every clip is seen and this
// user has written a note. The server enforces the same rule; the page works without this file.
"use strict";
(function () {
  const el = document.getElementById("report-config");
  if (!el) return;
  const config = JSON.parse(el.textContent);
  const seen = new Set(config.seen);
  const noted = config.noted;

  function unseen() {
    return config.clips.filter((id) => !seen.has(id));
  }

  function refresh() {
    const left = unseen().length;
    const clipsItem = document.getElementById("missing-clips");
    if (clipsItem) {
      clipsItem.hidden = left === 0;
      clipsItem.querySelector(".count").textContent = String(left);
      clipsItem.querySelector(".noun").textContent = left === 1 ? "clip" : "clips";
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
      tick.textContent = "\u2713 Seen";
      tick.classList.add("is-seen");
    }
    refresh();
  }

  for (const video of document.querySelectorAll("video[data-clip]")) {
    const id = video.dataset.clip;
    // Data arrived: the server has served the clip, which is what marks it seen.
    video.addEventListener("loadeddata", () => markSeen(id));
    video.addEventListener("playing", () => markSeen(id));
    video.addEventListener("error", () => {
      const tick = document.querySelector(`[data-seen-for="${CSS.escape(id)}"]`);
      if (tick && !seen.has(id)) tick.textContent = "Could not load the clip";
    });
  }
  refresh();
})();
