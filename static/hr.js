// Small enhancements for the HR pages; every page works without this file.
"use strict";
(function () {
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
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }
  // Read-only links select themselves on focus, so they are easy to copy by hand too.
  for (const input of document.querySelectorAll("input.invitation-link")) {
    input.addEventListener("focus", () => input.select());
  }
  // Move focus to the error summary so screen readers announce it.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
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
