"""Composition: a seeded plan of a whole track, every event placed on a known beat grid.

The score is the ground truth. Rendering (:mod:`.render`) only turns its events into sound, so the beat
and downbeat times, chord spans, melody notes and section boundaries stored with a track are exactly
where the audio has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from s2acc.synth.instruments import Voice, draw_voice
from s2acc.synth.styles import STYLES, Style
from s2acc.synth.theory import PROGRESSIONS, Chord, Key

STEPS_PER_BEAT = 4  # sixteenth-note grid

# Per-section arrangement: which parts play, the drum intensity, and a loudness factor.
ARRANGEMENTS = {
    "intro": dict(bass=False, chords=True, melody=False, drums=("none", "sparse"), level=0.6),
    "verse": dict(bass=True, chords=True, melody=True, drums=("main",), level=0.8),
    "chorus": dict(bass=True, chords=True, melody=True, drums=("full",), level=1.0),
    "bridge": dict(bass=True, chords=True, melody=True, drums=("half", "none"), level=0.75),
    "outro": dict(bass=True, chords=True, melody=False, drums=("sparse", "none"), level=0.6),
}
FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")
SECTION_BARS = {"intro": (2, 4), "verse": (4, 8), "chorus": (4, 8), "bridge": (4, 8), "outro": (2, 4)}


@dataclass
class Note:
    start: float  # seconds
    end: float  # end of the gate, seconds
    pitch: int  # MIDI
    velocity: float  # 0-1
    part: str


@dataclass
class DrumHit:
    time: float
    drum: str
    velocity: float


@dataclass
class Section:
    label: str
    start: float
    end: float
    bars: int
    drums: str  # none | sparse | half | main | full
    parts: tuple[str, ...]
    level: float


@dataclass
class Score:
    style: Style
    tempo: float
    beats_per_bar: int
    key: Key
    duration: float
    beats: list[float]
    downbeats: list[float]
    chords: list[tuple[float, float, str]]  # (start, end, label), "N" where no chord sounds
    sections: list[Section]
    voices: dict[str, Voice]  # part -> voice
    kit: str
    kit_tone: float
    notes: list[Note] = field(default_factory=list)
    hits: list[DrumHit] = field(default_factory=list)
    reverb_seconds: float = 1.0
    pans: dict[str, float] = field(default_factory=dict)
    genres: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.beat_seconds


# ------------------------------------------------------------------------------------------ drums


def drum_pattern(groove: str, intensity: str, beats_per_bar: int) -> list[tuple[int, str, float]]:
    """One bar of (sixteenth step, drum, velocity) for a groove at a section's intensity."""
    steps = beats_per_bar * STEPS_PER_BEAT
    beat_steps = list(range(0, steps, STEPS_PER_BEAT))
    eighths = list(range(0, steps, 2))
    if intensity == "none":
        return []
    if intensity == "sparse":
        return [(0, "kick", 0.7)] + [(s, "hat", 0.5) for s in beat_steps]
    if intensity == "half":
        return [(0, "kick", 0.8), (steps // 2 if beats_per_bar == 4 else 8, "snare", 0.7)] + [
            (s, "hat", 0.45) for s in eighths
        ]
    if beats_per_bar == 3 or groove == "waltz":
        hits = [(0, "kick", 0.9), (4, "snare", 0.55), (8, "snare", 0.55)] + [(s, "hat", 0.5) for s in eighths]
    elif groove == "four_on_floor":
        hits = [(s, "kick", 0.95) for s in beat_steps] + [(4, "clap", 0.8), (12, "clap", 0.8)]
        hits += [(s + 2, "open_hat", 0.45) for s in beat_steps]
    elif groove == "breakbeat":
        hits = [(0, "kick", 0.95), (10, "kick", 0.8), (4, "snare", 0.9), (12, "snare", 0.9)]
        hits += [(s, "hat", 0.35 + 0.15 * (s % 4 == 0)) for s in range(steps)]
    elif groove == "boombap":
        hits = [(0, "kick", 0.95), (7, "kick", 0.7), (10, "kick", 0.8), (4, "snare", 0.9), (12, "snare", 0.9)]
        hits += [(s, "hat", 0.45) for s in eighths]
    elif groove == "ride":
        hits = [(0, "kick", 0.6), (8, "kick", 0.5), (4, "snare", 0.4), (12, "snare", 0.4)]
        hits += [(s, "hat", 0.55) for s in beat_steps] + [(6, "hat", 0.4), (14, "hat", 0.4)]
    elif groove == "march":
        hits = [(0, "kick", 0.9), (8, "kick", 0.8), (4, "snare", 0.6), (12, "snare", 0.6), (14, "snare", 0.4)]
        hits += [(s, "hat", 0.35) for s in beat_steps]
    elif groove in ("backbeat", "sparse"):
        hits = [
            (0, "kick", 0.95),
            (8, "kick", 0.85),
            (10, "kick", 0.6),
            (4, "snare", 0.9),
            (12, "snare", 0.9),
        ]
        hits += [(s, "hat", 0.5) for s in eighths]
    else:
        raise ValueError(f"unknown groove {groove!r}")
    if intensity == "full":
        taken = {s for s, d, _ in hits if d == "hat"}
        hits += [(s, "hat", 0.3) for s in range(1, steps, 2) if s not in taken]
    return hits


# --------------------------------------------------------------------------------------- sections


def plan_sections(n_bars: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Labels and bar counts following a verse/chorus form, cut to fit ``n_bars``.

    Always an intro and an outro when there is room for them; short tracks keep the first sections of
    the form, long tracks repeat choruses before the outro.
    """
    if n_bars <= 2:
        return [("verse", n_bars)]
    if n_bars <= 5:
        return (
            [("intro", 1), ("verse", n_bars - 2), ("outro", 1)]
            if n_bars >= 4
            else [("intro", 1), ("verse", 2)]
        )
    outro = int(min(rng.choice(SECTION_BARS["outro"]), max(1, n_bars // 6)))
    body = n_bars - outro
    plan: list[tuple[str, int]] = []
    form = list(FORM[:-1])
    while sum(b for _, b in plan) < body:
        label = form.pop(0) if form else ("chorus" if plan[-1][0] != "chorus" else "verse")
        bars = min(int(rng.choice(SECTION_BARS[label])), max(2, body // 3))  # room for verse and chorus
        bars = min(bars, body - sum(b for _, b in plan))
        if label == "intro":
            bars = min(bars, max(1, body // 4))
        plan.append((label, bars))
    if len(plan) > 1 and plan[-1][1] < 2 and plan[-1][0] != "intro":  # no one-bar scrap before the outro
        label, bars = plan.pop()
        plan[-1] = (plan[-1][0], plan[-1][1] + bars)
    plan.append(("outro", outro))
    return plan


# ------------------------------------------------------------------------------------------ parts


def _voicing(chord: Chord, previous: list[int] | None, low: int = 55) -> list[int]:
    """A close-position triad within an octave above ``low``, nearest to the previous voicing."""
    options = []
    base = [low + ((pc - low) % 12) for pc in chord.pitch_classes]
    for shift in range(3):
        v = sorted(base)
        for _ in range(shift):
            v = v[1:] + [v[0] + 12]
        options.append(sorted(v))
        options.append(sorted(p - 12 for p in v))
    options = [v for v in options if v[0] >= low - 5 and v[-1] <= low + 19]
    if previous is None:
        return options[0]
    return min(options, key=lambda v: sum(abs(a - b) for a, b in zip(v, previous, strict=True)))


def _chord_part(score: Score, sec: Section, bar_chords: list[Chord], rng, prev):
    voice = score.voices["chords"]
    beat = score.beat_seconds
    for b, chord in enumerate(bar_chords):
        bar_start = sec.start + b * score.bar_seconds
        prev = _voicing(chord, prev)
        if voice.sustained:
            onsets = [(0, score.beats_per_bar)]
        elif sec.label == "chorus":
            onsets = [(i, 1) for i in range(score.beats_per_bar)]
        elif score.beats_per_bar == 3:
            onsets = [(0, 1), (1, 1), (2, 1)]
        else:
            onsets = [(0, 1.5), (1.5, 1), (2.5, 1.5)] if rng.random() < 0.5 else [(0, 2), (2, 2)]
        strum = 0.012 if "guitar" in voice.name else 0.0
        for pos, length in onsets:
            t0 = bar_start + pos * beat
            for i, pitch in enumerate(prev):
                score.notes.append(
                    Note(t0 + i * strum, t0 + length * beat * 0.95, pitch, 0.55 + 0.1 * (pos == 0), "chords")
                )
    return prev


def _bass_part(score: Score, sec: Section, bar_chords: list[Chord]):
    beat = score.beat_seconds
    for b, chord in enumerate(bar_chords):
        bar_start = sec.start + b * score.bar_seconds
        root = 36 + chord.root if chord.root < 8 else 24 + chord.root  # E1..G2 range for roots
        fifth = root + 7
        if sec.label in ("intro", "outro", "bridge"):
            pattern = [(0, score.beats_per_bar, root)]
        elif sec.label == "chorus":
            pattern = [(i * 0.5, 0.45, root + 12 * (i % 4 == 3)) for i in range(2 * score.beats_per_bar)]
        else:
            pattern = [(i, 0.9, root if i % 2 == 0 else fifth) for i in range(score.beats_per_bar)]
        for pos, length, pitch in pattern:
            t0 = bar_start + pos * beat
            score.notes.append(Note(t0, t0 + length * beat * 0.95, pitch, 0.8 + 0.15 * (pos == 0), "bass"))


def _melody_part(score: Score, sec: Section, bar_chords: list[Chord], rng, register: int):
    """A two-bar motif (rhythm on the eighth grid, chord tones on the beat, steps between), repeated
    with variation over the section."""
    scale = sorted(score.key.scale)
    beat = score.beat_seconds
    density = {"verse": 0.55, "chorus": 0.8, "bridge": 0.35}.get(sec.label, 0.5)
    n_eighths = 2 * score.beats_per_bar * 2
    motif = []
    i = 0
    while i < n_eighths:
        if rng.random() < density:
            length = int(rng.choice([1, 2, 2, 3, 4]))
            motif.append((i, min(length, n_eighths - i)))
            i += length
        else:
            i += 1
    if not motif:
        motif = [(0, 4)]
    pitch = register
    for b in range(0, len(bar_chords), 2):
        vary = b > 0 and rng.random() < 0.5
        for pos, length in motif:
            bar = b + pos // (2 * score.beats_per_bar)
            if bar >= len(bar_chords):
                break
            chord = bar_chords[bar]
            on_beat = pos % 2 == 0
            if on_beat:  # nearest chord tone
                cands = [p for p in range(register - 7, register + 13) if p % 12 in chord.pitch_classes]
            else:  # a scale step or two away
                cands = [p for p in range(pitch - 4, pitch + 5) if p % 12 in scale and p != pitch]
            if vary:
                cands = [p for p in cands if p != pitch] or cands
            weights = np.array([1.0 / (1 + abs(p - pitch)) for p in cands])
            pitch = int(rng.choice(cands, p=weights / weights.sum()))
            t0 = sec.start + pos * beat / 2 + (b * score.bar_seconds)
            score.notes.append(Note(t0, t0 + length * beat / 2 * 0.9, pitch, 0.7 + 0.2 * on_beat, "melody"))


# ------------------------------------------------------------------------------------------ score


def compose(rng: np.random.Generator, duration: float, style_name: str | None = None) -> Score:
    """A complete score of ``duration`` seconds: style, tempo, key, form, parts and drum hits."""
    style = STYLES[style_name] if style_name else STYLES[str(rng.choice(sorted(STYLES)))]
    tempo = float(np.round(rng.uniform(*style.tempo), 1))
    beats_per_bar = int(rng.choice(style.meters))
    key = Key(int(rng.integers(12)), "major" if rng.random() < 0.55 else "minor")
    bar = beats_per_bar * 60.0 / tempo
    tail = min(1.5, max(0.5, 0.1 * duration))
    n_bars = max(1, int((duration - tail) // bar))
    voices = {
        "chords": draw_voice(str(rng.choice(style.chords)), rng),
        "melody": draw_voice(str(rng.choice(style.leads)), rng),
        "bass": draw_voice(str(rng.choice(style.basses)), rng),
    }
    if voices["melody"].name == voices["chords"].name:  # keep the lead distinct from the harmony
        others = [v for v in style.leads if v != voices["chords"].name]
        voices["melody"] = draw_voice(str(rng.choice(others)), rng)
    score = Score(
        style=style,
        tempo=tempo,
        beats_per_bar=beats_per_bar,
        key=key,
        duration=duration,
        beats=[round(i * 60.0 / tempo, 6) for i in range(n_bars * beats_per_bar)],
        downbeats=[round(i * bar, 6) for i in range(n_bars)],
        chords=[],
        sections=[],
        voices=voices,
        kit=style.kit,
        kit_tone=float(rng.uniform(0.2, 0.9)),
        reverb_seconds=float(rng.uniform(*style.reverb)),
        pans={
            "chords": float(rng.uniform(-0.35, 0.35)),
            "melody": float(rng.uniform(-0.25, 0.25)),
            "bass": 0.0,
            "drums": 0.0,
        },
    )
    score.genres = [style.genres[0]] + ([str(rng.choice(style.genres[1:]))] if rng.random() < 0.5 else [])
    mood_pool = style.moods_major if key.mode == "major" else style.moods_minor
    score.moods = [str(m) for m in rng.choice(mood_pool, size=2, replace=False)]

    progs = rng.permutation(len(PROGRESSIONS[key.mode]))
    section_prog = {
        "verse": PROGRESSIONS[key.mode][progs[0]],
        "chorus": PROGRESSIONS[key.mode][progs[1]],
        "bridge": PROGRESSIONS[key.mode][progs[2]],
    }
    section_prog["intro"] = section_prog["outro"] = section_prog["verse"]
    register = int(rng.integers(65, 72))
    prev = None
    t = 0.0
    for label, n in plan_sections(n_bars, rng):
        arrangement = ARRANGEMENTS[label]
        parts = [p for p in ("bass", "chords", "melody") if arrangement[p]]
        drums = str(rng.choice(arrangement["drums"]))
        if drums != "none":
            parts.append("drums")
        sec = Section(label, round(t, 6), round(t + n * bar, 6), n, drums, tuple(parts), arrangement["level"])
        degrees = section_prog[label]
        if label == "outro":  # end on the tonic
            degrees = (degrees * 4)[: max(n - 1, 0)] + (0,)
        bar_chords = [key.chord(degrees[b % len(degrees)]) for b in range(n)]
        for b, chord in enumerate(bar_chords):
            score.chords.append((round(t + b * bar, 6), round(t + (b + 1) * bar, 6), chord.label))
        if "chords" in parts:
            prev = _chord_part(score, sec, bar_chords, rng, prev)
        if "bass" in parts:
            _bass_part(score, sec, bar_chords)
        if "melody" in parts:
            _melody_part(score, sec, bar_chords, rng, register + (5 if label == "chorus" else 0))
        for b in range(n):
            bar_start = t + b * bar
            for step, drum, vel in drum_pattern(style.groove, drums, beats_per_bar):
                score.hits.append(DrumHit(bar_start + step * 60.0 / tempo / STEPS_PER_BEAT, drum, vel))
        if drums == "full":
            score.hits.append(DrumHit(t, "crash", 0.7))
        score.sections.append(sec)
        t += n * bar
    # The final chord rings into the tail: extend its span and its notes to the end of the track.
    last_start, _, last_label = score.chords[-1]
    score.chords[-1] = (last_start, round(duration, 6), last_label)
    ring_from = score.chords[-1][0]
    strummed_until = ring_from + 0.05  # the bar's first onset, strum spread included
    score.notes = [n for n in score.notes if not (n.part == "chords" and n.start > strummed_until)]
    for note in score.notes:
        if note.part == "chords" and note.start >= ring_from - 1e-9:
            note.end = max(note.end, duration - 0.3)
    last = score.sections[-1]
    last.end = round(duration, 6)
    return score
