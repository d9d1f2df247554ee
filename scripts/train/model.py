"""GPT-2 in plain torch, written for this project (nanoGPT-style).

Parameter names mirror Hugging Face's GPT2LMHeadModel state dict
(transformer.wte.weight, transformer.h.0.attn.c_attn.weight, ...), and the
linear layers are GPT-2's Conv1D: weight [in, out], y = x @ W + b, so a
checkpoint is a name-for-name dump with no transposes.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    n_positions: int = 1024
    vocab_size: int = 50257
    layer_norm_epsilon: float = 1e-5
    eos_token_id: int = 50256
    # Training only (GPT-2's embd_pdrop / attn_pdrop / resid_pdrop, one value): a checkpoint's
    # config.json always says 0.0, as inference runs without dropout.
    dropout: float = 0.0

    def to_dict(self):
        return asdict(self)


class Conv1D(nn.Module):
    """GPT-2's linear layer: weight stored [in, out]."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


def gelu_new(x):
    # GPT-2's tanh approximation ("gelu_new" in HF).
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# torch >= 2.0 has a fused (flash) attention kernel; Debian's torch 1.13 does not. Both compute the same maths.
HAS_SDPA = hasattr(F, 'scaled_dot_product_attention')


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.c_attn = Conv1D(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd)
        self.p = cfg.dropout
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each [B, T, C]
        hd = C // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)  # [B, n_head, T, head_dim]
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        if HAS_SDPA and x.is_cuda:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # [B, n_head, T, T]
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float('-inf'))
            att = self.attn_dropout(F.softmax(att, dim=-1))
            y = att @ v  # [B, n_head, T, head_dim]
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # [B, T, C]
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = Conv1D(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = Conv1D(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, idx):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # [B, T, C]
        for block in self.h:
            x = block(x)
        return self.ln_f(x)  # [B, T, C]


class TiedLMLoss(torch.autograd.Function):
    """Mean cross-entropy of (h @ W^T) without autograd's extra [N, vocab]
    buffers: the 50257-way output layer dominates CPU training, and
    log_softmax + nll + their backward each stream that matrix through memory.
    Backward reuses the logits buffer in place for softmax - onehot.
    Same maths as F.cross_entropy(h @ W.t(), y) (checked in sweep tests)."""

    @staticmethod
    def forward(ctx, h, W, y):  # h [N, C], W [vocab, C], y [N]
        logits = h @ W.t()  # [N, vocab]
        lse = torch.logsumexp(logits, dim=1)  # [N]
        loss = (lse - logits.gather(1, y[:, None]).squeeze(1)).mean()
        ctx.save_for_backward(h, W, y, logits, lse)
        return loss

    @staticmethod
    def backward(ctx, g):
        h, W, y, logits, lse = ctx.saved_tensors
        probs = logits.sub_(lse[:, None]).exp_()  # softmax, in place: [N, vocab]
        probs[torch.arange(len(y)), y] -= 1.0
        scale = float(g) / len(y)
        grad_h = torch.addmm(h, probs, W, beta=0, alpha=scale)  # [N, C]
        grad_W = torch.addmm(W, probs.t(), h, beta=0, alpha=scale)  # [vocab, C]
        return grad_h, grad_W, None


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = Transformer(cfg)
        self.init_weights()

    def init_weights(self):
        # GPT-2 init: N(0, 0.02) everywhere, residual projections scaled by
        # 1/sqrt(2 * n_layer), biases zero, LayerNorm (1, 0).
        for name, p in self.named_parameters():
            if name.endswith('ln_1.weight') or name.endswith('ln_2.weight') or name.endswith('ln_f.weight'):
                nn.init.ones_(p)
            elif name.endswith('.bias'):
                nn.init.zeros_(p)
            elif name.endswith('c_proj.weight'):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def hidden(self, idx):
        return self.transformer(idx)

    def forward(self, idx, targets=None):
        h = self.transformer(idx)  # [B, T, C]
        W = self.transformer.wte.weight  # tied LM head
        if targets is None:
            return h @ W.t(), None  # [B, T, vocab]
        if self.training and not h.is_cuda:
            return None, TiedLMLoss.apply(h.reshape(-1, h.shape[-1]), W, targets.reshape(-1))
        logits = h @ W.t()  # on a GPU (bf16 under autocast) memory is not the bottleneck: plain cross-entropy
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.reshape(-1))

    def num_params(self):
        return sum(p.numel() for p in self.parameters())
