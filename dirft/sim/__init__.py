"""The cluster-scale simulator's parts: the cost model and the discrete-event engine.

The public entry is :func:`dirft.runners.sim.simulate` (and ``dirft simulate``), which runs
the simulator as a runner of the one pipeline; the engine drives the same core state
machine as the real runners (docs/design.md, 'Runners'). Fitting a cost model from real
runs is :mod:`dirft.calibrate`.
"""
