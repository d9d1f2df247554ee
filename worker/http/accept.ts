/**
 * Does this Accept header prefer HTML over JSON? Browsers send `text/html,…,*\/*;q=0.8`; API clients
 * send `application/json`, `*\/*` (curl) or nothing. A tie (e.g. a bare `*\/*`) goes to the API, so only
 * a client that asks for HTML more than JSON gets the page at `GET /models/:model`.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').map((part) => {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim());
      if (k === 'q' && v !== undefined) q = Number.isFinite(Number(v)) ? Number(v) : 0;
    }
    return { type: type.trim(), q };
  });
  // The q of the most specific range that matches (RFC 9110 §12.5.1).
  const qOf = (mime: string): number => {
    const [major] = mime.split('/');
    let best = -1;
    let q = 0;
    for (const r of ranges) {
      const spec = r.type === mime ? 3 : r.type === `${major}/*` ? 2 : r.type === '*/*' ? 1 : 0;
      if (spec > best && spec > 0) {
        best = spec;
        q = r.q;
      }
    }
    return q;
  };
  const htmlQ = qOf('text/html');
  return htmlQ > 0 && htmlQ > qOf('application/json');
}
