"""Hugging Face GPT-2 checkpoint layout, written and read by hand.

model.safetensors: 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets}, "__metadata__": {"format": "pt"}}, then
the raw little-endian tensor bytes. Weights are stored as float16; readers
(reference.py, the TypeScript converter) cast them to float32, so every
reference output is computed from exactly what is on disk.
"""
import json
import os
import struct

import numpy as np
import torch

from model import GPT, GPTConfig

DTYPES = {'F16': np.float16, 'F32': np.float32}


def hf_config(cfg: GPTConfig) -> dict:
    # Mirrors the `gpt2` repo's config.json; n_ctx kept for old readers.
    return {
        'activation_function': 'gelu_new',
        'architectures': ['GPT2LMHeadModel'],
        'attn_pdrop': 0.0,
        'bos_token_id': cfg.eos_token_id,
        'embd_pdrop': 0.0,
        'eos_token_id': cfg.eos_token_id,
        'initializer_range': 0.02,
        'layer_norm_epsilon': cfg.layer_norm_epsilon,
        'model_type': 'gpt2',
        'n_ctx': cfg.n_positions,
        'n_embd': cfg.n_embd,
        'n_head': cfg.n_head,
        'n_inner': None,
        'n_layer': cfg.n_layer,
        'n_positions': cfg.n_positions,
        'reorder_and_upcast_attn': False,
        'resid_pdrop': 0.0,
        'scale_attn_by_inverse_layer_idx': False,
        'scale_attn_weights': True,
        'summary_activation': None,
        'summary_first_dropout': 0.1,
        'summary_proj_to_labels': True,
        'summary_type': 'cls_index',
        'summary_use_proj': True,
        'torch_dtype': 'float16',
        'use_cache': True,
        'vocab_size': cfg.vocab_size,
    }


def write_safetensors(path: str, tensors: dict, dtype=np.float16, metadata=None):
    header = {'__metadata__': metadata or {'format': 'pt'}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        arr = np.ascontiguousarray(t.detach().cpu().numpy().astype(dtype))
        b = arr.astype(arr.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': 'F16' if dtype == np.float16 else 'F32', 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hjson = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hjson += b' ' * ((8 - len(hjson) % 8) % 8)  # align tensor data to 8 bytes, as the Rust writer does
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind


def read_safetensors(path: str) -> dict:
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        if info['dtype'] == 'BF16':  # bfloat16 is the top half of a float32
            bits = np.frombuffer(data[a:b], dtype='<u2').astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info['dtype'] in DTYPES:
            arr = np.frombuffer(data[a:b], dtype=np.dtype(DTYPES[info['dtype']]).newbyteorder('<'))
        else:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}; supported: F16, F32, BF16")
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(info['shape']))
    return out


def hf_state_dict(model: GPT) -> dict:
    """What GPT2LMHeadModel.save_pretrained writes: transformer.* only
    (lm_head.weight is tied to wte and dropped); HF also has no attn.bias
    buffer in safetensors since transformers 4.31. Dropout has no state."""
    sd = {k: v for k, v in model.state_dict().items()}
    assert all(k.startswith('transformer.') for k in sd), 'Hugging Face names: transformer.*'
    return sd


def save_checkpoint(model: GPT, out_dir: str):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump(hf_config(model.cfg), f, indent=2)
        f.write('\n')
    with open(os.path.join(out_dir, 'generation_config.json'), 'w') as f:
        json.dump({'bos_token_id': model.cfg.eos_token_id, 'eos_token_id': model.cfg.eos_token_id}, f, indent=2)
        f.write('\n')
    write_safetensors(os.path.join(out_dir, 'model.safetensors'), hf_state_dict(model))


def load_checkpoint(ckpt_dir: str) -> GPT:
    with open(os.path.join(ckpt_dir, 'config.json')) as f:
        c = json.load(f)
    cfg = GPTConfig(n_layer=c['n_layer'], n_head=c['n_head'], n_embd=c['n_embd'], n_positions=c['n_positions'],
                    vocab_size=c['vocab_size'], layer_norm_epsilon=c['layer_norm_epsilon'], eos_token_id=c['eos_token_id'])
    model = GPT(cfg)
    sd = read_safetensors(os.path.join(ckpt_dir, 'model.safetensors'))
    sd = {k if k.startswith('transformer.') else 'transformer.' + k: v for k, v in sd.items()}
    model.load_state_dict(sd, strict=True)  # every name and shape must match
    model.eval()
    return model
