/**
 * Server-sent events, byte for byte (WHATWG HTML §9.2). Pure: a message in, the exact text out.
 *
 * - `data` may hold newlines: each line becomes its own `data:` field (the parser joins them with \n).
 * - A comment (`: text`) is ignored by parsers; we use it for keep-alive and load progress.
 * - Every message ends with a blank line so the client dispatches it at once.
 */
export type SSEMessage = { event?: string; id?: string; data: string } | { comment: string };

export function encodeSSE(msg: SSEMessage): string {
  if ('comment' in msg) {
    return (
      msg.comment
        .split(/\r\n|\r|\n/)
        .map((line) => `: ${line}\n`)
        .join('') + '\n'
    );
  }
  let out = '';
  if (msg.event !== undefined) out += `event: ${oneLine(msg.event, 'event')}\n`;
  if (msg.id !== undefined) out += `id: ${oneLine(msg.id, 'id')}\n`;
  for (const line of msg.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}

/** A `data:` message holding one JSON value (JSON text never contains a raw newline). */
export function jsonMessage(value: unknown): SSEMessage {
  return { data: JSON.stringify(value) };
}

function oneLine(value: string, field: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`SSE ${field} must not contain CR or LF`);
  return value;
}
