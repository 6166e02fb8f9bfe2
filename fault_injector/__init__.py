"""Seeded, declarative fault plans and their injection (docs/design.md, 'Fault injector').

A :class:`~fault_injector.plan.FaultPlan` says which map tasks, which replicas, what kind of
fault and at the end of which phase. The replica task runtime carries faults out; the core
never sees a plan, only the consequences (a dead process, a signature that disagrees).
"""
