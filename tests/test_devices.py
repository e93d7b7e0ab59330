"""Tests for jaxreg.use_cpu_devices: the device count only changes in a fresh interpreter, so those run in one."""

import json
import os
import subprocess
import sys

import jax
import pytest

import jaxreg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, os, sys
import jaxreg                                   # importing jaxreg must not start JAX's backends
light = "scipy" not in sys.modules              # nor import scipy (jaxreg.sample imports it when used)
n = jaxreg.use_cpu_devices({n})
import jax, jax.numpy as jnp
devices = len(jax.devices())
again = jaxreg.use_cpu_devices(devices)         # too late to change, but the same count is fine
try:
  jaxreg.use_cpu_devices(devices + 1)
  late = None
except RuntimeError as e:
  late = str(e)
r = jaxreg.sweep(lambda hp, key: {{"y": hp["a"] * 2.0}}, {{"a": [1.0, 2.0, 3.0]}}, key=jax.random.key(0),
                 progress=False)
print(json.dumps({{"n": n, "devices": devices, "again": again, "late": late, "light": light,
                  "y": r.values["y"][:, 0].tolist(), "cpus": os.cpu_count()}}))
"""


def child(n: str) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
  env["JAX_PLATFORMS"] = "cpu"
  proc = subprocess.run([sys.executable, "-c", CHILD.format(n=n)], capture_output=True, text=True, timeout=120,
                        cwd=ROOT, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_fresh_process_gets_the_devices_and_too_late_says_how_to_fix():
  got = child("3")
  assert got["light"]
  assert (got["n"], got["devices"], got["again"]) == (3, 3, 3)
  assert got["y"] == [2.0, 4.0, 6.0]   # a sweep sharded over the 3 devices (3 lanes)
  assert "already initialized with 3 CPU device(s)" in got["late"]
  assert "before any JAX computation" in got["late"] and "XLA_FLAGS=--xla_force_host_platform_device_count=4" in \
      got["late"]


@pytest.mark.slow
def test_default_is_one_device_per_core():
  got = child("")
  assert got["n"] == got["devices"] == got["cpus"]


def test_in_this_process_it_is_too_late_and_arguments_are_checked():
  have = len(jax.devices("cpu"))
  assert jaxreg.use_cpu_devices(have) == have   # the count JAX already has: a no-op
  with pytest.raises(RuntimeError, match=f"already initialized with {have} CPU"):
    jaxreg.use_cpu_devices(have + 1)
  for bad in (0, -2, 1.5, "2", True):
    with pytest.raises(ValueError, match="use_cpu_devices: n"):
      jaxreg.use_cpu_devices(bad)
