"""canary-mc: Monte Carlo evaluation of canary rollout policies.

The layers, from the edge inwards: ``io`` reads experiment files into the frozen
``model``; ``engine`` draws noise and runs array kernels; ``stats`` turns tallies into
rates with confidence intervals; ``cli`` is a thin shell over all of it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("canary-mc")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
