export {
  buildGpt2TokenizerFiles,
  writeGpt2Tokenizer,
  parseRanks,
  EOS_ID,
  EOS_TOKEN,
  VOCAB_SIZE,
  MODEL_MAX_LENGTH,
} from './build-gpt2-tokenizer.ts';
export type { Gpt2TokenizerFiles } from './build-gpt2-tokenizer.ts';
