/**
 * The page's stylesheet, inlined (one request, nothing from a CDN). System fonts only. One column on
 * narrow screens, playground + card side by side from 60rem. Focus is always visible (:focus-visible
 * ring with enough contrast in both colour schemes).
 */
export const CSS = String.raw`
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #57606a; --bg: #fff; --panel: #f6f8fa; --line: #d0d7de;
  --accent: #0969da; --err: #b3261e; --ok: #1a7f37; --gen: #0a3069; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --panel: #161b22;
  --line: #30363d; --accent: #4493f8; --err: #ff7b72; --ok: #3fb950; --gen: #a5d6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 80rem; margin: 0 auto; padding: 1rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.6rem; overflow-wrap: anywhere; }
header p { margin: .25rem 0; color: var(--muted); }
.badge { display: inline-block; padding: 0 .5rem; border: 1px solid var(--line); border-radius: 1rem; font-size: .85rem; }
main { display: grid; gap: 1.5rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 60rem) { main { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); } #examples { grid-column: 1 / -1; } }
section { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; min-width: 0; }
h2 { margin: 0 0 .75rem; font-size: 1.2rem; }
h3 { margin: 1rem 0 .5rem; font-size: 1rem; }
label { display: block; font-weight: 600; font-size: .9rem; }
textarea, input { width: 100%; font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: .375rem; padding: .4rem .5rem; }
textarea { resize: vertical; }
fieldset { border: 1px solid var(--line); border-radius: .375rem; margin: .75rem 0; padding: .5rem .75rem .75rem; }
legend { font-weight: 600; padding: 0 .25rem; }
.grid { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); }
.grid label { overflow-wrap: anywhere; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
.hint { display: block; font-weight: 400; color: var(--muted); font-size: .8rem; margin-top: .15rem; }
.check { display: flex; align-items: center; gap: .5rem; }
.check input { width: auto; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
button { font: inherit; font-weight: 600; padding: .45rem 1.1rem; border-radius: .375rem; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button[type=submit] { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: not-allowed; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.status { min-height: 1.5rem; margin: .25rem 0; }
.status.error { color: var(--err); font-weight: 600; }
.status.done { color: var(--ok); }
progress { width: 100%; }
#pg-output { min-height: 6rem; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); border: 1px solid var(--line); border-radius: .375rem; padding: .5rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; }
.seq + .seq { border-top: 1px dashed var(--line); margin-top: .5rem; padding-top: .5rem; }
.seq-label { display: block; font-family: system-ui, sans-serif; font-size: .8rem; color: var(--muted); }
.prompt { color: var(--muted); }
.gen { color: var(--gen); font-weight: 600; }
.stats { color: var(--muted); font-size: .9rem; min-height: 1.35rem; }
pre { margin: 0; overflow-x: auto; background: var(--bg); border: 1px solid var(--line); border-radius: .375rem; padding: .5rem; font-size: .82rem; }
#pg-raw { max-height: 20rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: minmax(7rem, max-content) minmax(0, 1fr); gap: .25rem .75rem; margin: 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
dd dl { font-size: .9rem; grid-template-columns: minmax(5rem, max-content) minmax(0, 1fr); }
@media (max-width: 30rem) { dl { grid-template-columns: minmax(0, 1fr); } dd { margin-bottom: .4rem; } }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
.table-wrap { overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
.example { margin: 0 0 1rem; }
.example figcaption { display: flex; justify-content: space-between; align-items: center; gap: .5rem; font-weight: 600; font-size: .9rem; margin-bottom: .25rem; }
.example button { padding: .2rem .7rem; font-size: .85rem; }
.notice { border-left: 4px solid var(--err); padding: .5rem .75rem; background: var(--bg); }
`;
