import { describe, expect, it } from 'vitest';
import { judge, parseTotalUpload, WORKER_SIZE_LIMITS } from '../../scripts/check-deploy.ts';

describe('check:deploy', () => {
  it("reads wrangler's Total Upload line", () => {
    expect(parseTotalUpload('x\nTotal Upload: 14824.56 KiB / gzip: 3795.67 KiB\ny')).toEqual({
      raw: Math.round(14824.56 * 1024),
      gzip: Math.round(3795.67 * 1024),
    });
    expect(parseTotalUpload('no size here')).toBeNull();
  });

  it('fails over the uncompressed limit or the former paid gzip limit, not the former free one', () => {
    const { uncompressed, formerGzipFree, formerGzipPaid } = WORKER_SIZE_LIMITS;
    expect(judge({ raw: 15 * 2 ** 20, gzip: formerGzipFree.bytes + 1 }).ok).toBe(true);
    expect(judge({ raw: uncompressed.bytes + 1, gzip: 1 }).ok).toBe(false);
    expect(judge({ raw: 1, gzip: formerGzipPaid.bytes + 1 }).ok).toBe(false);
    expect(judge({ raw: 1, gzip: formerGzipFree.bytes + 1 }).lines[1]).toMatch(/OVER$/);
  });
});
