/**
 * The playground's browser script (plain ES2020 as a string: no build step, nothing from a CDN).
 * Reads its settings from <script type="application/json" id="page-config"> (render.ts writes it).
 *
 * One sequence streams from the TGI endpoint (`cfg.streamUrl`): TGI token events, then a final event with
 * generated_text + details. Several sequences (num_return_sequences > 1) stream from `cfg.multiUrl`
 * (OpenAI completions with n; choices[].index says which sequence a delta belongs to), because TGI's
 * stream has no sequence index. Stop aborts the fetch: the server sees the disconnect and stops
 * generating at its next step. Validation is the server's: the form is `novalidate` and sends what
 * was typed, so the error shown is exactly the API's.
 */
import { COPY_JS } from './copy.ts';
import { SSE_PARSER_JS } from './sse.ts';

const PLAYGROUND_JS = String.raw`
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var cfg = JSON.parse($('page-config').textContent);
  var out = $('pg-output'), statusEl = $('pg-status'), progress = $('pg-progress');
  var stats = $('pg-stats'), raw = $('pg-raw'), genBtn = $('pg-generate'), stopBtn = $('pg-stop');
  var NUMS = ['max_new_tokens', 'temperature', 'top_k', 'top_p', 'repetition_penalty', 'seed', 'num_return_sequences'];
  var ctrl = null, st = null, RAW_MAX = 400;

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = 'status ' + (kind || 'info');
  }
  function setProgress(pct) {
    if (pct === null) { progress.hidden = true; return; }
    progress.hidden = false; progress.value = pct;
  }
  function logRaw(line) {
    if (st.rawLines >= RAW_MAX) { if (st.rawLines++ === RAW_MAX) raw.textContent += '… (later events not shown)\n'; return; }
    st.rawLines++;
    raw.textContent += line + '\n';
  }
  function readParams() {
    var p = {};
    NUMS.forEach(function (k) {
      var v = $('p-' + k).value.trim();
      if (v === '') return;
      var n = Number(v);
      p[k] = Number.isFinite(n) ? n : v; // not a number: send it as typed, the server names the field
    });
    // One stop sequence per line; \n and \t typed literally stand for newline and tab.
    var stop = $('p-stop').value.split('\n').filter(function (s) { return s !== ''; })
      .map(function (s) { return s.replace(/\\n/g, '\n').replace(/\\t/g, '\t'); });
    if (stop.length) p.stop = stop;
    p.do_sample = $('p-do_sample').checked;
    return p;
  }
  function headers() {
    var h = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
    var key = $('p-api_key');
    if (key && key.value.trim()) h.Authorization = 'Bearer ' + key.value.trim();
    return h;
  }
  // TGI/HF parameters → OpenAI completions (greedy = temperature 0; top_k and repetition_penalty are
  // accepted as extensions, like vLLM does).
  function openAiBody(inputs, p) {
    var b = { model: cfg.model, prompt: inputs, stream: true, n: p.num_return_sequences };
    if (p.max_new_tokens !== undefined) b.max_tokens = p.max_new_tokens;
    if (p.do_sample) { if (p.temperature !== undefined) b.temperature = p.temperature; } else b.temperature = 0;
    ['top_p', 'top_k', 'repetition_penalty', 'seed', 'stop'].forEach(function (k) { if (p[k] !== undefined) b[k] = p[k]; });
    return b;
  }
  function reset(inputs, n) {
    out.textContent = ''; raw.textContent = '';
    st = { tokens: 0, first: 0, last: 0, t0: performance.now(), done: 0, n: n, seqs: [], rawLines: 0, ended: false };
    for (var i = 0; i < n; i++) {
      var block = document.createElement('div');
      block.className = 'seq';
      if (n > 1) { var h = document.createElement('span'); h.className = 'seq-label'; h.textContent = 'Sequence ' + (i + 1); block.appendChild(h); }
      var pr = document.createElement('span'); pr.className = 'prompt'; pr.textContent = inputs;
      var gen = document.createElement('span'); gen.className = 'gen';
      block.appendChild(pr); block.appendChild(gen); out.appendChild(block);
      st.seqs.push(gen);
    }
    stats.textContent = '';
  }
  function showStats() {
    var s = st.tokens + ' token' + (st.tokens === 1 ? '' : 's');
    if (st.tokens > 1 && st.last > st.first) s += ' · ' + ((st.tokens - 1) / ((st.last - st.first) / 1000)).toFixed(1) + ' tokens/s';
    if (st.first) s += ' · first token after ' + Math.round(st.first - st.t0) + ' ms';
    stats.textContent = s;
  }
  function append(seq, text) {
    var gen = st.seqs[seq] || st.seqs[0];
    if (text) gen.appendChild(document.createTextNode(text));
    var now = performance.now();
    if (!st.first) { st.first = now; setStatus('Generating…', 'info'); setProgress(null); modelState('loaded and ready'); }
    st.last = now; st.tokens++;
    showStats();
  }
  function modelState(text) { var el = $('model-state'); if (el) el.textContent = text; }
  function fail(msg) { st.ended = true; setStatus(msg, 'error'); setProgress(null); }
  function onComment(text) {
    logRaw(':' + text);
    var m = /^loading\b(.*)$/.exec(text);
    if (!m) return;
    setStatus('Loading the model' + m[1].replace(/^:?\s*/, ': ') + ' — the first request after a cold start fetches its weights.', 'loading');
    var pct = /(\d+(?:\.\d+)?)%/.exec(text);
    setProgress(pct ? Number(pct[1]) : null);
    modelState('loading' + m[1]);
  }
  function onEvent(ev) {
    logRaw((ev.event !== 'message' ? 'event: ' + ev.event + ' ' : '') + ev.data);
    if (ev.data === '[DONE]') return;
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return fail('The server sent an event that is not JSON.'); }
    if (d.error !== undefined || ev.event === 'error') {
      var e = d.error;
      var msg = typeof e === 'string' ? e : (e && e.message) || 'unknown error';
      var type = d.error_type || (e && e.type);
      if (type === 'model_load') modelState('the last load failed — the next request retries');
      return fail('Error' + (type ? ' (' + type + ')' : '') + ': ' + msg);
    }
    if (d.choices) { // OpenAI chunk
      d.choices.forEach(function (c) {
        append(c.index, c.text);
        if (c.finish_reason) { st.done++; if (st.done === st.n) finish('finish_reason ' + c.finish_reason); }
      });
      return;
    }
    if (d.token) {
      append(0, d.token.special ? '' : d.token.text);
      if (d.generated_text !== null && d.generated_text !== undefined) {
        var det = d.details || {};
        finish('finish_reason ' + det.finish_reason + (det.seed !== undefined && det.seed !== null ? ', seed ' + det.seed : ''));
      }
    }
  }
  function finish(why) { st.ended = true; setStatus('Done (' + why + ').', 'done'); }
  async function httpError(res) {
    var text = await res.text(), msg = text, type = '';
    try {
      var d = JSON.parse(text);
      if (typeof d.error === 'string') { msg = d.error; type = d.error_type || ''; }
      else if (d.error && d.error.message) { msg = d.error.message; type = d.error.type || ''; }
      logRaw(JSON.stringify(d, null, 2));
    } catch (e) { logRaw(text); }
    fail('Error ' + res.status + (type ? ' (' + type + ')' : '') + ': ' + (msg || res.statusText));
  }
  function running(on) {
    // Keyboard users keep their place: focus moves to the button that is enabled now.
    var from = document.activeElement;
    genBtn.disabled = on; stopBtn.disabled = !on;
    if (on && from === genBtn) stopBtn.focus();
    if (!on && from === stopBtn) genBtn.focus();
    out.setAttribute('aria-busy', on ? 'true' : 'false');
    document.body.dataset.state = on ? 'running' : 'idle';
  }
  async function generate(evt) {
    evt.preventDefault();
    if (ctrl) return;
    var inputs = $('p-inputs').value, p = readParams();
    var n = p.num_return_sequences === undefined ? 1 : p.num_return_sequences;
    reset(inputs, Number.isInteger(n) && n > 0 ? n : 1);
    // The one check made here: it picks the endpoint (TGI streams one sequence, OpenAI several).
    if (!Number.isInteger(n) || n < 1) return fail('num_return_sequences must be a positive integer.');
    var url = n > 1 ? cfg.multiUrl : cfg.streamUrl;
    var body;
    if (n > 1) body = openAiBody(inputs, p);
    else {
      delete p.num_return_sequences;
      p.details = true; // finish_reason and seed on the last event
      body = { inputs: inputs, parameters: p };
      // HF route: streams only when asked, and answers 503 while loading unless told to wait.
      if (cfg.streamFlag) { body.stream = true; body.options = { wait_for_model: true }; }
    }
    ctrl = new AbortController();
    running(true);
    setStatus('Sending request…', 'info'); setProgress(null);
    try {
      var res = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: ctrl.signal });
      if (!res.ok) { await httpError(res); return; }
      setStatus('Waiting for the first token…', 'info');
      var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      var parser = createSseParser(onEvent, onComment);
      for (;;) {
        var r = await reader.read();
        if (r.done) break;
        parser.feed(r.value);
      }
      if (!st.ended) fail('The stream ended before the final event.');
    } catch (e) {
      if (e && e.name === 'AbortError') { st.ended = true; setStatus('Stopped after ' + st.tokens + ' token' + (st.tokens === 1 ? '' : 's') + '.', 'info'); setProgress(null); }
      else fail('Network error: ' + (e && e.message));
    } finally {
      ctrl = null; running(false);
    }
  }
  function stop() { if (ctrl) ctrl.abort(); }

  $('pg-form').addEventListener('submit', generate);
  stopBtn.addEventListener('click', stop);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && ctrl) stop();
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && e.target && e.target.id === 'p-inputs') $('pg-form').requestSubmit();
  });
  running(false);
})();
`;

export const CLIENT_JS = SSE_PARSER_JS + PLAYGROUND_JS + COPY_JS;
