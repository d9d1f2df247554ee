/**
 * The playground's SSE parser, shipped to the browser as source text (the page has no build step and
 * may fetch nothing from a CDN, so eventsource-parser cannot be imported there; the subset we need is
 * ~30 lines). Why fetch + a parser rather than EventSource: EventSource can only GET and cannot send an
 * Authorization header (the key would have to go in the URL, where it lands in logs), cannot report the
 * status/JSON of a 4xx before the stream, and reconnects on its own after the server closes — a
 * generation must never be silently re-run. fetch gives POST + headers + AbortController (Stop).
 *
 * Spec subset (WHATWG HTML §9.2.6): lines end in CRLF, LF or CR; `:` starts a comment (our server sends
 * `: loading 35% (…)` while the model loads); `data` lines accumulate with "\n"; `event` names the
 * message; a blank line dispatches. `id`/`retry` are ignored (no reconnection). Input is text: the
 * caller decodes bytes with a streaming TextDecoder, so a UTF-8 character split across chunks is safe.
 *
 * Kept as plain ES2020 in a string: unit tests evaluate exactly these bytes (test/unit/page/sse.test.ts).
 */
export const SSE_PARSER_JS = String.raw`
function createSseParser(onEvent, onComment) {
  var buf = '';
  var data = null;
  var name = '';
  var pendingCR = false;
  function line(l) {
    if (l === '') {
      if (data !== null) onEvent({ event: name || 'message', data: data });
      data = null;
      name = '';
      return;
    }
    if (l.charCodeAt(0) === 58) { onComment(l.slice(1).replace(/^ /, '')); return; }
    var i = l.indexOf(':');
    var field = i < 0 ? l : l.slice(0, i);
    var value = i < 0 ? '' : l.slice(i + 1).replace(/^ /, '');
    if (field === 'data') data = data === null ? value : data + '\n' + value;
    else if (field === 'event') name = value;
  }
  return {
    feed: function (chunk) {
      // A CR at the end of the previous chunk may be the first half of a CRLF.
      if (pendingCR && chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
      pendingCR = false;
      buf += chunk;
      var start = 0;
      for (var i = 0; i < buf.length; i++) {
        var c = buf.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buf.slice(start, i));
        if (c === 13) {
          if (i + 1 === buf.length) pendingCR = true;
          else if (buf.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buf = buf.slice(start);
    },
  };
}
`;
