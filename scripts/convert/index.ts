export { convert, CONVERTER } from './convert.ts';
export type { ConvertOptions, ConvertResult } from './convert.ts';
export { ConvertError } from './errors.ts';
export type { ConvertErrorCode } from './errors.ts';
export type { QuantMethod } from './weights.ts';
