"""Hand-written inference paths of a one-layer GRU, for the app's explanations (eval mode only).

``fastpaths.infer``, ``path_gradients`` and ``prefix_logits`` call these for a one-layer GRU,
the shipped architecture: stepping both directions together over buffers they reuse, and
backpropagating by hand, is several times faster than the library GRU plus autograd for a
batch of one review. Tests (``tests/test_model_fastpaths.py``) pin each to its plain definition.
"""

from __future__ import annotations

import torch
from torch import nn

from .padding import reverse_index


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """tanh in place. From a few thousand values on, as 2 sigmoid(2x) - 1 (equal to 2e-7): the CPU
    tanh kernel took 12 us for 5,376 values, sigmoid 3 us (torch 2.13); below, one call costs less."""
    if x.numel() < 2048:
        return x.tanh_()
    return x.mul_(2).sigmoid_().mul_(2).sub_(1)


@torch.no_grad()
def gru_infer(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """``SentimentRNN.infer`` of a one-layer GRU. Rows run longest first, so the rows still reading at a step
    are a leading slice, and the inputs are embedded and projected ``chunk`` steps at a time,
    into one reused buffer. The backward direction reads each review's tokens reversed
    within its length; pooling does not depend on the order of the states, and both
    directions' "last" states are the states they end with.
    """
    hidden, dirs = model.cfg.hidden_dim, model.num_directions
    cells = model.layers[0]
    rows, width = tokens.shape
    lengths, order = lengths.sort(descending=True)
    tokens = tokens[order]
    ids = [tokens] if dirs == 1 else [tokens, tokens.gather(1, reverse_index(lengths, width))]
    ids = torch.stack(ids).transpose(1, 2)  # (D, T, B), time-major
    w_ih_t = torch.stack([c.weight_ih_l0 for c in cells]).transpose(1, 2)  # (D, E, 3H)
    w_hh_t = torch.stack([c.weight_hh_l0 for c in cells]).transpose(1, 2).contiguous()  # (D, H, 3H)
    b_hh = torch.stack([c.bias_hh_l0 for c in cells])  # (D, 3H)
    bias = torch.stack([c.bias_ih_l0 for c in cells])  # (D, 3H): b_ih, and b_hh for r and z
    bias[:, : 2 * hidden] += b_hh[:, : 2 * hidden]
    b_hn = b_hh[:, None, 2 * hidden :]  # (D, 1, H)

    active = (lengths[None, :] > torch.arange(width, device=tokens.device)[:, None]).sum(dim=1).tolist()  # (T,)
    h = b_hh.new_zeros(dirs, rows, hidden)
    top = b_hh.new_full((dirs, rows, hidden), float("-inf"))
    total = b_hh.new_zeros(dirs, rows, hidden)
    gi = b_hh.new_empty(dirs, min(chunk, width) * rows, 3 * hidden)
    gh = b_hh.new_empty(dirs, rows, 3 * hidden)
    pool_max, pool_mean = "max" in model.pooling, "mean" in model.pooling
    gates = [slice(0, 2 * hidden), slice(0, hidden), slice(hidden, 2 * hidden), slice(2 * hidden, None)]
    buffers = (gh, gh[..., : 2 * hidden], gh[..., 2 * hidden :], h, top, total)
    for start in range(0, width, chunk):
        steps = min(chunk, width - start)
        flat = model.embedding(ids[:, start : start + steps]).view(dirs, steps * rows, -1)
        projected = torch.baddbmm(bias[:, None, :], flat, w_ih_t, out=gi[:, : steps * rows])
        projected = projected.view(dirs, steps, rows, 3 * hidden)
        per_step = zip(active[start : start + steps], *(projected[..., part].unbind(1) for part in gates))
        for k, gi_rz, gi_r, gi_z, gi_n in per_step:
            gh_t, gh_rz, gh_n, h_t, top_t, total_t = buffers
            if k < rows:  # the shortest reviews have ended: step the others
                gi_rz, gi_r, gi_z, gi_n = gi_rz[:, :k], gi_r[:, :k], gi_z[:, :k], gi_n[:, :k]
                gh_t, gh_rz, gh_n, h_t, top_t, total_t = (b[:, :k] for b in buffers)
            torch.bmm(h_t, w_hh_t, out=gh_t)
            gi_rz.add_(gh_rz).sigmoid_()  # now r and z
            tanh_(gi_n.addcmul_(gi_r, gh_n.add_(b_hn)))  # now n
            torch.lerp(gi_n, h_t, gi_z, out=h_t)
            if pool_max:
                torch.maximum(top_t, h_t, out=top_t)
            if pool_mean:
                total_t += h_t
    pooled = {"max": top, "mean": total / lengths[None, :, None].to(total.dtype), "last": h}  # (D, B, H)
    feats = torch.cat([pooled[part].transpose(0, 1).reshape(rows, dirs * hidden) for part in model.pooling], dim=-1)
    return model.head(feats)[order.argsort()]


@torch.no_grad()
def gru_path(model: nn.Module, embedded: torch.Tensor, alphas: torch.Tensor, gradients: bool = True,
             head: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``SentimentRNN.path_gradients`` of a one-layer GRU: both directions step together, then backpropagate by hand.

    Every row reads the same tokens scaled by its alpha, so the input projection W_ih x is
    computed once. With gi = alpha W_ih x + b_ih and gh = W_hh h + b_hh split into (r, z, n):
        r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z);  n = tanh(gi_n + r * gh_n)
        h' = (1 - z) * n + z * h
    Everything is kept in each direction's reading order (the backward direction's step t
    reads token T-1-t); pooling over a whole text does not depend on that order, and its
    "last" states are both directions' final states. The backward pass walks the steps in
    reverse, and x_t . dlogit/dx_t = (dlogit/dgi_t) . W_ih x_t. Without ``gradients``, only
    the logits. ``head``: the (weight (D,), bias) of the score to follow (``SentimentRNN.score_head``),
    by default the positive logit of a two-class model.
    """
    hidden, dirs = model.cfg.hidden_dim, model.num_directions
    cells = model.layers[0]
    steps, rows = embedded.size(0), len(alphas)
    w_hh = torch.stack([c.weight_hh_l0 for c in cells])  # (D, 3H, H)
    w_hh_t = w_hh.transpose(1, 2).contiguous()  # (D, H, 3H)
    b_ih = torch.stack([c.bias_ih_l0 for c in cells])  # (D, 3H)
    b_hh = torch.stack([c.bias_hh_l0 for c in cells])  # (D, 3H)
    proj = torch.stack([embedded @ c.weight_ih_l0.T for c in cells])  # (D, T, 3H)
    if dirs == 2:
        proj[1] = proj[1].flip(0)
    proj = proj.transpose(0, 1)[:, :, None, :]  # (T, D, 1, 3H)
    alpha = alphas[None, None, :, None]  # (1, 1, S, 1)

    # Forward, keeping what the backward pass needs, (T, D, S, ...) with one view per step.
    # gh starts as gi + b_hh for r and z, b_hh for n; a step adds W_hh h, then holds
    # (r, z, W_hn h + b_hn). n starts as gi_n and becomes n.
    states = embedded.new_zeros(steps + 1, dirs, rows, hidden)  # states[t]: h before step t
    gh = embedded.new_empty(steps, dirs, rows, 3 * hidden)
    torch.addcmul((b_ih + b_hh)[:, None, : 2 * hidden], alpha, proj[..., : 2 * hidden], out=gh[..., : 2 * hidden])
    gh[..., 2 * hidden :] = b_hh[:, None, 2 * hidden :]
    n = torch.addcmul(b_ih[:, None, 2 * hidden :], alpha, proj[..., 2 * hidden :])  # (T, D, S, H)
    loop = zip(states.unbind(0), states[1:].unbind(0), gh.unbind(0), gh[..., : 2 * hidden].unbind(0),
               gh[..., :hidden].unbind(0), gh[..., hidden : 2 * hidden].unbind(0),
               gh[..., 2 * hidden :].unbind(0), n.unbind(0))
    for h, h_next, gh_t, rz_t, r_t, z_t, gh_n, n_t in loop:
        gh_t.baddbmm_(h, w_hh_t)
        rz_t.sigmoid_()
        tanh_(n_t.addcmul_(r_t, gh_n))
        torch.lerp(n_t, h, z_t, out=h_next)
    outputs = states[1:]  # (T, D, S, H)

    # Pooling and the linear layer; g_all starts as the logit's gradient w.r.t. the states.
    weight, bias = head if head is not None else model.score_head()
    weights = weight.view(len(model.pooling), dirs, 1, hidden)  # per part (D, 1, H)
    g_all = embedded.new_zeros(steps, dirs, rows, hidden)
    logits = bias.expand(rows).clone()
    for part, w in zip(model.pooling, weights):
        if part == "max":
            pooled, where = outputs.max(dim=0)  # (D, S, H)
            g_all.scatter_add_(0, where[None], w.expand(dirs, rows, hidden)[None])
        elif part == "mean":
            pooled = outputs.mean(dim=0)
            g_all += w / steps
        else:  # last: in reading order, both directions' final states
            pooled = outputs[-1]
            g_all[-1] += w
        logits += (pooled * w).sum(dim=(0, 2))
    if not gradients:
        return logits, None

    # Backward. With g = dlogit/dh' at a step: dgi = g * (c_r, c_z, c_n) and dgh = g * (c_r, c_z, c_n r),
    # c_n = (1 - z)(1 - n^2), c_z = (h - n) z (1 - z), c_r = c_n gh_n r (1 - r). These are
    # computed in place, over buffers the forward pass no longer needs: gh ends up holding
    # (c_n r, c_z, c_r), a copy of dgh with the gates in the order (n, z, r), n holds z,
    # and states holds g . to_token's factor.
    r, z, gh_n = gh.split(hidden, dim=-1)
    c_z = (states[:-1] - n).mul_(z)
    c_z.addcmul_(c_z, z, value=-1)
    c_n = n.mul_(n).neg_().add_(1)
    c_n.addcmul_(c_n, z, value=-1)
    c_r = gh_n.mul_(c_n).mul_(r)
    c_r.addcmul_(c_r, r, value=-1)
    x_r, x_z, x_n = proj.split(hidden, dim=-1)  # (T, D, 1, H) each
    to_token = torch.mul(c_r, x_r, out=states[1:]).addcmul_(c_z, x_z).addcmul_(c_n, x_n)  # dgi . W_ih x / g
    r.mul_(c_n)  # c_n r
    c_n.copy_(z)
    z.copy_(c_z)
    z, w_hh = c_n, torch.cat([w_hh[:, 2 * hidden :], w_hh[:, hidden : 2 * hidden], w_hh[:, :hidden]], dim=1)
    # dlogit/dh after step t-1 = its own share + (through step t) g z + dgh W_hh
    loop = zip(gh[1:].unbind(0)[::-1], z[1:].unbind(0)[::-1], g_all[1:].unbind(0)[::-1],
               g_all[:-1].unbind(0)[::-1])
    for to_gh_t, z_t, g, g_prev in loop:
        d_gh = torch.cat([g, g, g], dim=-1).mul_(to_gh_t)  # (D, S, 3H), gates (n, z, r)
        g_prev.addcmul_(g, z_t).baddbmm_(d_gh, w_hh)
    per_token = g_all.mul_(to_token).sum(dim=-1)  # (T, D, S)
    per_token = per_token[:, 0] + per_token[:, 1].flip(0) if dirs == 2 else per_token[:, 0]  # (T, S)
    return logits, per_token.T.contiguous()


def gru_prefix_pools(rnn: nn.GRU, embedded: torch.Tensor, prefix_lengths: torch.Tensor,
                      parts: list[str]) -> dict[str, torch.Tensor]:
    """A GRU over each prefix of ``embedded`` (T, E) read backwards, pooled: {part: (P, H)}.

    Rows go longest first, so the rows still reading at a step are a leading slice; the state
    of a finished row stays as it ended (its "last"). Every row reads tokens of the same text,
    so the input projection is computed once and gathered per step.
    """
    hidden = rnn.hidden_size
    proj = torch.addmm(rnn.bias_ih_l0, embedded, rnn.weight_ih_l0.T)  # (T, 3H)
    lengths, order = prefix_lengths.sort(descending=True)
    steps = torch.arange(int(lengths[0]), device=lengths.device)[:, None]  # (W, 1)
    active = (lengths[None, :] > steps).sum(dim=1)  # (W,): rows still reading at each step
    reading = lengths[None, :] - 1 - steps  # (W, P): the token each row reads
    h = embedded.new_zeros(len(lengths), hidden)
    top = embedded.new_full((len(lengths), hidden), float("-inf")) if "max" in parts else None
    total = embedded.new_zeros(len(lengths), hidden) if "mean" in parts else None
    w_hh_t, b_hh = rnn.weight_hh_l0.T, rnn.bias_hh_l0
    for k, where in zip(active.tolist(), reading):
        h_k = h[:k]
        gi = proj.index_select(0, where[:k])  # (k, 3H)
        gh = torch.addmm(b_hh, h_k, w_hh_t)
        rz = gi[:, : 2 * hidden].add_(gh[:, : 2 * hidden]).sigmoid_()
        n = tanh_(gi[:, 2 * hidden :].addcmul_(rz[:, :hidden], gh[:, 2 * hidden :]))
        torch.lerp(n, h_k, rz[:, hidden:], out=h_k)
        if top is not None:
            torch.maximum(top[:k], h_k, out=top[:k])
        if total is not None:
            total[:k] += h_k
    unsort = order.argsort()
    pools = {"last": h[unsort]}
    if top is not None:
        pools["max"] = top[unsort]
    if total is not None:
        pools["mean"] = total[unsort] / prefix_lengths[:, None].to(total.dtype)
    return pools
