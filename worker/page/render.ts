/**
 * The model page as one HTML document. Every manifest-, config- or request-derived string goes through
 * hono/html's `html` tag, which escapes interpolated strings; `raw` is used only for our own constant
 * CSS/JS and for JSON made safe for a <script> element (see scriptJson).
 */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Manifest } from '../model/manifest.ts';
import type { ModelState } from '../model/types.ts';
import { CLIENT_JS } from './client/index.ts';
import { examples } from './examples.ts';
import { cardFacts, evalTable, formatBytes, limitFacts, modelFacts, type Fact } from './facts.ts';
import { CSS } from './style.ts';
import type { PageConfig } from './types.ts';

export interface PageView {
  /** The request's origin, e.g. https://edge-gpt2.example.workers.dev: every example URL starts with it. */
  origin: string;
  modelId: string;
  manifest: Manifest | null;
  /** Why the manifest could not be read (safe to show); null when it was read or not asked for. */
  manifestError: string | null;
  state: ModelState;
  config: PageConfig;
  /** Where the playground streams one sequence from (TGI events) and several (OpenAI chunks with n). */
  streamUrl: string;
  /** The stream URL is the HF route, which streams only when the body says `"stream": true`. */
  streamFlag: boolean;
  multiUrl: string;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** JSON inside <script>: `<` escaped so no string can close the element or open a comment. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function factList(facts: Fact[]): Html {
  return html`<dl>${facts.map((f) => html`<dt>${f.label}</dt><dd>${f.items ? factList(f.items) : f.value}</dd>`)}</dl>`;
}

function stateText(s: ModelState, m: Manifest | null): string {
  switch (s.state) {
    case 'unloaded': {
      const size = m ? ` (${formatBytes(m.memory.weights_bytes)} of weights)` : '';
      return `not loaded yet — the first request loads it${size}`;
    }
    case 'loading': {
      const p = s.progress;
      const pct = p.totalBytes > 0 ? Math.floor((100 * p.loadedBytes) / p.totalBytes) : 0;
      return `loading: ${p.phase} ${pct}% (${formatBytes(p.loadedBytes)} of ${formatBytes(p.totalBytes)})`;
    }
    case 'ready':
      return 'loaded and ready';
    case 'failed':
      return `the last load failed: ${s.error} — the next request retries`;
  }
}

function cardSection(m: Manifest | null, error: string | null): Html {
  if (!m) {
    return html`<section aria-labelledby="card-h"><h2 id="card-h">Model card</h2>
<p class="notice">${error ?? 'The model card appears once the model has been loaded.'}</p></section>`;
  }
  const ev = m.card?.['eval'];
  const table = ev === undefined ? null : evalTable(ev);
  return html`<section aria-labelledby="card-h"><h2 id="card-h">Model card</h2>
${factList(modelFacts(m))}
${cardFacts(m.card).length > 0 ? html`<h3>About</h3>${factList(cardFacts(m.card))}` : ''}
${
  ev === undefined
    ? ''
    : html`<h3>Evaluation</h3>${
        table
          ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Evaluation results"><table><thead><tr>${table.columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
<tbody>${table.rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table></div>`
          : html`<pre>${JSON.stringify(ev, null, 2)}</pre>`
      }`
}
</section>`;
}

/** A number field: label, input, then a hint the input is described by (shown under it). */
function num(name: string, value: string, placeholder: string, hint: string, step = 'any'): Html {
  return html`<div><label for="p-${name}">${name}</label>
<input id="p-${name}" name="${name}" type="number" step="${step}" value="${value}" placeholder="${placeholder}" aria-describedby="p-${name}-hint">
<span id="p-${name}-hint" class="hint">${hint}</span></div>`;
}

function playground(v: PageView): Html {
  const maxNew = Math.min(64, v.config.maxNewTokens);
  return html`<section aria-labelledby="pg-h"><h2 id="pg-h">Query this model</h2>
<form id="pg-form" novalidate>
<label for="p-inputs">Prompt</label>
<textarea id="p-inputs" name="inputs" rows="4" aria-describedby="p-inputs-hint">The meaning of life is</textarea>
<p id="p-inputs-hint" class="hint">Ctrl+Enter generates, Escape stops.</p>
<fieldset><legend>Parameters</legend><div class="grid">
${num('max_new_tokens', String(maxNew), '', `1 to ${v.config.maxNewTokens}`, '1')}
${num('temperature', '0.8', '1.0', '> 0; with do_sample')}
${num('top_k', '50', 'off', 'empty = off', '1')}
${num('top_p', '', 'off', '(0, 1]; empty = off')}
${num('repetition_penalty', '', '1.0', '> 0; 1 = off')}
${num('seed', '', 'random', 'same seed, same text')}
${num('num_return_sequences', '1', '1', '> 1 streams via /v1/completions', '1')}
<div><label for="p-stop">stop</label>
<textarea id="p-stop" name="stop" rows="1" aria-describedby="p-stop-hint"></textarea>
<span id="p-stop-hint" class="hint">one per line; \\n = newline</span></div>
<div class="check"><input id="p-do_sample" name="do_sample" type="checkbox" checked><label for="p-do_sample">do_sample</label></div>
</div></fieldset>
${
  v.config.authEnabled
    ? html`<label for="p-api_key">API key</label>
<input id="p-api_key" name="api_key" type="password" autocomplete="off" required aria-describedby="p-api_key-hint">
<span id="p-api_key-hint" class="hint">Sent as Authorization: Bearer; kept in this page only.</span>`
    : ''
}
<div class="actions"><button type="submit" id="pg-generate">Generate</button>
<button type="button" id="pg-stop" disabled>Stop</button></div>
</form>
<p id="pg-status" class="status" role="status" aria-live="polite"></p>
<progress id="pg-progress" max="100" value="0" hidden aria-label="Model loading progress"></progress>
<h3 id="pg-output-h">Output</h3>
<div id="pg-output" role="region" aria-labelledby="pg-output-h" aria-live="polite" aria-busy="false" tabindex="0"></div>
<p id="pg-stats" class="stats" aria-live="off"></p>
<details><summary>Raw events (JSON)</summary><pre id="pg-raw" tabindex="0" aria-label="Raw events, one per line"></pre></details>
</section>`;
}

function examplesSection(v: PageView): Html {
  return html`<section id="examples" aria-labelledby="ex-h"><h2 id="ex-h">Use it from code</h2>
<p>Endpoint: <code>${v.origin}</code>${v.config.authEnabled ? html` — set <code>API_KEY</code> to one of the server's keys.` : ''}</p>
${examples(v.origin, v.modelId, v.config.authEnabled).map(
  (e) => html`<figure class="example"><figcaption><span id="${e.id}-t">${e.title}</span>
<button type="button" data-copy="${e.id}" aria-describedby="${e.id}-t">Copy</button></figcaption>
<pre tabindex="0"><code id="${e.id}">${e.code}</code></pre></figure>`,
)}
</section>`;
}

export async function renderPage(v: PageView): Promise<string> {
  const m = v.manifest;
  const description = typeof m?.card?.['description'] === 'string' ? m.card['description'] : null;
  const pageConfig = {
    model: v.modelId,
    streamUrl: v.streamUrl,
    streamFlag: v.streamFlag,
    multiUrl: v.multiUrl,
    authEnabled: v.config.authEnabled,
  };
  const doc = await html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${v.modelId} · edge-gpt2</title>
<style>${raw(CSS)}</style></head>
<body data-state="idle"><header>
<h1>${v.modelId}</h1>
${description ? html`<p>${description}</p>` : ''}
<p><span class="badge">GPT-2 on Cloudflare Workers</span> Model state: <span id="model-state">${stateText(v.state, m)}</span></p>
</header>
<main>
${playground(v)}
<div>${cardSection(m, v.manifestError)}
<section aria-labelledby="limits-h" style="margin-top:1.5rem"><h2 id="limits-h">Server limits</h2>${factList(limitFacts(v.config, m))}</section></div>
${examplesSection(v)}
</main>
<script type="application/json" id="page-config">${raw(scriptJson(pageConfig))}</script>
<script>${raw(CLIENT_JS)}</script>
</body></html>`;
  return doc.toString();
}
