"""Stopping cleanly when a scheduler asks: SLURM and most batch systems send SIGTERM (or SIGUSR1, with
``--signal``) some seconds before they kill a job.

While training, those signals only raise a flag. At the next optimiser-step boundary the processes
agree (one of them signalled is enough), save their resume state together and stop with
:class:`Preempted`; the command exits with ``PREEMPTED_EXIT``, which a requeue script can tell from a
crash. Relaunching the same command resumes from that checkpoint exactly.
"""

from __future__ import annotations

import signal
import threading

PREEMPTED_EXIT = 75  # EX_TEMPFAIL: stopped on request, resume by relaunching
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(Exception):
    """Training stopped on a scheduler's signal after saving its resume state."""

    def __init__(self, signal_name: str, step: int, checkpoint: str):
        super().__init__(
            f"stopped on {signal_name} at step {step}, resume state saved in {checkpoint}; "
            "relaunch the same command to resume"
        )
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint


class StopRequests:
    """Within ``with``: the stop signals set ``received`` instead of ending the process (the previous
    handlers come back afterwards). Outside the main thread, where Python cannot take signals, it
    does nothing."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
