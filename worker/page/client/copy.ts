/**
 * The examples' Copy buttons (plain ES2020 as a string, like playground.ts). The Clipboard API needs a
 * secure context (https or localhost); elsewhere, or when it is refused, the code is selected instead
 * so Ctrl+C copies it.
 */
export const COPY_JS = String.raw`
(function () {
  'use strict';
  Array.prototype.forEach.call(document.querySelectorAll('button[data-copy]'), function (b) {
    b.addEventListener('click', function () {
      var code = document.getElementById(b.getAttribute('data-copy')).textContent;
      var ok = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(code).then(ok, function () { selectCode(b); });
      else selectCode(b);
    });
  });
  function selectCode(b) {
    var range = document.createRange(); range.selectNodeContents(document.getElementById(b.getAttribute('data-copy')));
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
  }
})();
`;
