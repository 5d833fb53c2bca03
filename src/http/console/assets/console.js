// Roster console: the one script, loaded with `defer` from Roster itself (no inline scripts,
// which the Content-Security-Policy forbids). Every page works without it; it only improves:
// - confirmation dialogs open as modals instead of reloading the page with ?confirm=<id>;
// - copy buttons copy their text to the clipboard;
// - the error summary of a refused form (or the notice of a change done) takes the focus where the
//   browser ignores its autofocus;
// - a notice of a change done (`?notice=…`) is dropped from the address once shown, so that a
//   reload or a bookmark does not say again that something was just done;
// - a table that scrolls sideways inside its box can be scrolled by keyboard;
// - `Roster.fetch` sends the session's CSRF token with same-origin requests of other scripts.
'use strict';

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="roster-csrf"]');
    return meta ? meta.getAttribute('content') : null;
  }

  // A <form data-confirm="id"> is the trigger of the <dialog id="id"> (components.ts confirmDialog).
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
    var dialog = document.getElementById(form.getAttribute('data-confirm'));
    if (!(dialog instanceof HTMLDialogElement) || typeof dialog.showModal !== 'function') return;
    event.preventDefault();
    if (dialog.open) dialog.close();
    dialog.showModal();
    // showModal focuses the first button, the one that acts: Enter must not confirm by accident.
    var cancel = dialog.querySelector('form[method="dialog"] button');
    if (cancel) cancel.focus();
  });

  // <button data-copy="id"> copies the text of #id (components.ts copyable); hidden until this script runs.
  function enableCopyButtons() {
    var buttons = document.querySelectorAll('button[data-copy]');
    for (var i = 0; i < buttons.length; i += 1) {
      var button = buttons[i];
      if (!navigator.clipboard) continue;
      button.hidden = false;
      button.addEventListener('click', function (event) {
        var trigger = event.currentTarget;
        var source = document.getElementById(trigger.getAttribute('data-copy'));
        var status = trigger.parentElement ? trigger.parentElement.querySelector('.copy-status') : null;
        if (!source) return;
        navigator.clipboard.writeText(source.textContent || '').then(
          function () { if (status) status.textContent = 'Copied.'; },
          function () { if (status) status.textContent = 'Could not copy: select the text and copy it.'; }
        );
      });
    }
  }

  window.Roster = {
    csrfToken: csrfToken,
    // fetch() for same-origin calls that change something (the admin API accepts a session with this header).
    fetch: function (input, init) {
      var options = Object.assign({ credentials: 'same-origin' }, init || {});
      var headers = new Headers(options.headers || {});
      var token = csrfToken();
      if (token) headers.set('X-CSRF-Token', token);
      options.headers = headers;
      return window.fetch(input, options);
    },
  };

  // components.ts errorSummary, noticeBanner and an outcome banner: autofocus on a <div> is recent in some browsers.
  function focusErrorSummary() {
    var summary = document.getElementById('error-summary') || document.getElementById('notice') || document.getElementById('outcome');
    if (summary && summary.hasAttribute('autofocus') && (document.activeElement === null || document.activeElement === document.body)) summary.focus();
  }

  // The page keeps its banner; only the address forgets it (history.replaceState reloads nothing).
  function forgetShownNotice() {
    if (typeof URLSearchParams !== 'function') return;
    var url = new URL(window.location.href);
    if (!url.searchParams.has('notice')) return;
    url.searchParams.delete('notice');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
  }

  // A table wider than its box scrolls inside it (.table-wrap): the box then takes the keyboard
  // focus, named by the table's caption, so that arrow keys scroll it (columns without a link or
  // a button could not be brought into view by keyboard); a box that does not scroll stays out
  // of the tab order.
  function focusableScrollBoxes() {
    var boxes = document.querySelectorAll('.table-wrap');
    for (var i = 0; i < boxes.length; i += 1) {
      var box = boxes[i];
      if (box.scrollWidth > box.clientWidth + 1) {
        var caption = box.querySelector('caption');
        box.setAttribute('tabindex', '0');
        box.setAttribute('role', 'region');
        box.setAttribute('aria-label', (caption ? caption.textContent.trim() : 'Table') + ' (scrolls sideways)');
      } else {
        box.removeAttribute('tabindex');
        box.removeAttribute('role');
        box.removeAttribute('aria-label');
      }
    }
  }

  function ready() {
    enableCopyButtons();
    focusErrorSummary();
    forgetShownNotice();
    focusableScrollBoxes();
    window.addEventListener('resize', focusableScrollBoxes);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready);
  else ready();
})();
