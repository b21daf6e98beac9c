"use strict";
// The windows' page. Python calls window.esecure.<page>(data); the buttons answer through
// window.pywebview.api. Every outside text is put on the page with textContent, never as HTML.
(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const T = config.texts;
  const $ = (id) => document.getElementById(id);

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (whole, key) =>
      Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole);
  }
  function set(id, text) {
    $(id).textContent = text === null || text === undefined ? "" : String(text);
  }
  function call(name, ...args) {
    const api = window.pywebview && window.pywebview.api;
    if (api && typeof api[name] === "function") {
      return api[name](...args);
    }
    return Promise.resolve(null);
  }
  function buttons(page, enabled) {
    for (const button of $("page-" + page).querySelectorAll("button")) {
      button.disabled = !enabled;
    }
  }
  function show(page) {
    for (const section of document.querySelectorAll("main > section")) {
      section.hidden = section.id !== "page-" + page;
    }
    buttons(page, true);
    document.body.dataset.page = page;
  }
  function noticeBox(notice) {
    const box = document.createElement("div");
    box.className = "notice";
    box.setAttribute("role", "alert");
    const title = document.createElement("strong");
    title.textContent = fill(T["error.code"], { code: notice.code }) + " — " + notice.title;
    box.appendChild(title);
    for (const line of [notice.message, notice.action]) {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    }
    return box;
  }

  // --- static texts and branding
  for (const element of document.querySelectorAll("[data-text]")) {
    element.textContent = T[element.dataset.text] || "";
  }
  document.title = config.title;
  set("bank", config.bank);
  set("product", config.title);
  if (config.logo) {
    $("logo").src = config.logo;
    $("logo").alt = config.bank;
    $("logo").hidden = false;
    $("bank").hidden = true;
  }
  if (config.phone) {
    set("phone", fill(T["error.support"], { phone: config.phone }));
  }
  set("progress-text", config.first);

  // --- what Python shows
  function progress(data) {
    show("progress");
    set("progress-text", data.text);
    const percent = Math.max(0, Math.min(100, Math.round(data.fraction * 100)));
    $("progress-fill").style.width = percent + "%";
    document.querySelector(".bar").setAttribute("aria-valuenow", String(percent));
  }
  function message(text) {
    const page = document.body.dataset.page === "session" ? "session" : "progress";
    set(page + "-message", text);
  }
  function notice(data) {
    const where = document.body.dataset.page === "session" ? "session-notices" : "notices";
    $(where).appendChild(noticeBox(data));
  }
  function offer(data) {
    set("offer-version", fill(T["offer.version"], { version: data.version }));
    set("offer-size", fill(T["offer.size"], { size: data.size }));
    set("offer-time", fill(T["offer.time"], { time: data.time }));
    set("offer-kind", data.required ? T["offer.required"] : T["offer.optional"]);
    $("offer-later").hidden = Boolean(data.required);
    show("offer");
    $("offer-now").focus();
  }
  function enrol(data) {
    set("enrol-serial", data.serial);
    $("code").value = "";
    if (data.identifier) {
      $("identifier").value = data.identifier;
    }
    const refusal = data.refusal;
    $("enrol-refusal").hidden = !refusal;
    if (refusal) {
      set("refusal-title", fill(T["error.code"], { code: refusal.code }) + " — " + refusal.title);
      set("refusal-message", refusal.message);
      set("refusal-action", refusal.action);
    }
    set("enrol-status", "");
    show("enrol");
    ($("identifier").value ? $("code") : $("identifier")).focus();
  }
  function error(data) {
    set("error-code", fill(T["error.code"], { code: data.code }));
    set("error-title", data.title);
    set("error-message", data.message);
    set("error-detail", data.detail);
    set("error-cause", data.cause);
    set("error-action", data.action);
    set("error-support", data.phone ? fill(T["error.support"], { phone: data.phone }) : "");
    set("error-report", data.report ? fill(T["error.report"], { path: data.report }) : "");
    set("error-saved", "");
    $("error-save").hidden = !data.can_save;
    $("error-close").textContent = data.blocking ? T["error.close"] : T["notice.ok"];
    show("error");
  }
  function session(data) {
    set("session-text", data.text);
    set("session-message", "");
    $("session-hide").hidden = !data.tray;
    show("session");
  }
  function busy(text) {
    set("session-message", text);
    buttons("session", false);
  }
  function final(text) {
    set("final-text", text);
    show("final");
  }

  // --- what the user answers
  $("offer-now").addEventListener("click", () => {
    buttons("offer", false);
    call("answer_offer", "now");
  });
  $("offer-later").addEventListener("click", () => {
    buttons("offer", false);
    call("answer_offer", "later");
  });
  $("enrol-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const identifier = $("identifier").value.trim();
    let code = $("code").value.trim();
    $("code").value = ""; // the activation code never stays on the page
    if (!identifier || !code) {
      set("enrol-status", T["enrol.missing"]);
      return;
    }
    buttons("enrol", false);
    set("enrol-status", T["enrol.sending"]);
    call("submit_enrolment", identifier, code);
    code = "";
  });
  $("enrol-cancel").addEventListener("click", () => {
    $("code").value = "";
    buttons("enrol", false);
    call("cancel_enrolment");
  });
  $("error-save").addEventListener("click", () => {
    $("error-save").disabled = true;
    call("save_report").then((said) => {
      set("error-saved", said);
      $("error-save").disabled = false;
    });
  });
  $("error-close").addEventListener("click", () => {
    buttons("error", false);
    call("close_error");
  });
  for (const action of ["open", "diagnostics", "remove"]) {
    $("session-" + action).addEventListener("click", () => call("session_action", action));
  }
  $("session-hide").addEventListener("click", () => call("hide"));
  $("final-close").addEventListener("click", () => {
    buttons("final", false);
    call("close_final");
  });

  window.esecure = { progress, message, notice, offer, enrol, error, session, busy, final };
  document.body.dataset.ready = "1";
})();
