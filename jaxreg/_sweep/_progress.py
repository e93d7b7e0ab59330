"""Progress of a sweep: a tqdm bar on a terminal, plain lines on stderr otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time

import jax

_now = time.monotonic   # the progress clock (tests replace it)


class _Progress:
  """A tqdm bar on a terminal; plain lines on stderr otherwise (logs, CI); nothing when disabled."""

  MIN_S, MAX_S, STEP = 10.0, 30.0, 0.1   # a line at most every MIN_S, after STEP of the work or MAX_S

  def __init__(self, total: int, enabled: bool):
    self.total, self.done, self.bar, self.plain = total, 0, None, False
    if not enabled or jax.process_index() != 0:
      return
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is not None and isatty():
      try:
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="config", desc="jaxreg.sweep", dynamic_ncols=True)
      except ImportError:
        pass
    self.plain = self.bar is None
    self.start = self.last = _now()
    self.last_done = 0

  def update(self, n: int) -> None:
    self.done += n
    if self.bar is not None:
      self.bar.update(n)
    elif self.plain:
      t = _now()
      if t - self.last >= self.MAX_S or (t - self.last >= self.MIN_S
                                         and self.done - self.last_done >= self.STEP * self.total):
        self._line(t)

  def _line(self, t: float) -> None:
    elapsed = t - self.start
    left = f", about {elapsed * (self.total - self.done) / self.done:.0f} s left" if 0 < self.done < self.total else ""
    print(f"jaxreg.sweep: {self.done}/{self.total} configurations ({100 * self.done / self.total:.0f}%), "
          f"{elapsed:.0f} s{left}", file=sys.stderr, flush=True)
    self.last, self.last_done = t, self.done

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
    elif self.plain and self.done == self.total != self.last_done and _now() - self.start >= self.MIN_S:
      self._line(_now())   # a long sweep ends its log with a 100% line
    self.bar, self.plain = None, False
