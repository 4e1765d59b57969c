/* Copy buttons: <button data-copy-target="ID"> copies the text of element ID.
 * navigator.clipboard first; when it is missing or refused (file:// pages, old
 * browsers) a hidden textarea and document.execCommand('copy'). */
(function () {
  'use strict';

  var RESET_MS = 2000;

  function announce(message) {
    var live = document.getElementById('live');
    if (!live) { return; }
    live.textContent = '';
    window.setTimeout(function () { live.textContent = message; }, 30);
  }

  function fallbackCopy(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.setAttribute('aria-hidden', 'true');
    area.tabIndex = -1;
    area.style.position = 'fixed';
    area.style.top = '0';
    area.style.left = '-9999px';
    area.style.opacity = '0';
    document.body.appendChild(area);
    var focused = document.activeElement;
    area.focus();
    area.select();
    area.setSelectionRange(0, text.length);
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area);
    if (focused && typeof focused.focus === 'function') { focused.focus(); }
    return ok;
  }

  function copyText(text) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      try {
        return navigator.clipboard.writeText(text).then(
          function () { return true; },
          function () { return fallbackCopy(text); }
        );
      } catch (e) { /* fall through to the textarea */ }
    }
    return Promise.resolve(fallbackCopy(text));
  }

  function selectText(element) {
    var selection = window.getSelection && window.getSelection();
    if (!selection) { return; }
    var range = document.createRange();
    range.selectNodeContents(element);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function showResult(button, target, ok) {
    var label = button.getAttribute('aria-label') || 'Copy';
    if (!button.hasAttribute('data-label')) { button.setAttribute('data-label', button.textContent); }
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    button.classList.toggle('copied', ok);
    button.classList.toggle('copy-failed', !ok);
    if (ok) {
      announce('Copied: ' + label.replace(/^Copy /, ''));
    } else {
      selectText(target);
      announce('Copy failed; the text is selected, press Ctrl+C');
    }
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = button.getAttribute('data-label');
      button.classList.remove('copied', 'copy-failed');
    }, RESET_MS);
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-copy-target]');
    if (!button) { return; }
    var target = document.getElementById(button.getAttribute('data-copy-target'));
    if (!target) { return; }
    copyText(target.textContent.trim()).then(
      function (ok) { showResult(button, target, ok); },
      function () { showResult(button, target, false); }
    );
  });
}());
