// Small enhancements for the HR pages; every page works without this file.
"use strict";
(function () {
  // The page's words in its language (server/i18n.py puts them in #candor-i18n).
  const i18nNode = document.getElementById("candor-i18n");
  const MESSAGES = JSON.parse((i18nNode && i18nNode.textContent) || "{}");
  const _ = (msgid, values) => {
    const text = MESSAGES[msgid] || msgid;
    return values ? text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m)) : text;
  };
  // "Copy" buttons next to invitation links (hidden until this script shows them).
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    if (!input) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (err) {
        document.execCommand("copy");
      }
      button.textContent = _("Copied");
      setTimeout(() => { button.textContent = _("Copy"); }, 2000);
    });
  }
  // Read-only links select themselves on focus, so they are easy to copy by hand too.
  for (const input of document.querySelectorAll("input.invitation-link")) {
    input.addEventListener("focus", () => input.select());
  }
  // Move focus to the error summary so screen readers announce it.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  // Times in the viewer's own time zone. The server writes UTC (<time class="when"> and the
  // values of datetime-local inputs marked data-utc); here they are shown in local time, and a
  // deadline typed in local time goes back to the server as UTC.
  const pad = (n) => String(n).padStart(2, "0");
  const lang = document.documentElement.lang || undefined; // the page's language names the zone
  const localInput = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const zoneOf = (d) => {
    const part = new Intl.DateTimeFormat(lang, { timeZoneName: "short" }).formatToParts(d)
      .find((p) => p.type === "timeZoneName");
    return part ? part.value : "";
  };
  for (const t of document.querySelectorAll("time.when[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (Number.isNaN(d.getTime())) continue;
    t.title = t.textContent;
    t.textContent = localInput(d).replace("T", " ") + " " + zoneOf(d);
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  for (const input of document.querySelectorAll('input[type="datetime-local"][data-utc]')) {
    if (input.value) {
      const d = new Date(input.value + "Z");
      if (!Number.isNaN(d.getTime())) input.value = localInput(d);
    }
    const label = document.querySelector(`label[for="${input.id}"]`);
    if (label) label.textContent = label.textContent.replace("(UTC)", zone ? _("(your time, %(zone)s)", { zone }) : _("(your time)"));
    const hint = input.parentElement && input.parentElement.querySelector("[data-utc-hint]");
    if (hint) hint.textContent = _("In your time zone (%(zone)s). After the deadline the link stops working.", { zone: zone || zoneOf(new Date()) });
    if (input.form) {
      input.form.addEventListener("submit", () => {
        const d = new Date(input.value); // a datetime-local value is local time
        if (input.value && !Number.isNaN(d.getTime())) input.value = d.toISOString().slice(0, 16);
      });
    }
  }
  // The rule builder: the keyword/phrase field only when the signal takes one, and the sentence
  // the rule means (the same words as the job page, server/pages/rule_words.py).
  for (const row of document.querySelectorAll(".rule-row")) {
    const [dim, k] = row.dataset.rule.split("-");
    const field = (name) => document.getElementById(`rule_${name}_${dim}_${k}`);
    const scope = field("scope"), signal = field("signal"), arg = field("arg"), op = field("op");
    const value = field("value"), points = field("points");
    const sentence = row.querySelector(".rule-sentence");
    const describe = () => {
      const sig = signal.value;
      const takesArg = sig.endsWith(":");
      arg.hidden = !takesArg;
      arg.placeholder = sig === "mentions:" ? _("phrase") : _("keyword");
      if (!sig) { sentence.textContent = ""; return; }
      // The same messages as server/pages/rule_words.py, so both read alike in every language.
      const overall = scope.value === "interview";
      const word = arg.value.trim() || "…";
      let what;
      if (sig === "keyword_hits:") {
        what = overall ? _("the times “%(word)s” is said (mean over the answers)", { word })
          : _("the times “%(word)s” is said", { word });
      } else if (sig === "mentions:") {
        what = overall ? _("the share of answers that mention “%(word)s”", { word })
          : _("the times “%(word)s” is mentioned", { word });
      } else {
        const label = signal.selectedOptions[0].textContent;
        what = overall ? _("the %(signal)s (mean over the answers)", { signal: label }) : _("the %(signal)s", { signal: label });
      }
      const n = Number(points.value);
      let pts;
      if (points.value === "" || Number.isNaN(n)) pts = _("… points");
      else if (n >= 0) pts = Math.abs(n) === 1 ? _("add %(n)s point", { n }) : _("add %(n)s points", { n });
      else pts = Math.abs(n) === 1 ? _("take away %(n)s point", { n: -n }) : _("take away %(n)s points", { n: -n });
      sentence.textContent = _("%(where)s: when %(what)s %(op)s %(value)s, %(points)s.", {
        where: scope.selectedOptions[0].textContent, what, op: op.selectedOptions[0].textContent,
        value: value.value === "" ? "…" : value.value, points: pts,
      });
    };
    for (const input of [scope, signal, arg, op, value, points]) {
      input.addEventListener("input", describe);
      input.addEventListener("change", describe);
    }
    describe();
  }
  // Typing a weight chooses its dimension (a weight above 0 ticks it, clearing it unticks it).
  for (const weight of document.querySelectorAll("input[data-ticks]")) {
    weight.addEventListener("input", () => {
      const box = document.getElementById(weight.dataset.ticks);
      if (!box || weight.value.trim() === "") return;
      const value = Number(weight.value);
      if (Number.isFinite(value)) box.checked = value > 0;
    });
  }
  // An input marked data-focus gets the focus (and is scrolled to), e.g. the next candidate's name.
  const first = !summary && document.querySelector("[data-focus]");
  if (first) first.focus();
})();
