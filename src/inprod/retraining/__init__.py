"""Retraining: turn what monitoring found and what reviewers labelled into a better model that
ships safely.

    policies.py   how an endpoint is retrained: the training function, triggers, gate, canary
    triggers.py   when: a monitor's alert, N new labels, a schedule -> a request (once)
    requests.py   a request's life (open -> approved -> running -> deployed | ...) and its story
    runner.py     running a request step by step: dataset, train, check, evaluate, rescore,
                  deploy
    data.py       the training and evaluation versions, with provenance
    training.py   the training function in a child process (or a Ray task), with a timeout
    sweeps.py     a grid of training parameters, each point a run; the best by a metric
    ray_training.py  training jobs as Ray tasks
    rescore.py    the candidate re-scores a logged window (batch engine) before any canary
    worker.py     the server's background loop (leader only): triggers, auto approval, runs

From the command line: ``inprod retrain …``; over HTTP: ``/api/retraining/…``.
"""
