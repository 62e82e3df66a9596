"""Lead-sheet targets on the latent grid and the two distillation losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2acc.leadsheet import NO_CHORD, extract_leadsheet
from s2acc.synth.corpus import SynthConfig, generate_track
from s2acc.vae.distill import (
    FEATURES,
    LeadSheetHead,
    LeadSheetProjector,
    alignment_loss,
    leadsheet_targets,
    prediction_loss,
)


@pytest.fixture(scope="module")
def sheet():
    track = generate_track(SynthConfig(seed=3, n_tracks=1, min_seconds=12, max_seconds=12, format="wav"), 0)
    return extract_leadsheet(track.audio, 44100, backend="librosa")


def test_targets_line_up_with_the_sheet_and_pad_past_its_end(sheet):
    start, n = 100, 200  # runs past the 12 s sheet (259 frames)
    t = leadsheet_targets(sheet, start, n)
    assert t["features"].shape == (FEATURES, n) and FEATURES == 53
    inside = sheet.n_frames - start
    np.testing.assert_array_equal(t["chord"][:inside].numpy(), sheet.chord[start:])
    assert torch.all(t["chord"][inside:] == NO_CHORD) and torch.all(t["pitch_class"][inside:] == 12)
    # one-hot chord block sums to one per frame; pitch one-hot only where voiced
    assert torch.all(t["features"][:25].sum(0) == 1)
    voiced = torch.from_numpy(sheet.pitch_class[start:] >= 0)
    assert torch.equal(t["features"][37:49, :inside].sum(0) == 1, voiced)
    assert t["beat"].sum() == int((sheet.beat[start:] > 0.5).sum())


def test_alignment_loss_is_zero_when_aligned_and_trains_the_encoder_side(sheet):
    t = leadsheet_targets(sheet, 0, 64)
    proj = LeadSheetProjector(latent_dim=16, hidden=32)
    p = proj(t["features"][None])
    assert p.shape == (1, 16, 64)
    assert alignment_loss(p.detach(), p.detach()).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment_loss(-p.detach(), p.detach()).item() == pytest.approx(2.0, abs=1e-5)
    z = torch.randn(1, 16, 64, requires_grad=True)
    opt = torch.optim.Adam([z, *proj.parameters()], lr=0.05)
    first = None
    for _ in range(50):
        loss = alignment_loss(z, proj(t["features"][None]))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    mask = torch.zeros(1, 64)
    mask[:, :10] = 1
    masked = alignment_loss(z, proj(t["features"][None]), mask)
    assert torch.isfinite(masked)
    # interpolation to a different latent length
    assert proj(t["features"][None], n_frames=32).shape == (1, 16, 32)


def test_prediction_head_learns_the_classes_from_informative_latents(sheet):
    t = leadsheet_targets(sheet, 0, 128)
    torch.manual_seed(0)
    z = torch.randn(1, 16, 128) + t["features"][None, :16] * 3  # latents that carry the chord one-hot
    head = LeadSheetHead(latent_dim=16, hidden=32)
    opt = torch.optim.Adam(head.parameters(), lr=0.01)
    targets = {k: t[k][None] for k in ("chord", "pitch_class", "beat")}
    for _ in range(150):
        loss = prediction_loss(head(z), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (head(z)["chord"].argmax(1) == targets["chord"]).float().mean()
    assert accuracy > 0.9


def test_a_constant_offset_cannot_fake_the_alignment():
    # An encoder that adds one offset everywhere and a projector that ignores its input agree
    # perfectly under a plain cosine; centred, they share nothing.
    offset = torch.randn(1, 16, 1)
    z = offset + 0.01 * torch.randn(4, 16, 40)
    p = offset.expand(4, 16, 40)
    assert alignment_loss(z, p, centre=False).item() < 0.01
    assert alignment_loss(z, p).item() == pytest.approx(1.0, abs=0.05)
    varying = torch.randn(4, 16, 40)
    assert alignment_loss(offset + varying, 3 * varying).item() == pytest.approx(0.0, abs=1e-5)
