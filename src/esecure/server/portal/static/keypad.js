// The virtual keypad, enhanced: a key click adds its *position* (never a digit) to the
// hidden field; "Validate" sends them all at once. Without this script every key submits
// the form and the server keeps count: the page works the same.
// Seed row E7: once the code is sent, if no answer has replaced the page after
// data-slow-after-ms, #slow-notice says so (instead of an endless hourglass).
(function () {
  "use strict";
  var form = document.getElementById("code-form");
  if (!form) {
    return;
  }
  var field = document.getElementById("positions");
  var counter = document.getElementById("code-entered");
  var dots = document.querySelectorAll("#code-dots .dot");
  var notice = document.getElementById("slow-notice");
  var length = dots.length || 6;
  var sent = false;

  function positions() {
    return field.value ? field.value.split(",") : [];
  }

  function show(list) {
    field.value = list.join(",");
    for (var i = 0; i < dots.length; i += 1) {
      dots[i].className = i < list.length ? "dot on" : "dot";
    }
    counter.textContent = counter.getAttribute("data-template").replace("{count}", String(list.length));
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button") : null;
    if (!button || sent) {
      return;
    }
    var list = positions();
    if (button.hasAttribute("data-position")) {
      event.preventDefault();
      if (list.length < length) {
        list.push(button.getAttribute("data-position"));
        show(list);
      }
    } else if (button.id === "code-correct") {
      event.preventDefault();
      list.pop();
      show(list);
    } else if (button.id === "code-clear") {
      event.preventDefault();
      show([]);
    }
  });

  form.addEventListener("submit", function (event) {
    if (sent) {
      event.preventDefault();
      return;
    }
    sent = true;
    var wait = parseInt(form.getAttribute("data-slow-after-ms"), 10) || 15000;
    window.setTimeout(function () {
      notice.hidden = false;
      sent = false;
    }, wait);
  });
})();
