"""Safe deployment: deployment plans as state machines, gates, the rollout controller."""
