// Upload progress for forms marked data-progress: the same multipart POST, sent with
// XMLHttpRequest so the bytes sent can be shown; the answer replaces the page as a plain
// form submission would (a redirect is followed, a rejection shows its row errors).
// Without JavaScript the form is an ordinary form.
"use strict";
(function () {
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var bar = document.getElementById(form.getAttribute("data-progress"));
    var label = document.getElementById(form.getAttribute("data-progress") + "-label");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) { return; }
        bar.max = e.total;
        bar.value = e.loaded;
        label.textContent = Math.round(100 * e.loaded / e.total) + "% sent" +
          (e.loaded === e.total ? ", validating..." : "");
      };
      xhr.onload = function () {
        if (xhr.responseURL && xhr.responseURL !== form.action) {
          window.location.assign(xhr.responseURL);
          return;
        }
        document.open();
        document.write(xhr.responseText);
        document.close();
      };
      xhr.onerror = function () { label.textContent = "upload failed: network error"; };
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      xhr.send(new FormData(form));
    });
  });
})();
