/** Every converter failure: a machine-readable code and a message that says what to do. */
export type ConvertErrorCode =
  | 'bad_args'
  | 'missing_file'
  | 'bad_config'
  | 'bad_safetensors'
  | 'truncated'
  | 'unsupported_dtype'
  | 'missing_tensor'
  | 'bad_shape'
  | 'untied_lm_head'
  | 'missing_tokenizer'
  | 'bad_tokenizer'
  | 'io';

export class ConvertError extends Error {
  override name = 'ConvertError';
  constructor(
    readonly code: ConvertErrorCode,
    message: string,
  ) {
    super(message);
  }
}
