"""The embedded corpus: procedural instrumental music with its ground truth.

No real dataset can be downloaded where the tests and the demo run, so every test, benchmark and
``make demo`` uses tracks rendered here. Each track is composed (:mod:`.compose`) from a seeded random
plan, rendered to stems and a stereo mix (:mod:`.render`), and described by the truth it was built from
(:mod:`.truth`): beats, tempo, key, chords, melody, sections, instruments, tags and a caption.
"""
