"""Faster inference for madmom's shipped networks, with their exact weights and maths.

madmom evaluates its recurrent networks one network, one direction and one frame at a time in Python,
and its convolutions channel by channel, which makes its downbeat ensemble (8 bidirectional LSTMs)
and key CNN the slowest part of a lead sheet. The same networks are evaluated here with

- :class:`BLSTMEnsemble`: the input projections of all frames in one matrix product per layer, and
  the recurrence of every network and direction in one compiled loop (numba);
- :class:`TorchCNN`: madmom's convolutional layer stack rebuilt as torch modules.

Both reproduce madmom's outputs to float32 rounding (the tests compare them on real audio).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

from s2acc.leadsheet._madmom import import_madmom


@numba.njit(cache=True, fastmath=True)
def _lstm_scan(z: np.ndarray, rec: np.ndarray, peep: np.ndarray, peep_o: np.ndarray) -> np.ndarray:
    """Peephole LSTM recurrence for B independent sequences.

    z: (B, T, 4H) input projections plus bias, gates ordered (input, forget, cell, output);
    rec: (B, H, 4H) recurrent weights; peep: (B, 2, H) input/forget peepholes; peep_o: (B, H).
    """
    n_seq, n_t, h4 = z.shape
    h = h4 // 4
    out = np.empty((n_seq, n_t, h), np.float32)
    g = np.empty(h4, np.float32)
    state = np.zeros(h, np.float32)
    prev = np.zeros(h, np.float32)
    one = np.float32(1.0)
    for b in range(n_seq):
        r = rec[b]
        state[:] = 0.0
        prev[:] = 0.0
        for t in range(n_t):
            g[:] = z[b, t]
            for j in range(h):
                pj = prev[j]
                for k in range(h4):
                    g[k] += pj * r[j, k]
            for j in range(h):
                c0 = state[j]
                ig = one / (one + np.exp(-(g[j] + c0 * peep[b, 0, j])))
                fg = one / (one + np.exp(-(g[h + j] + c0 * peep[b, 1, j])))
                c = np.tanh(g[2 * h + j]) * ig + c0 * fg
                state[j] = c
                og = one / (one + np.exp(-(g[3 * h + j] + c * peep_o[b, j])))
                prev[j] = np.tanh(c) * og
                out[b, t, j] = prev[j]
    return out


class BLSTMEnsemble:
    """A madmom ensemble of identically shaped networks: N x BidirectionalLayer(LSTM) + FeedForward.

    Outputs are averaged over the ensemble, as madmom's ``average_predictions`` does.
    """

    def __init__(self, networks: list) -> None:
        import_madmom()
        from madmom.ml.nn.activations import sigmoid, tanh
        from madmom.ml.nn.layers import BidirectionalLayer, FeedForwardLayer

        self.layers: list[dict[str, np.ndarray]] = []
        n_rec = {len(net.layers) - 1 for net in networks}
        if len(n_rec) != 1:
            raise ValueError("networks of an ensemble must have the same depth")
        for depth in range(n_rec.pop()):
            lstms = []
            for net in networks:
                layer = net.layers[depth]
                if not isinstance(layer, BidirectionalLayer):
                    raise ValueError(f"expected a BidirectionalLayer, got {type(layer).__name__}")
                lstms += [layer.fwd_layer, layer.bwd_layer]
            for lstm in lstms:
                gates = (lstm.input_gate, lstm.forget_gate, lstm.output_gate)
                if (
                    lstm.activation_fn is not tanh
                    or lstm.cell.activation_fn is not tanh
                    or any(g.activation_fn is not sigmoid or g.peephole_weights is None for g in gates)
                    or np.any(lstm.init)
                    or np.any(lstm.cell_init)
                ):
                    raise ValueError("only peephole LSTMs with sigmoid gates, tanh cells and zero init")
            order = ("input_gate", "forget_gate", "cell", "output_gate")
            self.layers.append(
                {
                    # (B, D, 4H), (B, 4H), (B, H, 4H), (B, 3, H) with B = 2 x networks (fwd, bwd, ...)
                    "w": np.stack([np.concatenate([getattr(x, g).weights for g in order], 1) for x in lstms]),
                    "b": np.stack([np.concatenate([getattr(x, g).bias for g in order]) for x in lstms]),
                    "r": np.stack(
                        [np.concatenate([getattr(x, g).recurrent_weights for g in order], 1) for x in lstms]
                    ),
                    "p": np.stack(
                        [[x.input_gate.peephole_weights, x.forget_gate.peephole_weights] for x in lstms]
                    ),
                    "po": np.stack([x.output_gate.peephole_weights for x in lstms]),
                }
            )
        outs = [net.layers[-1] for net in networks]
        if not all(isinstance(o, FeedForwardLayer) for o in outs):
            raise ValueError("the last layer must be a FeedForwardLayer")
        self.out_w = np.stack([o.weights for o in outs])
        self.out_b = np.stack([o.bias for o in outs])
        self.out_fn = outs[0].activation_fn
        self.n_networks = len(networks)

    @classmethod
    def from_files(cls, paths: list[str]) -> BLSTMEnsemble:
        from s2acc.leadsheet._madmom import load_network

        return cls([load_network(p) for p in paths])

    def _layer(self, x: np.ndarray, layer: dict[str, np.ndarray]) -> np.ndarray:
        """x: (M, T, D) inputs per network -> (M, T, 2H) outputs (forward and backward stacked)."""
        m, t, _ = x.shape
        h = layer["p"].shape[-1]
        # Input projections of every frame; backward directions read time reversed.
        z = np.matmul(np.repeat(x, 2, axis=0), layer["w"]) + layer["b"][:, None, :]  # (B, T, 4H)
        z[1::2] = z[1::2, ::-1]
        out = _lstm_scan(np.ascontiguousarray(z, np.float32), layer["r"], layer["p"], layer["po"])
        fwd, bwd = out[0::2], out[1::2, ::-1]
        return np.concatenate([fwd, bwd], axis=2).reshape(m, t, 2 * h)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """features: (T, D) -> ensemble-averaged output (T, K)."""
        x = np.broadcast_to(features.astype(np.float32), (self.n_networks, *features.shape))
        for layer in self.layers:
            x = self._layer(x, layer)
        y = np.matmul(x, self.out_w) + self.out_b[:, None, :]
        y = np.stack([self.out_fn(v) for v in y])
        return y.mean(axis=0).astype(np.float32)


class _Pad(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (self.width,) * 4)


class _BatchNorm(nn.Module):
    def __init__(self, layer) -> None:
        super().__init__()
        scale = np.asarray(layer.gamma * layer.inv_std, np.float32).reshape(-1)
        shift = np.asarray(layer.beta - layer.mean * layer.gamma * layer.inv_std, np.float32).reshape(-1)
        self.register_buffer("scale", torch.from_numpy(scale)[:, None, None])
        self.register_buffer("shift", torch.from_numpy(shift)[:, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class TorchCNN(nn.Module):
    """A madmom convolutional network as torch modules; input (T, F) -> output as madmom gives it.

    Supported layers: Pad, Convolutional (valid, stride 1), BatchNorm, MaxPool, Average (over time and
    frequency), with linear/relu/elu activations. madmom's convolution is a true convolution (flipped
    kernel), and its feature maps are laid out (time, frequency, channel).
    """

    def __init__(self, network) -> None:
        super().__init__()
        import_madmom()
        from madmom.ml.nn import activations as act
        from madmom.ml.nn import layers as L

        activations = {act.linear: None, act.relu: nn.ReLU(), act.elu: nn.ELU()}
        modules: list[nn.Module] = []
        self.average = False
        for layer in network.layers:
            if isinstance(layer, L.PadLayer):
                if tuple(layer.axes) != (0, 1) or layer.value != 0:
                    raise ValueError("only zero padding of time and frequency is supported")
                modules.append(_Pad(int(layer.width)))
            elif isinstance(layer, L.ConvolutionalLayer):
                if layer.pad != "valid" or layer.stride not in (None, 1, (1, 1)):
                    raise ValueError("only valid, stride-1 convolutions are supported")
                w = np.asarray(layer.weights, np.float32)  # (in, out, kt, kf)
                conv = nn.Conv2d(w.shape[0], w.shape[1], w.shape[2:], bias=True)
                conv.weight.data = torch.from_numpy(w.transpose(1, 0, 2, 3)[..., ::-1, ::-1].copy())
                conv.bias.data = torch.from_numpy(
                    np.broadcast_to(np.asarray(layer.bias, np.float32), (w.shape[1],)).copy()
                )
                modules.append(conv)
            elif isinstance(layer, L.BatchNormLayer):
                modules.append(_BatchNorm(layer))
            elif isinstance(layer, L.MaxPoolLayer):
                if layer.axis is not None or tuple(layer.size) != tuple(layer.stride):
                    raise ValueError("only non-overlapping max pooling is supported")
                modules.append(nn.MaxPool2d(tuple(layer.size)))
            elif isinstance(layer, L.AverageLayer):
                if tuple(np.atleast_1d(layer.axis)) != (0, 1):
                    raise ValueError("only averaging over time and frequency is supported")
                self.average = True
                continue
            else:
                raise ValueError(f"unsupported madmom layer {type(layer).__name__}")
            fn = getattr(layer, "activation_fn", None)
            if fn is not None and fn not in activations:
                raise ValueError(f"unsupported activation {fn}")
            if fn is not None and activations[fn] is not None:
                modules.append(activations[fn])
        self.body = nn.Sequential(*modules)
        self.eval()

    @torch.inference_mode()
    def forward(self, spec: np.ndarray) -> np.ndarray:  # type: ignore[override]
        x = torch.from_numpy(np.ascontiguousarray(spec, np.float32))[None, None]
        y = self.body(x)[0]  # (C, T, F)
        if self.average:
            return y.mean(dim=(1, 2)).numpy()
        return y.permute(1, 2, 0).numpy()  # madmom layout (T, F, C)
