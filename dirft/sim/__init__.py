"""The cluster-scale simulator's parts: the cost model, the discrete-event engine, calibration.

The public entry is :func:`dirft.runners.sim.simulate` (and ``dirft simulate``); the engine
drives the same core state machine as the real runners (DESIGN.md §4, runner ``sim``).
"""
